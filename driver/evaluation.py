"""The evaluation kernel every interface shares: one design point in, one record out.

The fork driver (:mod:`driver.__main__`), the in-process study's workers
(:mod:`driver.workers`) and Slurm job steps (:mod:`driver.steps`) all evaluate through
:func:`evaluate_one`, so every interface leaves the same records: ``evaluations.jsonl``
(status ok, failed, or reused when the point had already been simulated in this run
directory), ``failures.jsonl`` and the per-point memo ``done/``.

Only the standard library is imported here: the fork driver pays for it per evaluation.
"""
from __future__ import annotations

import json
import os
import time
from pathlib import Path

from . import dakota_io, faults
from .errors import EvaluationFailed, SpecError
from .resolved import CAST
from .rundir import RunDir


def append_jsonl(path: Path, *found: dict) -> None:
    """The records as JSON lines, in one write() to an O_APPEND file: concurrent writers
    do not interleave. Nothing is written (or created) for no record."""
    if not found:
        return
    data = "".join(json.dumps(r, separators=(",", ":")) + "\n" for r in found).encode()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)


def design_point(evaluation: dakota_io.Evaluation, types: dict[str, str], where: str) -> dict:
    """The point's values by parameter name, as the spec types them (int, float, str)."""
    missing = [n for n in types if n not in evaluation.variables]
    if missing:
        raise SpecError(f"{where}: evaluation {evaluation.eval_id} lacks parameters "
                        f"{', '.join(missing)}; the deck and the spec disagree")
    return {n: CAST[kind](evaluation.variables[n]) for n, kind in types.items()}


def memo_file(rundir: Path, point: dict) -> Path:
    """Where a finished evaluation of ``point`` is kept (readable name, hashed if long)."""
    name = ",".join(f"{k}={v!r}" for k, v in point.items())
    if len(name) > 200:
        import hashlib

        name = hashlib.sha256(name.encode()).hexdigest()
    return RunDir(rundir).memo / f"{name}.json"


def evaluate_one(backend, point: dict, number: int, responses: list[str], workdir: Path,
                 rundir: Path, fault_config: dict | None, memo: bool = True) -> dict:
    """Evaluate one point and return its record for evaluations.jsonl.

    A point already simulated in this run directory is not simulated again: Dakota may ask
    again for an evaluation that finished just before it was killed, and its restart file
    does not have it. ``memo=False`` skips that per-point file (the in-process study of a
    Python backend uses its records as the memo instead).
    """
    start = time.monotonic()
    record = {"eval": number, "point": point, "workdir": str(workdir)}
    if "SLURM_STEP_ID" in os.environ:  # which job step ran it, to find it in Slurm's logs
        record["slurm_step"] = f"{os.environ['SLURM_JOB_ID']}.{os.environ['SLURM_STEP_ID']}"
        record["node"] = os.environ.get("SLURMD_NODENAME", "")
    memo_path = memo_file(rundir, point) if memo else None
    try:
        kept = json.loads(memo_path.read_text()) if memo_path else None
        if kept and kept["point"] == point and all(r in kept["responses"] for r in responses):
            return {**record, "status": "reused", "seconds": 0.0,
                    "responses": {r: kept["responses"][r] for r in responses}}
    except (OSError, ValueError, KeyError):
        pass
    if fault_config:
        faults.arm(faults.fault_for(number, fault_config))
    try:
        values = dict(backend.evaluate(point, workdir))
        note = values.pop("note", None)  # a backend's word on the result (e.g. why invalid)
        if note:
            record["note"] = str(note)
        missing = [r for r in responses if r not in values]
        if missing:
            raise EvaluationFailed(f"backend gave no {', '.join(missing)}", "garbage")
        values = {r: values[r] for r in responses}
    except EvaluationFailed as err:
        failure: dict[str, str] | None = {"kind": err.kind, "reason": err.reason}
    except OSError as err:  # e.g. simulator binary vanished: this evaluation fails only
        failure = {"kind": "error", "reason": str(err)}
    else:
        failure = None
        if memo_path:
            memo_path.parent.mkdir(exist_ok=True)
            tmp = memo_path.with_name(f"{memo_path.name}.{os.getpid()}.tmp")
            tmp.write_text(json.dumps({"point": point, "responses": values}))
            os.replace(tmp, memo_path)
    finally:
        faults.arm(None)
    record["seconds"] = round(time.monotonic() - start, 6)
    record["end"] = round(time.time(), 4)  # when it finished (epoch s): stragglers, tails
    if failure:
        return {**record, "status": "failed", **failure}
    return {**record, "status": "ok", "responses": values}


def step_cpus() -> int:
    """CPUs this driver may use: the Slurm step's, else this process's affinity."""
    return int(os.environ.get("SLURM_CPUS_PER_TASK") or len(os.sched_getaffinity(0)))
