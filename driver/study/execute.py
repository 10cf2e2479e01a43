"""Run a rendered study here: Dakota in this process (python interface) or as a child
(fork interface), a progress bar from cyclecast's records, and the study's summary."""
from __future__ import annotations

import os
import sys
from pathlib import Path

from .. import inprocess, records
from ..errors import SpecError
from ..resolved import ResolvedSpec
from ..rundir import RunDir
from ..tabular import read_tabular
from ..tabular import summary as study_summary
from .dakota import dakota_complaint, run_fork
from .lock import hold


def check_runnable(spec: ResolvedSpec) -> None:
    reason = spec.backend_class.unavailable_reason(spec.settings)
    if reason:  # fail before Dakota starts rather than record every evaluation as failed
        raise SpecError(f"{spec.spec_path}: backend.name: {spec.backend_name} "
                        f"cannot run here: {reason}")


def exec_study(rundir: Path, quiet: bool = False, summary: bool = True) -> int:
    """Run Dakota in a rendered run directory; progress from cyclecast's records."""
    from tqdm import tqdm

    rundir = rundir.resolve()
    files = RunDir(rundir)
    spec = files.read_spec()
    check_runnable(spec)
    lock = hold(rundir)
    files.summary.unlink(missing_ok=True)  # running again: not finished until it ends
    total = spec.total_evaluations
    # The bar writes to a copy of the terminal: an in-process Dakota takes over fd 2.
    terminal = os.fdopen(os.dup(2), "w", buffering=1)
    with terminal, tqdm(total=total, desc=spec.study, unit="eval", disable=quiet,
                        file=terminal) as bar:
        def show(done: int | None = None, failed: int | None = None) -> None:
            if done is None:
                done, failed = records.progress(rundir)
            bar.n = min(done, total)
            bar.set_postfix(failed=failed, refresh=False)
            bar.refresh()

        if spec.execution.interface == "python":
            study = inprocess.InProcessRun(rundir, spec, on_progress=show)
            status = study.run(files.deck.read_text())
            stopped = study.stopped
        else:
            status, stopped = run_fork(rundir, show, lock), None
        show()
    if status != 0:
        rows = records.write_tabular(spec, rundir, files.tabular)
        why = f"stopped: {stopped}" if stopped else dakota_complaint(rundir)
        again = ("run it again (or `python -m driver.study resume` under Slurm)"
                 if not os.environ.get("SLURM_JOB_ID") else
                 f"resume with `python -m driver.study resume {rundir}`")
        print(f"cyclecast: dakota ended with status {status} after {rows} finished "
              f"evaluations (written to {files.tabular}); {why}; {again}: "
              "finished evaluations are kept", file=sys.stderr)
        return 1
    _, table = read_tabular(files.tabular)
    text = study_summary(spec, table)
    files.summary.write_text(text + "\n")
    failed = all_failed(rundir)
    if failed:
        print(f"cyclecast: {failed}", file=sys.stderr)
        return 1
    if summary:
        print(text)
        print(f"tabular data: {files.tabular}")
    return 0


def all_failed(rundir: Path) -> str | None:
    """A one-line reason when not one evaluation of a finished study succeeded (the
    study's result would be empty: its exit status says so), else None."""
    latest = list(records.latest_by_evaluation(rundir).values())
    if not latest or any(r["status"] != "failed" for r in latest):
        return None
    kinds: dict[str, list[dict]] = {}
    for record in latest:
        kinds.setdefault(record.get("kind", "error"), []).append(record)
    kind, group = max(kinds.items(), key=lambda item: len(item[1]))
    return (f"{rundir}: every evaluation failed ({len(latest)} of {len(latest)}); "
            f"{len(group)} {kind}, e.g. eval {group[0]['eval']}: {group[0]['reason']}")
