"""XGBoost's default hyperparameters, chosen on validation data only.

    python bench/xgb_tuning.py [--kernel kmeans] [--samples 1000] [--seeds 0 1 2]

For each seed: the kernel's reference pool in that seed's order (bench/models.py), the
first SAMPLES points split into training and validation as every benchmark splits them;
each grid point is fitted on the training part and scored (MAPE on cycles) on the
validation part, with the project's default features and target (raw + derived features,
the correction to the profile's estimate) and with raw features on ln(cycles). The choice
is the grid point with the lowest mean validation MAPE over the seeds; the fixed held-out
test set is scored once, for the chosen point only. Writes bench/results/xgb_tuning.md.
"""
from __future__ import annotations

import argparse
import itertools
import sys
import time
from importlib.metadata import version
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]

import provenance  # noqa: E402  (bench/provenance.py)
from models import Kernel  # noqa: E402

from ml import core  # noqa: E402
from ml.metrics import mape  # noqa: E402
from ml.models import make  # noqa: E402

GRID = {"n_estimators": (500, 2000), "learning_rate": (0.02, 0.05, 0.1),
        "max_depth": (4, 6, 8), "subsample": (0.8, 1.0)}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--kernel", default="kmeans")
    p.add_argument("--samples", type=int, default=1000)
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "xgb_tuning.md")
    args = p.parse_args()
    started = time.monotonic()
    points = [dict(zip(GRID, values, strict=True)) for values in itertools.product(*GRID.values())]
    lines = []
    for mode, target in (("both", "residual"), ("raw", "log")):
        kernels = {seed: Kernel(args.kernel, seed, mode) for seed in args.seeds}
        column = core.residual_column(kernels[args.seeds[0]].used, target, "est_cycles")
        val_mape = np.zeros((len(points), len(args.seeds)))
        for j, seed in enumerate(args.seeds):
            kernel = kernels[seed]
            train, val = kernel.training(args.samples)
            for i, params in enumerate(points):
                model = make("xgb", target, seed, residual_column=column, **params)
                model.fit(kernel.X[train], kernel.cycles[train], None, None)
                val_mape[i, j] = mape(kernel.cycles[val], model.predict(kernel.X[val]))
            print(f"{mode}/{target} seed {seed}: best validation "
                  f"{val_mape[:, j].min():.2f}%", flush=True)
        mean = val_mape.mean(axis=1)
        best = int(np.argmin(mean))
        tests = []
        for seed in args.seeds:
            kernel = kernels[seed]
            train, _ = kernel.training(args.samples)
            model = make("xgb", target, seed, residual_column=column, **points[best])
            model.fit(kernel.X[train], kernel.cycles[train], None, None)
            tests.append(mape(kernel.cycles[kernel.test], model.predict(kernel.X[kernel.test])))
        ranked = np.argsort(mean)
        lines += [f"## Features {mode}, target {target}", "",
                  "| n_estimators | learning_rate | max_depth | subsample | validation MAPE "
                  "(mean over seeds) | spread (min..max) |", "|---|---|---|---|---|---|"]
        for i in ranked[:8]:
            q = points[i]
            lines.append(f"| {q['n_estimators']} | {q['learning_rate']} | {q['max_depth']} | "
                         f"{q['subsample']} | {mean[i]:.3f}% | {val_mape[i].min():.3f}.."
                         f"{val_mape[i].max():.3f}% |")
        lines += ["", f"Chosen: {points[best]}; its test MAPE, scored once: "
                  f"{np.mean(tests):.3f}% (seeds: {', '.join(f'{t:.3f}' for t in tests)}).", ""]
    commit = provenance.commit()
    head = ["# XGBoost hyperparameters chosen on validation data", "",
            f"Command: `python bench/xgb_tuning.py --kernel {args.kernel} --samples "
            f"{args.samples} --seeds {' '.join(map(str, args.seeds))}` (commit {commit}, "
            f"xgboost {version('xgboost-cpu')}, {time.monotonic() - started:.0f} s). "
            f"{len(points)} grid points; training / validation split of the first "
            f"{args.samples} pool points as in bench/models.py; the test set is scored only "
            "for the chosen point. Reference data: data/reference/"
            f"{args.kernel}.tabular.dat.gz.", ""]
    args.out.write_text("\n".join(head + lines))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
