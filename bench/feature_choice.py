"""The default features and target of ml.train / ml.explore, chosen on validation data.

    .venv/bin/python bench/feature_choice.py [--kernels kmeans,matmul,nw,backprop,stencil]
        [--samples 1000] [--seeds 0 1 2] [--models xgb,rf]

For each seed and kernel: the first SAMPLES points of the seed's pool order split into
training and validation as every benchmark splits them (bench/models.py); each candidate
(feature set raw / derived / both, target ln(cycles) or the correction to the profile's
estimate, for each model) is fitted on the training part and scored (MAPE on cycles) on the
validation part. The choice is the candidate with the lowest validation MAPE averaged over
kernels and seeds; the fixed held-out test set is scored once, for the chosen candidate
only. Writes bench/results/feature_choice.md.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]

import provenance  # noqa: E402  (bench/provenance.py)
from compare import spread  # noqa: E402
from models import Kernel  # noqa: E402

from ml import bundle as bundles  # noqa: E402
from ml import core  # noqa: E402
from ml.metrics import mape  # noqa: E402

CANDIDATES = (("raw", "log"), ("derived", "log"), ("derived", "residual"), ("both", "log"),
              ("both", "residual"))


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--kernels", default="kmeans,matmul,nw,backprop,stencil")
    p.add_argument("--samples", type=int, default=1000)
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--models", default="xgb,rf")
    p.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "feature_choice.md")
    args = p.parse_args()
    started = time.monotonic()
    kernels, models = args.kernels.split(","), args.models.split(",")
    candidates = [(m, mode, target) for m in models for mode, target in CANDIDATES]
    val = {c: {k: [] for k in kernels} for c in candidates}
    data = {}
    for seed in args.seeds:
        for name in kernels:
            for mode in dict.fromkeys(mode for mode, _ in CANDIDATES):
                data[seed, name, mode] = kernel = Kernel(name, seed, mode)
                train, valid = kernel.training(args.samples)
                for model_name, m, target in candidates:
                    if m != mode:
                        continue
                    model = fitted(model_name, target, seed, kernel, train)
                    val[model_name, m, target][name].append(
                        mape(kernel.cycles[valid], model.predict(kernel.X[valid])))
            print(f"seed {seed} {name}: done", flush=True)
    mean = {c: float(np.mean([np.mean(v) for v in val[c].values()])) for c in candidates}
    chosen = min(candidates, key=mean.get)
    tests = {name: [] for name in kernels}
    for seed in args.seeds:
        for name in kernels:
            kernel = data[seed, name, chosen[1]]
            train, _ = kernel.training(args.samples)
            model = fitted(chosen[0], chosen[2], seed, kernel, train)
            test = kernel.test
            tests[name].append(mape(kernel.cycles[test], model.predict(kernel.X[test])))
    commit = provenance.commit()
    lines = ["# Default features and target, chosen on validation data", "",
             f"Command: `python bench/feature_choice.py --kernels {args.kernels} --samples "
             f"{args.samples} --seeds {' '.join(map(str, args.seeds))} --models {args.models}`"
             f" (commit {commit}, {time.monotonic() - started:.0f} s; versions "
             f"{bundles.versions()}). Validation MAPE on cycles % (the validation part of "
             f"the first {args.samples} pool points, as in bench/models.py), mean over seeds "
             "(min..max); the last column averages the kernels. The test set is scored only "
             "for the chosen candidate.", "",
             "| model | features | target | " + " | ".join(kernels) + " | mean |",
             "|---|---|---|" + "---|" * (len(kernels) + 1)]
    for c in sorted(candidates, key=mean.get):
        lines.append(f"| {c[0]} | {c[1]} | {c[2]} | "
                     + " | ".join(spread(val[c][k]) for k in kernels) + f" | {mean[c]:.2f} |")
    lines += ["", f"Chosen: {chosen[0]}, features {chosen[1]}, target {chosen[2]}. Its test "
              "MAPE, scored once: " + ", ".join(f"{k} {spread(tests[k])}" for k in kernels)
              + ".", ""]
    args.out.write_text("\n".join(lines))
    print("\n".join(lines))
    return 0


def fitted(model_name: str, target: str, seed: int, kernel, train):
    column = core.residual_column(kernel.used, target, "est_cycles")
    model = core.new_model(model_name, target, seed, column)
    core.fit(model, kernel.X[train], kernel.cycles[train], None, None)
    return model


if __name__ == "__main__":
    sys.exit(main())
