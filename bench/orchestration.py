"""Orchestration benchmark: how much wall time cyclecast + Dakota + Slurm add on top of
the simulations themselves.

    .venv/bin/python bench/orchestration.py [--evaluations 40] [--seed 3]

Three set-ups, side by side in one run, each a real study of the embedded backend:
(i) a Slurm job with one srun step per evaluation (~0.3 s evaluations: matmul n=192),
(ii) a Slurm job in batch mode (64 evaluations per step; the cheapest evaluations this
backend has, matmul n=16, ~20 ms, mostly QEMU start-up),
(iii) the (i) study run locally with Dakota's fork interface, no Slurm.

overhead = study wall time / (sum of evaluation times / cores) - 1, where an evaluation's
time is the backend's own (simulator) time as the driver measures it, and the study wall
time is Dakota's wall clock. The submit-to-finish time, which adds Slurm's scheduling
latency, is reported too. Targets (issue 3): <= 3% for (i), <= 10% for (ii).
Starts the one-node cluster (slurm/local-cluster.sh) if none is up and stops it after.
Writes bench/results/orchestration.md and orchestration.json.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
SCRIPT = ROOT / "slurm" / "local-cluster.sh"
CORES = len(os.sched_getaffinity(0))
ARCHITECTURE = [
    {"name": "l1d_size_kib", "unit": "KiB", "role": "architecture", "values": [1, 2, 4, 8, 16, 32]},
    {"name": "l1d_ways", "unit": "ways", "role": "architecture", "values": [1, 2, 4, 8]},
    {"name": "l1i_size_kib", "unit": "KiB", "role": "architecture", "values": [1, 2, 4, 8, 16, 32]},
    {"name": "l2_size_kib", "unit": "KiB", "role": "architecture",
     "values": [1, 2, 4, 8, 16, 32, 64, 128, 256]},
    {"name": "line_bytes", "unit": "B", "role": "architecture", "values": [16, 32, 64]},
]


def spec(name: str, n: int, evaluations: int, seed: int, batch_size: int) -> dict:
    batch = batch_size > 1
    return {
        "study": name,
        "parameters": ARCHITECTURE + [{"name": "n", "role": "workload", "values": [n]}],
        "backend": {"name": "qemu_riscv", "settings": {"kernel": "matmul"}},
        "sampling": {"method": "random", "samples": evaluations, "seed": seed},
        # Batch mode: one step with every core, its evaluations in parallel inside it
        # (Dakota runs one batch at a time: two concurrent one-core batches measured 113%).
        "execution": {"concurrency": 1 if batch else CORES, "batch_size": batch_size,
                      "timeout_s": 120, "slurm": {"cpus_per_task": CORES if batch else 1}},
    }


def study(*args: str, env: dict) -> str:
    proc = subprocess.run([sys.executable, "-m", "driver.study", *args], env=env,
                          capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"driver.study {args[0]} failed: {proc.stderr.strip()}")
    return proc.stdout


def wait(job: str, env: dict) -> None:
    while subprocess.run(["squeue", "-h", "-j", job], env=env, capture_output=True,
                         text=True).stdout.strip():
        time.sleep(0.2)


def measure(rundir: Path, started: float, finished: float) -> dict:
    text = (rundir / "dakota.out").read_text()
    wall = float(re.search(r"Total wall clock =\s*([0-9.eE+-]+)", text).group(1))
    runs = [json.loads(line) for line in (rundir / "evaluations.jsonl").read_text().splitlines()]
    simulated = sum(r["seconds"] for r in runs if r["status"] == "ok")
    ideal = simulated / CORES
    return {"evaluations": len(runs), "failed": sum(r["status"] == "failed" for r in runs),
            "mean_eval_s": simulated / len(runs), "dakota_wall_s": wall,
            "submit_to_finish_s": finished - started, "ideal_s": ideal,
            "overhead": wall / ideal - 1, "overhead_end_to_end": (finished - started) / ideal - 1}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--evaluations", type=int, default=40)
    parser.add_argument("--batch-evaluations", type=int, default=256)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--seed", type=int, default=3)
    args = parser.parse_args()
    env = dict(os.environ)
    up = subprocess.run(["bash", str(SCRIPT), "status"], capture_output=True, text=True)
    started_cluster = up.returncode != 0
    if started_cluster:
        start = subprocess.run(["bash", str(SCRIPT), "start"], capture_output=True, text=True)
        if start.returncode != 0:
            raise SystemExit(f"cannot start the local cluster: {start.stderr.strip()}")
        env["SLURM_CONF"] = start.stdout.strip().split("=", 1)[1]
    else:
        env.setdefault("SLURM_CONF", str(Path(os.environ.get(
            "CYCLECAST_SLURM_DIR", "/tmp/cyclecast-slurm")) / "slurm.conf"))
    cases = [("(i) Slurm, srun step per evaluation", "slurm", 192, args.evaluations, 1),
             (f"(ii) Slurm, batch mode ({args.batch_size} per step)", "slurm", 16,
              args.batch_evaluations, args.batch_size),
             ("(iii) local fork, no Slurm", "local", 192, args.evaluations, 1)]
    rows = []
    try:
        with tempfile.TemporaryDirectory() as tmp_name:
            tmp = Path(tmp_name)
            for label, mode, n, count, batch in cases:
                name = f"orch_{len(rows)}"
                spec_file = tmp / f"{name}.yaml"
                spec_file.write_text(yaml.safe_dump(spec(name, n, count, args.seed, batch)))
                rundir = tmp / name
                started = time.monotonic()
                if mode == "slurm":
                    out = study("submit", str(spec_file), "-o", str(rundir), env=env)
                    wait(re.search(r"submitted job (\d+)", out).group(1), env)
                else:
                    study("run", str(spec_file), "-o", str(rundir), "-q", env=env)
                row = {"case": label, "matmul_n": n, "batch_size": batch,
                       **measure(rundir, started, time.monotonic())}
                rows.append(row)
                print(f"{label}: {row['evaluations']} evals, mean {row['mean_eval_s']:.3f} s, "
                      f"overhead {row['overhead']:.1%} (end to end "
                      f"{row['overhead_end_to_end']:.1%})", flush=True)
    finally:
        if started_cluster:
            subprocess.run(["bash", str(SCRIPT), "stop"], capture_output=True)
    command = "python bench/orchestration.py " + " ".join(sys.argv[1:])
    result = {"command": command.strip(), "seed": args.seed, "cores": CORES,
              "python": platform.python_version(), "rows": rows}
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "orchestration.json").write_text(json.dumps(result, indent=1) + "\n")
    lines = ["# Orchestration benchmark", "",
             f"Command: `{result['command']}` (seed {args.seed}, {CORES} cores, one-node Slurm "
             "22.05 from slurm/local-cluster.sh, Dakota 6.24, embedded backend).", "",
             "overhead = Dakota wall time / (sum of simulator seconds / cores) - 1; "
             "end to end adds sbatch submission and scheduling latency.", "",
             "| case | evaluations | mean s/eval | Dakota wall s | ideal s | overhead "
             "| submit-to-finish s | overhead end to end |", "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['case']} | {r['evaluations']} | {r['mean_eval_s']:.3f} | "
                     f"{r['dakota_wall_s']:.1f} | {r['ideal_s']:.1f} | {r['overhead']:.1%} | "
                     f"{r['submit_to_finish_s']:.1f} | {r['overhead_end_to_end']:.1%} |")
    lines += ["", "Targets: <= 3% for (i), <= 10% for (ii)."]
    evaluator = RESULTS / "evaluator.json"
    if evaluator.exists():  # where the per-evaluation overhead goes
        start_up = json.loads(evaluator.read_text())["driver_overhead_s"]["median"]
        per_eval = {r["case"]: (r["dakota_wall_s"] - r["ideal_s"]) * CORES / r["evaluations"]
                    for r in rows}
        lines += ["", "Where it goes, per evaluation (core-seconds of overhead / evaluations): "
                  + "; ".join(f"{case.split(')')[0]}): {1000 * v:.0f} ms"
                              for case, v in per_eval.items())
                  + f". The analysis driver's own start-up (Python interpreter and imports, "
                  f"bench/results/evaluator.md) is {1000 * start_up:.0f} ms of that per call."]
    (RESULTS / "orchestration.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
