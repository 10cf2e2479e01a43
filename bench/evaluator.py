"""Evaluator benchmark: seconds per design point, simulated instructions per second, and
the analysis driver's own overhead, for each built-in kernel of the embedded backend.

    .venv/bin/python bench/evaluator.py [--points 15] [--seed 7]

Writes bench/results/evaluator.md and evaluator.json. Targets (issue 2): median
<= 0.5 s per design point, >= 150 M simulated instructions/s, driver overhead <= 50 ms.
"""
from __future__ import annotations

import argparse
import json
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

from driver.resolved import ResolvedSpec  # noqa: E402
from driver.study import render_study  # noqa: E402
from ml.bundle import commit  # noqa: E402

KERNELS = ("kmeans", "matmul", "nw", "backprop")
RESULTS = ROOT / "bench" / "results"


def random_points(spec: ResolvedSpec, count: int, rng: random.Random) -> list[dict]:
    arch = [p for p in spec.parameters if p.role == "architecture"]
    return [{p.name: rng.choice(p.values) for p in arch} for _ in range(count)]


def time_points(backend, points, workload: dict, workdir: Path) -> list[tuple[float, float]]:
    """(seconds, instructions) per point."""
    out = []
    for point in points:
        start = time.perf_counter()
        responses = backend.evaluate({**point, **workload}, workdir)
        out.append((time.perf_counter() - start, responses["instructions"]))
    return out


def driver_overhead(spec_path: Path, point: dict, repeats: int, tmp: Path) -> list[float]:
    """Wall time of `python -m driver` minus the backend's own evaluation time, seconds."""
    rundir = tmp / "driver_run"
    render_study(spec_path, rundir)
    names = list(point)
    params = "\n".join([f"{len(point)} variables", *[f"{point[n]} {n}" for n in names],
                        "1 functions", "1 ASV_1:cycles", "0 derivative_variables",
                        "0 analysis_components", "1 eval_id", "0 metadata"]) + "\n"
    overheads = []
    for i in range(repeats):
        work = rundir / f"eval.{i}"
        work.mkdir()
        (work / "params.in").write_text(params)
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "driver", "params.in", "results.out"],
                       cwd=work, check=True)
        wall = time.perf_counter() - start
        record = json.loads((rundir / "evaluations.jsonl").read_text().splitlines()[-1])
        overheads.append(wall - record["seconds"])
    return overheads


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--points", type=int, default=15,
                        help="random cache configurations per size")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--repeats", type=int, default=20, help="driver calls for the overhead")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    rows, overhead = [], None
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        for kernel in KERNELS:
            spec_path = ROOT / "dakota_inputs" / f"{kernel}.yaml"
            spec = render_study(spec_path, tmp / kernel)
            backend = spec.make_backend(timeout_s=600)
            (workload,) = [p for p in spec.parameters if p.role == "workload"]
            values = sorted(workload.values)
            points = random_points(spec, args.points, rng)
            work = tmp / kernel / "work"
            work.mkdir()
            for label, size in (("default (median size)", values[len(values) // 2]),
                                ("largest", values[-1])):
                timed = time_points(backend, points, {workload.name: size}, work)
                seconds = [s for s, _ in timed]
                rows.append({
                    "kernel": kernel, "size": f"{workload.name}={size}", "label": label,
                    "median_s": statistics.median(seconds), "max_s": max(seconds),
                    "instructions": statistics.median(i for _, i in timed),
                    "minstr_per_s": statistics.median(i / s for s, i in timed) / 1e6,
                })
                print(f"{kernel:9s} {label:22s} median {rows[-1]['median_s']:.3f} s "
                      f"max {rows[-1]['max_s']:.3f} s  {rows[-1]['minstr_per_s']:.0f} M instr/s",
                      flush=True)
            if kernel == "matmul":
                small = {workload.name: values[0]}
                overhead = driver_overhead(spec_path, {**points[0], **small}, args.repeats, tmp)
    versions = {"python": platform.python_version(), "machine": platform.machine(),
                "cpus": len(__import__("os").sched_getaffinity(0)),
                "qemu": subprocess.run(["qemu-riscv64", "--version"], capture_output=True,
                                       text=True).stdout.splitlines()[0]}
    result = {"command": "python bench/evaluator.py " + " ".join(sys.argv[1:]),
              "commit": commit(), "seed": args.seed, "points_per_size": args.points,
              "versions": versions,
              "rows": rows, "driver_overhead_s": {"median": statistics.median(overhead),
                                                  "max": max(overhead), "calls": len(overhead)}}
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "evaluator.json").write_text(json.dumps(result, indent=1) + "\n")
    lines = ["# Evaluator benchmark (embedded RISC-V backend)", "",
             f"Command: `{result['command'].strip()}` (seed {args.seed}, {args.points} random "
             f"cache configurations of the Table 1 space per size), at commit "
             f"{result['commit'] or 'unknown'}.",
             f"Machine: {versions['cpus']} CPUs, {versions['machine']}, "
             f"Python {versions['python']}, {versions['qemu']}.", "",
             "| kernel | size | which | median s/point | max s/point | instructions "
             "| M instr/s (3 caches) |",
             "|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['kernel']} | {r['size']} | {r['label']} | {r['median_s']:.3f} | "
                     f"{r['max_s']:.3f} | {r['instructions']:,.0f} | {r['minstr_per_s']:.0f} |")
    o = result["driver_overhead_s"]
    lines += ["", f"Driver overhead per evaluation (wall time of `python -m driver` minus the "
              f"backend's evaluation, {o['calls']} calls): median {o['median'] * 1000:.1f} ms, "
              f"max {o['max'] * 1000:.1f} ms.", "",
              "Targets: median <= 0.5 s/point, >= 150 M simulated instructions/s, "
              "driver overhead <= 50 ms."]
    (RESULTS / "evaluator.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
