"""The analysis driver Dakota calls: ``python -m driver [--spec FILE] PARAMS RESULTS``.

Reads Dakota's parameters file (one evaluation, or several in batch mode), evaluates
each design point with the spec's backend, and writes Dakota's results file with the
responses, or ``FAIL`` for an evaluation that failed (Dakota ignores exit codes). Each
evaluation is also appended to ``<rundir>/evaluations.jsonl``, and each failure with
its reason to ``<rundir>/failures.jsonl``; the run directory is the one holding the
resolved spec.

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

from . import dakota_io
from .backends import EvaluationFailed, SpecError, backend_class

RESOLVED_SPEC = "spec.resolved.json"


def find_spec(start: Path) -> Path:
    """The resolved spec of the run directory containing ``start``."""
    for directory in (start, *start.parents):
        if (directory / RESOLVED_SPEC).is_file():
            return directory / RESOLVED_SPEC
    raise SpecError(f"{start}: no {RESOLVED_SPEC} here or above; pass --spec or render the "
                    "study with `python -m driver.study render`")


def append_jsonl(path: Path, record: dict) -> None:
    # One write() of one line to an O_APPEND file: concurrent drivers do not interleave.
    line = (json.dumps(record, separators=(",", ":")) + "\n").encode()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line)
    finally:
        os.close(fd)


def design_point(evaluation: dakota_io.Evaluation, names: list[str], where: str) -> dict:
    missing = [n for n in names if n not in evaluation.variables]
    if missing:
        raise SpecError(f"{where}: evaluation {evaluation.eval_id} lacks parameters "
                        f"{', '.join(missing)}; the deck and the spec disagree")
    return {n: evaluation.variables[n] for n in names}


def evaluate_one(backend, point: dict, responses: list[str], workdir: Path):
    """(responses dict or None, failure dict or None, seconds)."""
    start = time.monotonic()
    try:
        values = backend.evaluate(point, workdir)
        missing = [r for r in responses if r not in values]
        if missing:
            raise EvaluationFailed(f"backend gave no {', '.join(missing)}", "garbage")
        return {r: values[r] for r in responses}, None, time.monotonic() - start
    except EvaluationFailed as err:
        return None, {"kind": err.kind, "reason": err.reason}, time.monotonic() - start
    except OSError as err:  # e.g. simulator binary vanished: this evaluation fails only
        return None, {"kind": "error", "reason": str(err)}, time.monotonic() - start


def parse_arguments(argv: list[str]) -> SimpleNamespace:
    # The common call, as Dakota makes it, is parsed by hand: importing argparse costs
    # the driver ~9 ms per evaluation. Anything else (--help, mistakes) goes to argparse.
    if len(argv) == 4 and argv[0] == "--spec" and not any(a.startswith("-") for a in argv[1:]):
        return SimpleNamespace(spec=Path(argv[1]), params=Path(argv[2]), results=Path(argv[3]))
    if len(argv) == 2 and not any(a.startswith("-") for a in argv):
        return SimpleNamespace(spec=None, params=Path(argv[0]), results=Path(argv[1]))
    import argparse

    parser = argparse.ArgumentParser(prog="python -m driver",
                                          description=__doc__.split("\n\n")[0])
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
        names = [p["name"] for p in spec["parameters"]]
        points = [design_point(e, names, str(args.params)) for e in evaluations]
        backend = backend_class(spec["backend"]["name"])(
            spec["backend"]["settings"], timeout_s=spec["execution"]["timeout_s"])
    except (SpecError, dakota_io.ParametersFileError, OSError, ValueError) as err:
        print(f"cyclecast driver: {err}", file=sys.stderr)
        return 1

    rundir = spec_path.resolve().parent
    responses = evaluations[0].responses
    workdir = Path.cwd()
    if len(evaluations) == 1:
        workdirs = [workdir]
    else:  # batch mode: one sub-directory per evaluation
        workdirs = [workdir / f"eval.{e.number}" for e in evaluations]
        for d in workdirs:
            d.mkdir(exist_ok=True)
    if len(points) == 1:
        outcomes = [evaluate_one(backend, points[0], responses, workdirs[0])]
    else:  # the batch shares the step's CPUs; each evaluation is its own simulator process
        from concurrent.futures import ThreadPoolExecutor

        workers = min(len(points), len(os.sched_getaffinity(0)))
        with ThreadPoolExecutor(max_workers=workers) as pool:
            outcomes = list(pool.map(lambda pw: evaluate_one(backend, pw[0], responses, pw[1]),
                                     zip(points, workdirs, strict=True)))

    blocks = []
    for evaluation, point, workdir_i, (values, failure, seconds) in zip(
            evaluations, points, workdirs, outcomes, strict=True):
        record = {"eval": evaluation.number, "point": point, "seconds": round(seconds, 4),
                  "workdir": str(workdir_i)}
        if failure:
            append_jsonl(rundir / "failures.jsonl", {**record, **failure})
        append_jsonl(rundir / "evaluations.jsonl",
                     {**record, "status": "failed" if failure else "ok", "responses": values})
        blocks.append(values)
    dakota_io.write_results(args.results, blocks, responses,
                            batch=spec["execution"]["batch_size"] > 1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
