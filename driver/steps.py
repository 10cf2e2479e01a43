"""Job steps of an in-process study under Slurm, two ways:

``python -m driver.steps SPEC REQUEST ANSWER``
    one step's share of one batch: REQUEST (JSON) lists the points with their evaluation
    numbers and work directories; the step builds the backend, evaluates them on the step's
    CPUs (one simulator process per CPU at a time) and writes the records, as
    :func:`driver.evaluation.evaluate_one` makes them, to ANSWER atomically.
``python -m driver.steps --serve SPEC``
    a long-lived step (one per task, for the whole study): reads one JSON request per line
    on stdin (point, number, workdir, responses), answers one record per line on stdout.

The study's process writes the records to the run's files.
"""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from . import faults
from .evaluation import evaluate_one, step_cpus
from .rundir import read_resolved


def serve(spec_path: Path) -> int:
    backend = read_resolved(spec_path).make_backend()
    fault_config = faults.from_environment()
    rundir = spec_path.resolve().parent
    out = sys.stdout
    sys.stdout = sys.stderr  # nothing but answers on the channel
    for line in sys.stdin:
        job = json.loads(line)
        record = evaluate_one(backend, job["point"], job["number"], job["responses"],
                              Path(job["workdir"]), rundir, fault_config)
        out.write(json.dumps(record, separators=(",", ":")) + "\n")
        out.flush()
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = argv or sys.argv[1:]
    if argv[:1] == ["--serve"]:
        return serve(Path(argv[1]))
    spec_path, request, answer = (Path(a) for a in argv)
    asked = json.loads(request.read_text())
    backend = read_resolved(spec_path).make_backend()
    fault_config = faults.from_environment()
    rundir = spec_path.resolve().parent

    def one(job):
        return evaluate_one(backend, job["point"], job["number"], asked["responses"],
                            Path(job["workdir"]), rundir, fault_config)

    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=max(1, min(len(asked["jobs"]), step_cpus()))) as pool:
        found = list(pool.map(one, asked["jobs"]))
    tmp = answer.with_name(answer.name + ".tmp")
    tmp.write_text(json.dumps(found))
    os.replace(tmp, answer)
    return 0


if __name__ == "__main__":
    sys.exit(main())
