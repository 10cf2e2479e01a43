"""The profile's own cycle estimate, no model and no simulation, against the reference
data's simulated cycles: MAPE per kernel on every reference point (training and unseen
workload sizes alike), and the same for each estimated counter the cycle model uses.

    python bench/estimate.py [--out bench/results/estimate.md] [--label TEXT]
        [--l2-estimate whole_stream|behind_l1d] [--kernels kmeans,...]

Appends one section per run (``--label`` names it, e.g. the estimate's version), so a
results file holds "before" and "after" side by side.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]

import provenance  # noqa: E402  (bench/provenance.py)

from driver.families.cache import timing  # noqa: E402
from ml import features as feature_sets  # noqa: E402
from ml.data import read_table  # noqa: E402
from ml.metrics import mape  # noqa: E402

KERNELS = ("kmeans", "matmul", "nw", "backprop", "stencil")
COUNTERS = ("l1d_misses", "l2_misses", "l1d_writebacks", "l2_writebacks")


def score(kernel: str, l2_estimate: str | None = None) -> dict:
    rows = {}
    for suffix in ("", "_unseen"):
        data = ROOT / "data" / "reference" / f"{kernel}{suffix}.tabular.dat.gz"
        spec = feature_sets.load(ROOT / "dakota_inputs" / "reference" / f"{kernel}{suffix}.yaml",
                                 backend=True)
        if l2_estimate:
            spec = spec.with_settings(l2_estimate=l2_estimate)
        frame = read_table(data, "cycles").frame
        started = time.monotonic()
        derived = feature_sets.add_derived(frame, spec)
        rows[suffix or "sampled"] = (frame, derived, time.monotonic() - started)
    frame = np.concatenate([r[0]["cycles"].to_numpy() for r in rows.values()])
    est = np.concatenate([2 ** r[1]["est_cycles"].to_numpy() for r in rows.values()])
    result = {"points": len(frame), "cycles_mape": mape(frame, est),
              "seconds": sum(r[2] for r in rows.values())}
    for counter in COUNTERS:
        column = f"est_{counter}"
        if column not in rows["sampled"][1].columns:
            result[counter] = None
            continue
        true = np.concatenate([r[0][counter].to_numpy(dtype=float) for r in rows.values()])
        pred = np.concatenate([2 ** r[1][column].to_numpy() - 1 for r in rows.values()])
        keep = true > 0
        result[counter] = mape(true[keep], pred[keep])
    l2_writebacks = np.concatenate([r[0]["l2_writebacks"].to_numpy(dtype=float)
                                    for r in rows.values()])
    result["writeback_share"] = float(np.mean(
        timing.DEFAULTS["writeback_cycles"] * l2_writebacks / frame)) * 100
    return result


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "estimate.md")
    p.add_argument("--label", default="current")
    p.add_argument("--l2-estimate", choices=("whole_stream", "behind_l1d"),
                   help="backend.settings.l2_estimate for every kernel (default: the spec's)")
    p.add_argument("--kernels", default=",".join(KERNELS))
    args = p.parse_args()
    commit = provenance.commit()
    lines = [f"## {args.label} (commit {commit})", "",
             "| kernel | points | est. cycles MAPE | L1D misses | L2 misses | L1D write-backs "
             "| L2 write-backs | write-backs' share of cycles | profiling + features s |",
             "|---|---|---|---|---|---|---|---|---|"]

    def pct(value):
        return "not estimated" if value is None else f"{value:.2f}%"

    if args.l2_estimate:
        lines[0] += f", l2_estimate: {args.l2_estimate}"
    for kernel in args.kernels.split(","):
        r = score(kernel, args.l2_estimate)
        lines.append(f"| {kernel} | {r['points']:,} | {r['cycles_mape']:.2f}% | "
                     f"{pct(r['l1d_misses'])} | {pct(r['l2_misses'])} | "
                     f"{pct(r['l1d_writebacks'])} | {pct(r['l2_writebacks'])} | "
                     f"{r['writeback_share']:.1f}% | {r['seconds']:.1f} |")
        print(lines[-1], flush=True)
    if not args.out.exists():
        args.out.write_text(
            "# The profile's estimate alone (no model, no simulation)\n\n"
            "Command: `python bench/estimate.py --label LABEL` (appends a section). Every point "
            "of data/reference/KERNEL.tabular.dat.gz and KERNEL_unseen (simulated cycles, "
            "reproducible: data/reference/README.md). MAPE of each estimated counter over the "
            "points where the simulator counted at least one. Default timing constants "
            "(12 / 100 / 100 cycles). Seconds: profiling (when not cached) plus computing "
            "the features. The 'before' section was run at its commit with this script and "
            "the same data.\n\n")
    with open(args.out, "a") as f:
        f.write("\n".join(lines) + "\n\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
