"""What workload-aware features cost: one profiling run per workload size, against the
simulations of design points it serves.

    .venv/bin/python bench/profiling_cost.py [--kernels kmeans,matmul,nw,backprop]
        [--simulations 3] [--seed 0]

For every training workload size of each kernel's spec: the wall time of a fresh profiling
run (no cache), and the mean wall time of simulating ``--simulations`` random design points
of the same size with the embedded backend. Writes bench/results/profiling_cost.md/.json.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

from driver.families.cache import profiles  # noqa: E402
from driver.families.cache import program as workload  # noqa: E402
from driver.families.cache.backends import qemu_riscv  # noqa: E402
from driver.spec import load_spec  # noqa: E402
from ml import bundle  # noqa: E402

RESULTS = ROOT / "bench" / "results"
BUDGET_SIMULATIONS = 200  # issue 14: all sizes profiled in at most this many simulations' time


def measure(kernel: str, simulations: int, rng: random.Random) -> list[dict]:
    spec = load_spec(ROOT / "dakota_inputs" / f"{kernel}.yaml")
    settings = spec.settings
    backend = qemu_riscv.Backend(settings, timeout_s=600)
    (size_param,) = [p for p in spec.parameters if p.role == "workload"]
    rows = []
    for size in size_param.values:
        point = {size_param.name: size}
        with tempfile.TemporaryDirectory() as cache:
            os.environ["CYCLECAST_PROFILES"] = cache
            prof = profiles.profile(settings["program"],
                                    workload.program_arguments(settings, point))
        seconds = []
        for _ in range(simulations):
            design = {p.name: rng.choice(p.values) for p in spec.parameters
                      if p.role == "architecture"}
            with tempfile.TemporaryDirectory() as work:
                start = time.perf_counter()
                backend.evaluate({**design, **point}, Path(work))
                seconds.append(time.perf_counter() - start)
        rows.append({"kernel": kernel, "size": size, "profile_seconds": prof["profile_seconds"],
                     "simulation_seconds": sum(seconds) / len(seconds),
                     "instructions": prof["instructions"]})
        print(f"{kernel:8s} {size:6d}  profile {prof['profile_seconds']:7.2f} s  "
              f"simulation {rows[-1]['simulation_seconds']:6.2f} s", flush=True)
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kernels", default="kmeans,matmul,nw,backprop")
    parser.add_argument("--simulations", type=int, default=3,
                        help="random design points simulated per workload size")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    rows = [row for k in args.kernels.split(",") for row in measure(k, args.simulations, rng)]
    command = "python bench/profiling_cost.py " + " ".join(sys.argv[1:])
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "profiling_cost.json").write_text(json.dumps(
        {"command": command.strip(), "seed": args.seed, "versions": bundle.versions(),
         "rows": rows}, indent=1) + "\n")
    lines = ["# Profiling cost per workload point", "",
             f"Command: `{command.strip()}`; seed {args.seed}; 2-core machine. One profiling "
             "run per workload size serves every design point of that size; a simulation "
             f"serves one (mean of {args.simulations} random design points).", "",
             "| kernel | size | profile s | simulation s | profile / simulation |",
             "|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['kernel']} | {r['size']} | {r['profile_seconds']:.2f} | "
                     f"{r['simulation_seconds']:.3f} | "
                     f"{r['profile_seconds'] / r['simulation_seconds']:.1f} |")
    lines += ["", "All sizes profiled against the time of one simulation (its mean over the "
              f"kernel's sizes, as a random study samples them); issue 14's target: at most "
              f"{BUDGET_SIMULATIONS} simulations' time.", "",
              "| kernel | all sizes: profile s | one simulation per size: s | profile in "
              "simulations | target |", "|---|---|---|---|---|"]
    for k in args.kernels.split(","):
        mine = [r for r in rows if r["kernel"] == k]
        profile = sum(r["profile_seconds"] for r in mine)
        simulations = sum(r["simulation_seconds"] for r in mine)
        worth = profile / (simulations / len(mine))
        lines.append(f"| {k} | {profile:.1f} | {simulations:.2f} | {worth:.0f} | "
                     f"{'met' if worth <= BUDGET_SIMULATIONS else 'missed'} |")
    (RESULTS / "profiling_cost.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
