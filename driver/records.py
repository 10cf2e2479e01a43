"""cyclecast's own record of a run directory: what finished, what failed and why.

The analysis driver appends one JSON line per evaluation to ``evaluations.jsonl`` and one
per failure to ``failures.jsonl``. Unlike Dakota's buffered tabular file, these survive a
killed study, so they can tell the study's progress and rebuild its tabular data.
"""
from __future__ import annotations

import json
from pathlib import Path

from .rundir import RunDir

TYPE_CHECKING = False
if TYPE_CHECKING:
    from .resolved import ResolvedSpec

EVALUATIONS = RunDir.EVALUATIONS
FAILURES = RunDir.FAILURES


def read_jsonl(path: Path) -> list[dict]:
    """Records of a JSON-lines file; a torn last line (killed writer) is skipped."""
    records = []
    try:
        with open(path) as f:
            for line in f:
                try:
                    records.append(json.loads(line))
                except ValueError:
                    continue
    except FileNotFoundError:
        pass
    return records


def latest_by_evaluation(rundir: Path) -> dict[int, dict]:
    """Evaluation number -> its latest record (a resumed study may repeat a number)."""
    latest: dict[int, dict] = {}
    for record in read_jsonl(rundir / EVALUATIONS):
        latest[record["eval"]] = record
    return latest


def simulator_runs(rundir: Path) -> list[dict]:
    """Records of evaluations that really ran the backend (not answered from the memo)."""
    return [r for r in read_jsonl(rundir / EVALUATIONS) if r["status"] != "reused"]


def write_tabular(spec: ResolvedSpec, rundir: Path, path: Path) -> int:
    """Write Dakota-style annotated tabular data of every finished evaluation, from
    cyclecast's records (failed ones as nan, as Dakota records them). Returns the rows."""
    names = list(spec.names)
    responses = list(spec.responses)
    latest = latest_by_evaluation(rundir)
    lines = ["%eval_id interface " + " ".join(names + responses)]
    for number in sorted(latest):
        record = latest[number]
        values = record.get("responses") or {}
        cells = [str(number), "NO_ID"]
        cells += [_cell(record["point"][n]) for n in names]
        cells += [repr(float(values[r])) if r in values else "nan" for r in responses]
        lines.append(" ".join(cells))
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text("\n".join(lines) + "\n")
    tmp.replace(path)
    return len(latest)


def _cell(value) -> str:
    """A tabular cell as Dakota writes it: numbers exactly, words unquoted."""
    return value if isinstance(value, str) else repr(value)


def progress(rundir: Path) -> tuple[int, int]:
    """(evaluations finished, of which failed), counted by evaluation number."""
    latest = latest_by_evaluation(rundir).values()
    return len(latest), sum(r["status"] == "failed" for r in latest)
