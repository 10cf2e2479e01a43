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

import sys
from pathlib import Path
from types import SimpleNamespace

from . import dakota_io, faults
from .errors import SpecError
from .evaluation import append_jsonl, design_point, evaluate_one, step_cpus
from .rundir import RESOLVED_SPEC, RunDir, read_resolved

TYPE_CHECKING = False  # typing costs the driver milliseconds at start-up
if TYPE_CHECKING:
    import argparse


def parse_arguments(argv: list[str]) -> SimpleNamespace | argparse.Namespace:
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
        spec_path = args.spec or RunDir.containing(Path.cwd()).spec
        spec = read_resolved(spec_path)
        evaluations = dakota_io.read_parameters(args.params)
        types = {p.name: p.kind for p in spec.parameters}
        points = [design_point(e, types, str(args.params)) for e in evaluations]
        backend = spec.make_backend()
    except (SpecError, dakota_io.ParametersFileError, OSError, ValueError, KeyError,
            TypeError) as err:
        why = f"{err.filename}: {err.strerror}" if isinstance(err, OSError) and err.filename \
            else f"damaged {RESOLVED_SPEC} (no {err})" if isinstance(err, KeyError) else err
        print(f"cyclecast driver: {why}", file=sys.stderr)
        return 1

    rundir = RunDir(spec_path.resolve().parent)
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
    jobs = [(point, e.number, responses, w, rundir.path, fault_config)
            for point, e, w in zip(points, evaluations, workdirs, strict=True)]
    if len(jobs) == 1:
        records = [evaluate_one(backend, *jobs[0])]
    else:  # the batch shares the step's CPUs; each evaluation is its own simulator process
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=min(len(jobs), step_cpus())) as pool:
            records = list(pool.map(lambda job: evaluate_one(backend, *job), jobs))

    append_jsonl(rundir.failures, *(r for r in records if r["status"] == "failed"))
    append_jsonl(rundir.evaluations, *records)
    dakota_io.write_results(args.results, [r.get("responses") for r in records], responses,
                            batch=spec.execution.batch_size > 1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
