"""The L2 estimate, two ways, against simulated counts: ``whole_stream`` (the default: the
whole stream through an LRU cache of the L2's geometry, within bounds) and ``behind_l1d``
(``backend.settings.l2_estimate: behind_l1d``: the profile runs the L2 behind each of the
spec's L1D geometries, exact but for how L1I misses compete for the L2), and what each
costs to profile.

    python bench/l2_estimate.py [--sizes 5] [--out bench/results/l2_estimate.md]

Per kernel, the reference sample's points at the kernel's smallest SIZES workload sizes
(the behind_l1d profiles of the larger ones take many minutes each on 2 cores): MAPE of the
estimated L2 misses, L2 write-backs and cycles (the profile's estimate alone, no model),
overall and for L2s at most twice the L1D's capacity, and the profiling seconds of those
sizes with each estimate (fresh profiles, one at a time).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

import provenance  # noqa: E402  (bench/provenance.py)

from ml import features as feature_sets  # noqa: E402
from ml import metrics  # noqa: E402
from ml.data import read_table  # noqa: E402

KERNELS = ("kmeans", "matmul", "nw", "backprop", "stencil")
RULES = ("whole_stream", "behind_l1d")


def mape(true, pred) -> float:
    """MAPE over the points where the simulator counted at least one."""
    keep = true > 0
    return metrics.mape(true[keep], pred[keep])


def score(kernel: str, sizes: int) -> dict:
    spec = feature_sets.load(ROOT / "dakota_inputs" / "reference" / f"{kernel}.yaml",
                             backend=True)
    (work,) = [p for p in spec.parameters if p.role == "workload"]
    kept = sorted(work.values)[:sizes]
    frame = read_table(ROOT / "data" / "reference" / f"{kernel}.tabular.dat.gz",
                       "cycles").frame
    frame = frame[frame[work.name].isin(kept)].reset_index(drop=True)
    small_l2 = (frame["l2_size_kib"] <= 2 * frame["l1d_size_kib"]).to_numpy()
    out = {"workload": work.name, "sizes": kept, "points": len(frame),
           "points_l2_at_most_2x_l1d": int(small_l2.sum())}
    for rule in RULES:
        ruled = spec.with_settings(l2_estimate=rule)
        with tempfile.TemporaryDirectory() as cache:  # fresh profiles: time them
            os.environ["CYCLECAST_PROFILES"] = cache
            started = time.monotonic()
            derived = feature_sets.add_derived(frame, ruled)
            seconds = time.monotonic() - started
            del os.environ["CYCLECAST_PROFILES"]
        row = {"profile_seconds": round(seconds, 2)}
        for counter in ("l2_misses", "l2_writebacks", "cycles"):
            true = frame[counter].to_numpy(dtype=float)
            pred = (2 ** derived["est_cycles"].to_numpy() if counter == "cycles"
                    else 2 ** derived[f"est_{counter}"].to_numpy() - 1)
            row[counter] = mape(true, pred)
            row[f"{counter}_small_l2"] = mape(true[small_l2], pred[small_l2])
        out[rule] = row
        print(kernel, rule, row, flush=True)
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sizes", type=int, default=5)
    p.add_argument("--kernels", default=",".join(KERNELS))
    p.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "l2_estimate.md")
    args = p.parse_args()
    results = {k: score(k, args.sizes) for k in args.kernels.split(",")}
    commit = provenance.commit()
    command = "python bench/l2_estimate.py" + (f" --sizes {args.sizes}"
                                               if args.sizes != 5 else "")
    lines = ["# The L2 estimate: whole stream vs behind each L1D", "",
             f"Command: `{command}` at {commit}; no randomness (every reference point at "
             "those sizes). Cells: MAPE of the profile's estimate against the simulated "
             "count (%), all points / points whose L2 is at most twice the L1D; profiling: "
             "seconds to profile those workload sizes afresh with that estimate, 2-core "
             "machine.", "",
             "| kernel | sizes | points | rule | L2 misses | L2 write-backs | cycles "
             "| profiling s |", "|---|---|---|---|---|---|---|---|"]
    for kernel, r in results.items():
        for rule in RULES:
            x = r[rule]
            lines.append(
                f"| {kernel} | {r['workload']} {r['sizes'][0]}..{r['sizes'][-1]} "
                f"| {r['points']} ({r['points_l2_at_most_2x_l1d']}) | {rule} "
                f"| {x['l2_misses']:.2f} / {x['l2_misses_small_l2']:.2f} "
                f"| {x['l2_writebacks']:.2f} / {x['l2_writebacks_small_l2']:.2f} "
                f"| {x['cycles']:.2f} / {x['cycles_small_l2']:.2f} | {x['profile_seconds']} |")
    args.out.write_text("\n".join(lines) + "\n")
    args.out.with_suffix(".json").write_text(json.dumps(
        {"command": command, "commit": commit, "results": results}, indent=1) + "\n")
    print(args.out.read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
