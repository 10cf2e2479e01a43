"""Fidelity of the embedded evaluator: ZigZag against real Timeloop on the same schedules.

    .venv/bin/python bench/fidelity.py [--valid 24] [--invalid 6] [--generated 4]
        [--timeout 60] [--seed 0]

For each of Hong's five presets and --generated accelerators drawn from the 2,304-design
grid, for eight ResNet-50 layers (convolutions of every stage, strided ones, conv1 and the
fully connected layer): --valid generated valid schedules and --invalid generated invalid
ones (each breaking one constraint). Each schedule is scored by the ZigZag backend
(``driver.families.accelerator.backends.zigzag``, in-process) and by ``timeloop-model``
(``...backends.timeloop.run``; found through $TIMELOOP or PATH), two Timeloop processes at a
time. Reports, per accelerator: validity agreement (Timeloop's own verdict vs the family's
check, which the ZigZag backend uses), and on schedules both call valid, Spearman of the
cycles and the distribution of ZigZag / Timeloop cycle ratios. Writes
bench/results/fidelity.md and fidelity.json.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
from scipy.stats import spearmanr

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
LAYERS = ("conv1", "res2_3x3_64", "res2_1x1_256_64", "res3_3x3_128_s2", "res4_1x1_256_1024",
          "res5_3x3_512", "res5_proj_1024_2048_s2", "fc1000")


def timeloop_one(task):
    from driver.families.accelerator import arch, generate, layers
    from driver.families.accelerator.backends import timeloop

    accel_fields, layer_name, kind, i, binary, timeout = task
    accel, layer = arch.Accelerator(**accel_fields), layers.layer(layer_name)
    schedule, broken = generate.generate(accel, layer, kind, i)
    start = time.monotonic()
    with tempfile.TemporaryDirectory() as work:
        try:
            out = timeloop.run(binary, accel, layer, schedule, Path(work), timeout)
        except Exception as err:  # a crash or timeout: recorded, not fatal
            out = {"failed": f"{type(err).__name__}: {err}"}
    out["seconds"] = time.monotonic() - start
    out["family_valid"] = not broken
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--valid", type=int, default=24)
    p.add_argument("--invalid", type=int, default=6)
    p.add_argument("--generated", type=int, default=4)
    p.add_argument("--timeout", type=float, default=60)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    from driver.families.accelerator import arch, generate, layers
    from driver.families.accelerator.backends import timeloop, zigzag

    binary = timeloop.find_binary({"timeloop": "timeloop-model"})[0]
    if binary is None:
        print("bench/fidelity.py: " + timeloop.missing_reason({"timeloop": "timeloop-model"}),
              file=sys.stderr)
        return 2
    rng = np.random.default_rng(args.seed)
    grid = arch.generated()
    accels = dict(arch.PRESETS)
    for i in rng.choice(len(grid), size=args.generated, replace=False):
        accels[f"generated_{i}"] = grid[i]
    tasks, keys = [], []
    for name, accel in accels.items():
        for layer in LAYERS:
            for kind, count in (("valid", args.valid), ("invalid", args.invalid)):
                for i in range(count):
                    tasks.append((accel.as_dict(), layer, kind, i, binary, args.timeout))
                    keys.append((name, layer, kind, i))
    start = time.monotonic()
    with ProcessPoolExecutor(2) as pool:
        timeloop_out = list(pool.map(timeloop_one, tasks, chunksize=4))
    timeloop_s = time.monotonic() - start
    zig, zig_s = [], 0.0
    for (name, layer, kind, i) in keys:
        accel, lay = accels[name], layers.layer(layer)
        schedule, broken = generate.generate(accel, lay, kind, i)
        t = time.monotonic()
        zig.append(zigzag.score(accel, lay, schedule) if not broken else None)
        zig_s += time.monotonic() - t
    rows = {}
    for (name, layer, _, _), tl, zz in zip(keys, timeloop_out, zig, strict=True):
        row = rows.setdefault(name, {"n": 0, "agree": 0, "failed": 0, "pairs": []})
        row["n"] += 1
        if "failed" in tl:
            row["failed"] += 1
            continue
        row["agree"] += bool(tl["valid"]) == tl["family_valid"]
        if tl["valid"] and zz is not None:
            row["pairs"].append((tl["cycles"], zz["cycles"], layer))
    table = {}
    for name, row in rows.items():
        tl = np.array([a for a, _, _ in row["pairs"]])
        zz = np.array([b for _, b, _ in row["pairs"]])
        ratio = zz / tl
        table[name] = {"accelerator": accels[name].as_dict(), "schedules": row["n"],
                       "timeloop_failed": row["failed"],
                       "validity_agreement_pct": round(100 * row["agree"] /
                                                       max(1, row["n"] - row["failed"]), 2),
                       "both_valid": len(tl),
                       "spearman": round(float(spearmanr(tl, zz).statistic), 4),
                       "ratio_p10": round(float(np.percentile(ratio, 10)), 4),
                       "ratio_median": round(float(np.median(ratio)), 4),
                       "ratio_p90": round(float(np.percentile(ratio, 90)), 4),
                       "ratio_min": round(float(ratio.min()), 4),
                       "ratio_max": round(float(ratio.max()), 4)}
    result = {"command": "python bench/fidelity.py " + " ".join(sys.argv[1:]),
              "timeloop": binary, "layers": LAYERS, "seed": args.seed,
              "timeloop_seconds": round(timeloop_s, 1), "zigzag_seconds": round(zig_s, 1),
              "zigzag_ms_per_schedule": round(1000 * zig_s / max(1, sum(z is not None
                                                                       for z in zig)), 2),
              "timeloop_s_per_schedule_median": round(float(np.median(
                  [t["seconds"] for t in timeloop_out])), 3),
              "table": table}
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "fidelity.json").write_text(json.dumps(result, indent=1))
    lines = ["# ZigZag (embedded) vs Timeloop v3.0.3 on the same schedules", "",
             f"Command: `{result['command']}`", "",
             f"{len(keys)} schedules ({args.valid} valid + {args.invalid} invalid per layer "
             f"and accelerator; layers {', '.join(LAYERS)}). Timeloop: {timeloop_s:.0f} s "
             f"(median {result['timeloop_s_per_schedule_median']} s per process, 2 at a "
             f"time); ZigZag: {result['zigzag_ms_per_schedule']} ms per valid schedule "
             "in-process.", "",
             "| accelerator | schedules | validity agrees % | both valid | Spearman | "
             "ratio p10 | median | p90 | min | max | Timeloop failed |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for name, r in table.items():
        lines.append(f"| {name} | {r['schedules']} | {r['validity_agreement_pct']} | "
                     f"{r['both_valid']} | {r['spearman']} | {r['ratio_p10']} | "
                     f"{r['ratio_median']} | {r['ratio_p90']} | {r['ratio_min']} | "
                     f"{r['ratio_max']} | {r['timeloop_failed']} |")
    met = all(r["spearman"] >= 0.99 and abs(r["ratio_median"] - 1) <= 0.02
              for r in table.values())
    same = all(r["validity_agreement_pct"] == 100 for r in table.values())
    lines += ["", "Ratio = ZigZag cycles / Timeloop cycles. Targets (issue 11): Spearman "
              f">= 0.99 and median ratio within 2% on every accelerator: "
              f"{'met' if met else 'missed'}; validity identical: {'met' if same else 'missed'}."]
    (RESULTS / "fidelity.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
