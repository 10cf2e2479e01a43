"""Random vs active sampling at equal budgets, over several seeds.

    .venv/bin/python bench/sampling.py [--kernels matmul,nw,backprop,stencil]
        [--budgets 500,1000] [--seeds 0 1 2]

For each seed, kernel and budget: random takes the first BUDGET points of the seed's pool
order (bench/models.py); active starts from BUDGET/2 of them and adds rounds of BUDGET/4
points where a random forest's trees disagree most among the rest of the pool
(bench/table3.py's active_indices, the strategy ml.explore --strategy active uses). Each
set is scored with the best workload-aware model (XGBoost or random forest, ln(cycles) or
the correction to the profile's estimate, chosen on a validation share of its own points),
once, on the fixed held-out test set. A strategy is called better only if its errors on
every seed are below the other's on every seed (bench/compare.py). Writes
bench/results/sampling.md and sampling.json.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent

import models as bench_models  # noqa: E402
from compare import spread, verdict  # noqa: E402
from table3 import active_indices, best_derived  # noqa: E402

from ml import bundle as bundles  # noqa: E402


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--kernels", default="matmul,nw,backprop,stencil")
    p.add_argument("--budgets", default="500,1000")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--results", type=Path, default=BENCH / "results")
    args = p.parse_args()
    budgets = [int(b) for b in args.budgets.split(",")]
    started = time.monotonic()
    rows = []
    for seed in args.seeds:
        for name in args.kernels.split(","):
            both = bench_models.Kernel(name, seed, "both")
            for budget in budgets:
                random_pick = best_derived(both, both.pool[:budget], seed)
                active = best_derived(both, active_indices(both, budget, budget // 2,
                                                           budget // 4, seed), seed)
                rows.append({"seed": seed, "kernel": name, "budget": budget,
                             "random": random_pick, "active": active})
                print(f"seed {seed} {name} {budget}: random {random_pick['mape_pct']:.2f}% "
                      f"active {active['mape_pct']:.2f}%", flush=True)
    result = {"command": "python bench/sampling.py " + " ".join(sys.argv[1:]),
              "seeds": args.seeds, "budgets": budgets, "versions": bundles.versions(),
              "seconds": round(time.monotonic() - started, 1), "rows": rows}
    args.results.mkdir(parents=True, exist_ok=True)
    (args.results / "sampling.json").write_text(json.dumps(result, indent=1) + "\n")
    (args.results / "sampling.md").write_text(report(result))
    return 0


def report(result: dict) -> str:
    lines = ["# Random vs active sampling, several seeds", "",
             f"Command: `{result['command']}`; seeds {result['seeds']}; "
             f"{result['seconds']:.0f} s; versions {result['versions']}. Test MAPE on cycles "
             "% of the best workload-aware model (chosen on validation data) trained on each "
             "strategy's points: mean over seeds (min..max). A strategy is better only if "
             "all its seeds beat all the other's.", "",
             "| kernel | budget | random | active | verdict |", "|---|---|---|---|---|"]
    kernels = list(dict.fromkeys(r["kernel"] for r in result["rows"]))
    for name in kernels:
        for budget in result["budgets"]:
            cell = [r for r in result["rows"] if r["kernel"] == name and r["budget"] == budget]
            random_mape = [r["random"]["mape_pct"] for r in cell]
            active_mape = [r["active"]["mape_pct"] for r in cell]
            lines.append(f"| {name} | {budget} | {spread(random_mape)} | "
                         f"{spread(active_mape)} | "
                         f"{verdict(active_mape, random_mape, 'active', 'random')} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
