"""Train surrogate models of a study: ``python -m ml.train TABULAR [options]``.

Reads Dakota's tabular output (or CSV), drops failed evaluations, takes the features from
the study spec (--spec) or the header, splits the points with a seed (54/16/30 by default,
as in the Deffe paper; indices saved), trains the chosen model(s) on ln(cycles) and writes
a model bundle per model: the model, bundle.json, report.json (metrics per split, sample
counts, epochs, seconds), predictions.csv for the test split and PNG plots. Error is
reported as MAPE on real cycles first; the paper's LOSS on ln(cycles) is reported too.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from . import bundle as bundles
from . import features as feature_sets
from .data import read_table
from .errors import DataError
from .metrics import all_metrics
from .models import BASELINES, MODEL_NAMES, make
from .models.residual import ESTIMATE, Residual
from .transfer import align, prepare_transfer

TARGETS = ("log", "real", "residual")


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m ml.train", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("tabular", type=Path,
                   help="Dakota tabular file (annotated or custom-annotated) or CSV with a header")
    p.add_argument("--spec", type=Path, help="study spec naming the features, their roles and "
                   "transforms (default: the columns before the response in the header)")
    p.add_argument("--response", default="cycles", help="column to predict")
    p.add_argument("--features", default=feature_sets.DEFAULT_MODE,
                   choices=("auto",) + feature_sets.FEATURE_MODES,
                   help="raw: the spec's parameters; derived: workload-aware estimates from "
                   "one profiling run per workload point (sets, footprint ratios, estimated "
                   "misses and cycles; needs --spec and the study's program); both; auto: "
                   "both with a --spec whose program can be profiled, else raw (both was the "
                   "most accurate in bench/results/features.md)")
    p.add_argument("--model", default="cnn", choices=MODEL_NAMES + ("all",),
                   help="cnn: the Deffe 1-D CNN; llr: LARS-Lasso; svr; rf: random forest; knn; "
                   "dt: decision tree; xgb: XGBoost; all: every one (baselines on log and "
                   "real targets)")
    p.add_argument("--target", default="auto", choices=("auto",) + TARGETS,
                   help="what the model fits: log = ln(cycles); real = cycles (baselines "
                   "only); residual = ln(cycles / est_cycles), the correction to the profile's "
                   "own estimate (needs --features derived or both); auto = residual when "
                   "the features have the estimate, else log")
    p.add_argument("--split", default="54/16/30",
                   help="train/validation/test percentages, seeded")
    p.add_argument("--test", type=Path, help="a fixed held-out test set (tabular or CSV); "
                   "then --split only divides TABULAR into train and validation, and points "
                   "also in the test set are left out of training")
    p.add_argument("--train-size", type=int, help="use only the first N training points")
    p.add_argument("--seed", type=int, default=0, help="seed of the split and the models")
    p.add_argument("--epochs", type=int, default=1000, help="CNN: maximum epochs")
    p.add_argument("--patience", type=int, default=50, help="CNN: stop after this many epochs "
                   "without a better validation MAPE (the best weights are kept)")
    p.add_argument("--batch-size", type=int, default=64, help="CNN: mini-batch size")
    p.add_argument("--learning-rate", type=float, default=1e-3, help="CNN: Adam learning rate")
    p.add_argument("--loss", default="mse", choices=("mse", "exp"),
                   help="CNN: mse on standardised ln(cycles), or exp: the paper's "
                   "exponential-output loss, |exp(prediction) - cycles| / cycles")
    p.add_argument("--filters", default="32,64", help="CNN: Conv1D filters per layer")
    p.add_argument("--kernel-size", type=int, default=3, help="CNN: Conv1D kernel size")
    p.add_argument("--dense", default="256,128", help="CNN: dense layer widths")
    p.add_argument("--dropout", type=float, default=0.2, help="CNN: dropout after each dense layer")
    p.add_argument("--weight-decay", type=float, default=0.0, help="CNN: AdamW weight decay "
                   "(0: plain Adam)")
    p.add_argument("--no-lr-decay", action="store_true", help="CNN: keep the learning rate "
                   "fixed (default: halve it each time validation MAPE stalls for patience/4 "
                   "epochs)")
    p.add_argument("--from", dest="source", type=Path,
                   help="transfer learning: start from this CNN bundle (another kernel's, or "
                   "the same kernel trained on fewer samples)")
    p.add_argument("--freeze", default="conv", choices=("conv", "none"),
                   help="with --from: conv freezes exactly the convolutional layers and "
                   "retrains the dense head; none warm-starts every layer")
    p.add_argument("--out", type=Path, help="output directory (default: model_<model>)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    return p.parse_args(argv)


def split_fractions(text: str, where: str = "--split") -> tuple[float, float, float]:
    try:
        parts = [float(x) for x in text.split("/")]
    except ValueError:
        parts = []
    if len(parts) != 3 or min(parts) < 0 or parts[0] <= 0 or parts[1] <= 0:
        raise DataError(f"{where}: {text!r}: expected TRAIN/VALIDATION/TEST percentages, "
                        "e.g. 54/16/30")
    total = sum(parts)
    return parts[0] / total, parts[1] / total, parts[2] / total


class Dataset:
    """Features and cycles of the training table (and the optional fixed test table)."""

    def __init__(self, args: argparse.Namespace):
        self.table = read_table(args.tabular, args.response)
        spec = None
        args.features = feature_sets.resolve_mode(args.features, args.spec)
        if args.spec:
            self.features, spec = feature_sets.load_spec_features(args.spec, args.features)
        elif args.features != "raw":
            raise DataError(f"--features {args.features}: needs --spec (the study's program "
                            "is profiled to derive the features)")
        else:
            self.features = feature_sets.from_header(self.table.frame, args.response,
                                                     args.tabular)
        self.spec, self.spec_hash = spec, bundles.spec_hash(spec)
        if feature_sets.needs_derived(self.features):
            from .derived import add_derived

            self.table.frame = add_derived(self.table.frame, spec)
        frame = self.table.frame
        self.X = self.features.matrix(frame, str(args.tabular))
        self.cycles = frame[args.response].to_numpy(dtype=float)
        if (self.cycles <= 0).any():
            raise DataError(f"{args.tabular}: column {args.response}: non-positive values "
                            "cannot be log-transformed; drop those rows or choose another "
                            "response")
        # Random sampling repeats points: keep each once, so none is both trained and tested.
        _, first = np.unique(self.X, axis=0, return_index=True)
        self.keep = np.sort(first)
        self.duplicates = len(self.X) - len(self.keep)
        self.test = None
        if args.test:
            test_table = read_table(args.test, args.response)
            if feature_sets.needs_derived(self.features):
                from .derived import add_derived

                test_table.frame = add_derived(test_table.frame, spec)
            X_test = self.features.matrix(test_table.frame, str(args.test))
            cycles_test = test_table.frame[args.response].to_numpy(dtype=float)
            in_test = {row.tobytes() for row in X_test}
            self.keep = np.array([i for i in self.keep if self.X[i].tobytes() not in in_test])
            self.test = (X_test, cycles_test, test_table)

    def split(self, fractions, seed: int, train_size: int | None) -> dict[str, np.ndarray]:
        order = np.random.default_rng(seed).permutation(self.keep)
        train_frac, val_frac, _ = fractions
        if self.test is not None:
            n_val = int(round(len(order) * val_frac / (train_frac + val_frac)))
            parts = {"val": order[:n_val], "train": order[n_val:], "test": np.array([], int)}
        else:
            n_train = int(round(len(order) * train_frac))
            n_val = int(round(len(order) * val_frac))
            parts = {"train": order[:n_train], "val": order[n_train:n_train + n_val],
                     "test": order[n_train + n_val:]}
        if train_size:
            parts["train"] = parts["train"][:train_size]
        for name in ("train", "val"):
            if len(parts[name]) < 2:
                raise DataError(f"{self.table.path}: only {len(parts[name])} {name} points "
                                f"after the split; need more finished evaluations")
        return parts

    def arrays(self, parts, name):
        if name == "test" and self.test is not None:
            return self.test[0], self.test[1]
        return self.X[parts[name]], self.cycles[parts[name]]


def cnn_options(args) -> dict:
    def ints(text, flag):
        try:
            return tuple(int(x) for x in text.split(",") if x)
        except ValueError:
            raise DataError(f"{flag}: {text!r}: expected comma-separated integers") from None
    return {"epochs": args.epochs, "patience": args.patience, "batch_size": args.batch_size,
            "learning_rate": args.learning_rate, "loss": args.loss,
            "filters": ints(args.filters, "--filters"), "kernel_size": args.kernel_size,
            "dense": ints(args.dense, "--dense"), "dropout": args.dropout,
            "weight_decay": args.weight_decay, "lr_decay": not args.no_lr_decay,
            "progress": not args.quiet}


def evaluate(model, data: Dataset, parts, features: int) -> dict:
    out = {}
    for name in ("train", "val", "test"):
        X, cycles = data.arrays(parts, name)
        if len(cycles):
            out[name] = all_metrics(cycles, model.predict(X), features)
    return out


def write_outputs(out: Path, model, data: Dataset, parts, history, features_used, meta) -> dict:
    from . import plots

    bundles.save(out, model, features_used, meta)
    X_test, cycles_test = data.arrays(parts, "test")
    report = {"model": model.label, "metrics": evaluate(model, data, parts, X_test.shape[1]),
              **meta, "epochs": history.get("epochs", 0),
              "best_epoch": history.get("best_epoch"),
              "training_seconds": history.get("seconds")}
    (out / "report.json").write_text(json.dumps(report, indent=1) + "\n")
    if "val_mape_pct" in history:
        (out / "history.json").write_text(json.dumps(history) + "\n")
        plots.learning_curve(history, out / "learning_curve.png", f"{model.label}: learning curve")
    if len(cycles_test):
        predicted = model.predict(X_test)
        frame = pd.DataFrame(X_test, columns=features_used.names)
        frame["cycles"] = cycles_test
        frame["predicted_cycles"] = predicted
        frame["error_pct"] = (predicted - cycles_test) / cycles_test * 100
        frame.to_csv(out / "predictions.csv", index=False)
        plots.parity(cycles_test, predicted, out / "parity.png", f"{model.label}: test split")
        plots.error_histogram(cycles_test, predicted, out / "errors.png",
                              f"{model.label}: test split errors")
    return report


def resolve_target(requested: str, features: feature_sets.FeatureSet) -> str:
    """The --target to use: auto means residual when the features carry the estimate."""
    has_estimate = ESTIMATE in features.names
    if requested == "auto":
        return "residual" if has_estimate else "log"
    if requested == "residual" and not has_estimate:
        raise DataError("--target residual: the model needs the profile's estimate "
                        f"({ESTIMATE}); use --features derived or both")
    return requested


def run(args: argparse.Namespace) -> dict:
    fractions = split_fractions(args.split)
    data = Dataset(args)
    source = bundles.load(args.source) if args.source else None
    if source is not None and args.model != "cnn":
        raise DataError(f"--from {args.source}: transfer learning is for --model cnn")
    features_used = data.features
    if source is not None:
        features_used, order = align(source.features, data.features, args.source)
        data.X = data.X[:, order]
        if data.test is not None:
            data.test = (data.test[0][:, order],) + data.test[1:]
    parts = data.split(fractions, args.seed, args.train_size)
    target = resolve_target(args.target, features_used)
    residual_column = (features_used.names.index(ESTIMATE) if target == "residual" else None)
    names = list(MODEL_NAMES) if args.model == "all" else [args.model]
    jobs = [(n, "log" if target == "real" and n == "cnn" else target) for n in names]
    if args.model == "all" and target == "log":
        jobs += [(n, "real") for n in BASELINES]
    out_root = args.out or Path(f"model_{args.model}")
    meta = {"tabular": str(args.tabular), "response": args.response, "seed": args.seed,
            "feature_mode": args.features, "target": target,
            "split": args.split, "spec_hash": data.spec_hash,
            "samples": {"rows": len(data.table.frame) + data.table.failed,
                        "failed_dropped": data.table.failed,
                        "duplicates_dropped": data.duplicates,
                        **{k: int(len(v)) for k, v in parts.items()}},
            "test_file": str(args.test) if args.test else None}
    if data.test is not None:
        meta["samples"]["test"] = len(data.test[1])
    split_file = {k: v.tolist() for k, v in parts.items()}
    reports = {}
    for name, target in jobs:
        out = out_root / (f"{name}-real" if target == "real" else name) \
            if len(jobs) > 1 else out_root
        start = time.monotonic()
        X_train, y_train = data.arrays(parts, "train")
        X_val, y_val = data.arrays(parts, "val")
        if source is not None:
            model, keep_scalers, transfer = prepare_transfer(source, data.features, args)
            if target == "residual":
                model = Residual(model, residual_column)
            history = model.fit(X_train, y_train, X_val, y_val, keep_scalers=keep_scalers)
            model_meta = {**meta, "transfer": transfer}
        else:
            model = make(name, target, args.seed, residual_column=residual_column,
                         **(cnn_options(args) if name == "cnn" else {}))
            history = model.fit(X_train, y_train, X_val, y_val)
            model_meta = dict(meta)
        history.setdefault("seconds", time.monotonic() - start)
        report = write_outputs(out, model, data, parts, history, features_used, model_meta)
        (out / "splits.json").write_text(json.dumps(split_file) + "\n")
        reports[model.label] = report
        test = report["metrics"].get("test", {})
        if test:
            print(f"{model.label:9s} test MAPE {test['mape_pct']:6.2f}%  ln-LOSS "
                  f"{test['ln_loss_pct']:6.3f}%  R2 {test['r2']:.4f}  within 10% "
                  f"{test['within_10pct']:5.1f}%  ({history.get('epochs', 0)} epochs, "
                  f"{history['seconds']:.1f} s) -> {out}")
    if len(jobs) > 1:
        (out_root / "report.json").write_text(json.dumps(reports, indent=1) + "\n")
    return reports


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        run(args)
    except DataError as err:
        print(f"ml.train: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
