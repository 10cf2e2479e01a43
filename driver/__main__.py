"""The analysis driver Dakota calls: ``python -m driver [--spec FILE] PARAMS RESULTS``.

Reads Dakota's parameters file (one evaluation, or several in batch mode), evaluates
each design point with the spec's backend (several at once in batch mode, on the CPUs of
the job step), and writes Dakota's results file with the responses, or ``FAIL`` for an
evaluation that failed (Dakota ignores exit codes). Each evaluation is also appended to
``<rundir>/evaluations.jsonl`` (status ok, failed, or reused when the point had already
been simulated in this run directory), and each failure with its reason to
``<rundir>/failures.jsonl``; the run directory is the one holding the resolved spec.

Only the standard library and the chosen backend are imported, so one call costs
milliseconds on top of the simulator.
"""
from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from types import SimpleNamespace

from . import dakota_io, faults
from .errors import EvaluationFailed, SpecError
from .families import backend_class

RESOLVED_SPEC = "spec.resolved.json"
MEMO_DIR = "done"  # one file per finished design point


def find_spec(start: Path) -> Path:
    """The resolved spec of the run directory containing ``start``."""
    for directory in (start, *start.parents):
        if (directory / RESOLVED_SPEC).is_file():
            return directory / RESOLVED_SPEC
    raise SpecError(f"{start}: no {RESOLVED_SPEC} here or above; pass --spec or render the "
                    "study with `python -m driver.study render`")


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


CAST = {"integer": int, "real": float, "categorical": str}


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
    return rundir / MEMO_DIR / f"{name}.json"


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
    memo = memo_file(rundir, point) if memo else None
    try:
        kept = json.loads(memo.read_text()) if memo else None
        if kept and kept["point"] == point and all(r in kept["responses"] for r in responses):
            return {**record, "status": "reused", "seconds": 0.0,
                    "responses": {r: kept["responses"][r] for r in responses}}
    except (OSError, ValueError, KeyError):
        pass
    if fault_config:
        faults.arm(faults.fault_for(number, fault_config))
    try:
        values = backend.evaluate(point, workdir)
        note = values.pop("note", None)  # a backend's word on the result (e.g. why invalid)
        if note:
            record["note"] = str(note)
        missing = [r for r in responses if r not in values]
        if missing:
            raise EvaluationFailed(f"backend gave no {', '.join(missing)}", "garbage")
        values = {r: values[r] for r in responses}
    except EvaluationFailed as err:
        failure = {"kind": err.kind, "reason": err.reason}
    except OSError as err:  # e.g. simulator binary vanished: this evaluation fails only
        failure = {"kind": "error", "reason": str(err)}
    else:
        failure = None
        if memo:
            memo.parent.mkdir(exist_ok=True)
            tmp = memo.with_name(f"{memo.name}.{os.getpid()}.tmp")
            tmp.write_text(json.dumps({"point": point, "responses": values}))
            os.replace(tmp, memo)
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


def parse_arguments(argv: list[str]) -> SimpleNamespace:
    # The common call, as Dakota makes it, is parsed by hand: importing argparse costs
    # the driver ~9 ms per evaluation. Anything else (--help, mistakes) goes to argparse.
    if len(argv) == 4 and argv[0] == "--spec" and not any(a.startswith("-") for a in argv[1:]):
        return SimpleNamespace(spec=Path(argv[1]), params=Path(argv[2]), results=Path(argv[3]))
    if len(argv) == 2 and not any(a.startswith("-") for a in argv):
        return SimpleNamespace(spec=None, params=Path(argv[0]), results=Path(argv[1]))
    from .cli import Parser

    parser = Parser(prog="python -m driver", description=__doc__.split("\n\n")[0])
    parser.add_argument("--spec", type=Path, help=f"resolved spec (default: {RESOLVED_SPEC} "
                        "in the current directory or above)")
    parser.add_argument("params", type=Path, help="Dakota parameters file")
    parser.add_argument("results", type=Path, help="Dakota results file to write")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_arguments(sys.argv[1:] if argv is None else argv)
    try:
        spec_path = args.spec or find_spec(Path.cwd())
        spec = json.loads(spec_path.read_text())
        evaluations = dakota_io.read_parameters(args.params)
        types = {p["name"]: p["type"] for p in spec["parameters"]}
        points = [design_point(e, types, str(args.params)) for e in evaluations]
        backend = backend_class(spec["backend"]["name"])(
            spec["backend"]["settings"], timeout_s=spec["execution"]["timeout_s"])
    except (SpecError, dakota_io.ParametersFileError, OSError, ValueError, KeyError,
            TypeError) as err:
        why = f"{err.filename}: {err.strerror}" if isinstance(err, OSError) and err.filename \
            else f"damaged {RESOLVED_SPEC} (no {err})" if isinstance(err, KeyError) else err
        print(f"cyclecast driver: {why}", file=sys.stderr)
        return 1

    rundir = spec_path.resolve().parent
    responses = evaluations[0].responses
    try:
        fault_config = faults.from_environment()
    except ValueError as err:
        print(f"cyclecast driver: {err}", file=sys.stderr)
        return 1
    workdir = Path.cwd()
    if len(evaluations) == 1:
        workdirs = [workdir]
    else:  # batch mode: one sub-directory per evaluation
        workdirs = [workdir / f"eval.{e.number}" for e in evaluations]
        for d in workdirs:
            d.mkdir(exist_ok=True)
    jobs = [(point, e.number, responses, w, rundir, fault_config)
            for point, e, w in zip(points, evaluations, workdirs, strict=True)]
    if len(jobs) == 1:
        records = [evaluate_one(backend, *jobs[0])]
    else:  # the batch shares the step's CPUs; each evaluation is its own simulator process
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=min(len(jobs), step_cpus())) as pool:
            records = list(pool.map(lambda job: evaluate_one(backend, *job), jobs))

    append_jsonl(rundir / "failures.jsonl", *(r for r in records if r["status"] == "failed"))
    append_jsonl(rundir / "evaluations.jsonl", *records)
    dakota_io.write_results(args.results, [r.get("responses") for r in records], responses,
                            batch=spec["execution"]["batch_size"] > 1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
