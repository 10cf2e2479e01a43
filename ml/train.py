"""Train surrogate models of a study: ``python -m ml.train TABULAR [options]``.

Reads Dakota's tabular output (or CSV), drops failed evaluations, takes the features from
the study spec (--spec, or the run directory's spec.resolved.json beside TABULAR) or the
header, splits the points with a seed (54/16/30 by default, as in the Deffe paper; indices
saved), trains the chosen model(s) on ln(objective) and writes a model bundle per model:
the model, bundle.json, report.json (metrics per split, sample counts, epochs, seconds),
predictions.csv for the test split and PNG plots. The response is the spec's objective
unless --response names another. Error is reported as MAPE on the real objective (cycles,
seconds) first; the paper's LOSS on its logarithm is reported too. A 0/1 response (a
backend's binary response such as ``valid``) is learned by a classifier and reported as
accuracy.

The CLI is a thin parser over :func:`train` and its :class:`TrainConfig`.
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from driver.cli import Parser, number, run_cli, show_logs
from driver.errors import SpecError

from . import bundle as bundles
from . import core
from . import features as feature_sets
from .data import check_readable, read_table
from .domain import trained_parameters
from .errors import DataError
from .metrics import all_metrics
from .models import BASELINES, MODEL_NAMES
from .models.cnn import CNN
from .study import binary_response, objective, study_spec
from .transfer import align

TYPE_CHECKING = False  # annotations only
if TYPE_CHECKING:
    from driver.resolved import ResolvedSpec

logger = logging.getLogger(__name__)
TARGETS = ("log", "real", "residual")


@dataclass(frozen=True)
class TrainConfig:
    """Everything one training run needs; the CLI's options, typed. Paths may be None."""

    tabular: Path
    spec: Path | None = None
    response: str | None = None  # default: the spec's objective
    features: str = feature_sets.DEFAULT_MODE
    model: str | None = None  # default: cnn, or rf for a 0/1 response
    target: str = "auto"
    split: str = "54/16/30"
    test: Path | None = None
    hold_out: tuple[str, ...] = ()  # COLUMN=VALUE: those points are the test set
    train_size: int | None = None
    seed: int = 0
    # The CNN's keyword arguments (ml.models.cnn.CNN, plus members); unset: its defaults.
    cnn: dict = field(default_factory=dict)
    source: Path | None = None
    freeze: str = "conv"
    out: Path | None = None
    quiet: bool = False
    verbose: bool = False

    @classmethod
    def from_namespace(cls, ns: argparse.Namespace) -> TrainConfig:
        values = {f.name: getattr(ns, f.name) for f in fields(cls) if f.name != "cnn"}
        return cls(**{**values, "hold_out": tuple(values["hold_out"]),
                      "cnn": {name: getattr(ns, name) for name in CNN_OPTIONS}})

    @property
    def members(self) -> int:
        return self.cnn.get("members", 1)


# The CNN's hyperparameters this CLI sets: each option's dest is the CNN's keyword.
CNN_OPTIONS = ("epochs", "patience", "batch_size", "learning_rate", "loss", "filters",
               "kernel_size", "dense", "dropout", "weight_decay", "lr_decay", "members")


def widths(text: str) -> tuple[int, ...]:
    """An argparse ``type`` for --filters / --dense: comma-separated positive integers."""
    try:
        values = tuple(int(x) for x in text.split(","))
        ok = all(x >= 1 for x in values)
    except ValueError:
        ok = False
    if not ok:
        raise argparse.ArgumentTypeError(f"{text!r}: expected comma-separated positive "
                                         "integers, e.g. 32,64")
    return values


# With --from the network's shape is the source bundle's: these options cannot apply.
ARCHITECTURE_OPTIONS = {"filters": "--filters", "kernel_size": "--kernel-size",
                        "dense": "--dense", "dropout": "--dropout"}


def parse_args(argv=None) -> TrainConfig:
    p = Parser(prog="python -m ml.train", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("tabular", type=Path,
                   help="Dakota tabular file (annotated or custom-annotated) or CSV with a header")
    p.add_argument("--spec", type=Path, help="study spec naming the features, their roles and "
                   "transforms, and the objective (default: RUNDIR/spec.resolved.json beside "
                   "TABULAR; without one, the columns before the response in the header)")
    p.add_argument("--response", help="column to predict (default: the spec's objective; "
                   "required without a spec)")
    p.add_argument("--features", default=feature_sets.DEFAULT_MODE,
                   help="raw: the spec's parameters; derived: what the study's design-space "
                   "family computes for a point without evaluating it (needs a spec); both; "
                   "or the name of one of the family's derived sets (the spec's parameters "
                   "plus that set, e.g. schedule or cosa for accelerators); "
                   "auto: both when the family derives features, else raw (both was the most "
                   "accurate in bench/results/features.md)")
    p.add_argument("--model", choices=MODEL_NAMES + ("all",),
                   help="cnn: the Deffe 1-D CNN (the default); llr: LARS-Lasso; svr; rf: "
                   "random forest; knn; dt: decision tree; xgb: XGBoost; lr: linear "
                   "regression; mlp: multilayer perceptron (64, 32, 16, 4); all: every one "
                   "(baselines on log and real targets). A 0/1 response is learned by a "
                   "classifier (default rf; logistic regression for lr)")
    p.add_argument("--target", default="auto", choices=("auto",) + TARGETS,
                   help="what the model fits: log = ln(objective); real = the objective "
                   "(baselines only); residual = ln(objective / estimate), the correction to "
                   "the family's analytic estimate (needs derived features with one); auto = "
                   "residual when the features have the estimate, else log")
    p.add_argument("--split", default="54/16/30",
                   help="train/validation/test percentages, seeded")
    p.add_argument("--test", type=Path, help="a fixed held-out test set (tabular or CSV); "
                   "then --split only divides TABULAR into train and validation, and points "
                   "also in the test set are left out of training")
    p.add_argument("--hold-out", dest="hold_out", action="append", default=[],
                   metavar="COLUMN=VALUE", help="test on the points whose COLUMN is VALUE "
                   "(repeatable: any of them), train and validate on the rest: e.g. a layer, "
                   "an accelerator preset or a kernel never seen in training; --split then "
                   "divides the rest into train and validation")
    p.add_argument("--train-size", type=number(int, 2),
                   help="use only the first N training points")
    p.add_argument("--seed", type=int, default=0, help="seed of the split and the models")
    cnn = CNN().get_params()  # the defaults are the CNN's own

    def ints(name):  # a string default: argparse passes it through widths too
        return ",".join(map(str, cnn[name]))
    p.add_argument("--epochs", type=number(int), default=cnn["epochs"],
                   help="CNN: maximum epochs")
    p.add_argument("--patience", type=number(int, 0), default=cnn["patience"],
                   help="CNN: stop after this many epochs "
                   "without a better validation MAPE (the best weights are kept)")
    p.add_argument("--batch-size", type=number(int), default=cnn["batch_size"],
                   help="CNN: mini-batch size")
    p.add_argument("--learning-rate", type=number(float, None, above=0),
                   default=cnn["learning_rate"], help="CNN: Adam learning rate")
    p.add_argument("--loss", default=cnn["loss"], choices=("mse", "exp"),
                   help="CNN: mse on the standardised log of the response, or exp: the "
                   "paper's exponential-output loss, |exp(prediction) - y| / y")
    p.add_argument("--filters", type=widths, default=ints("filters"),
                   help="CNN: Conv1D filters per layer")
    p.add_argument("--kernel-size", type=number(int), default=cnn["kernel_size"],
                   help="CNN: Conv1D kernel size")
    p.add_argument("--dense", type=widths, default=ints("dense"),
                   help="CNN: dense layer widths")
    p.add_argument("--dropout", type=number(float, 0, below=1), default=cnn["dropout"],
                   help="CNN: dropout after each dense layer")
    p.add_argument("--weight-decay", type=number(float, 0), default=cnn["weight_decay"],
                   help="CNN: AdamW weight decay "
                   "(0: plain Adam)")
    p.add_argument("--no-lr-decay", dest="lr_decay", action="store_false",
                   help="CNN: keep the learning rate "
                   "fixed (default: halve it each time validation MAPE stalls for patience/4 "
                   "epochs)")
    p.add_argument("--members", type=number(int, 1, below=65), default=1,
                   help="CNN: train this many networks by cross-fitting (the training and "
                   "validation points cut into that many folds, each network early-stopping "
                   "on its own fold; their validation scores are then in-sample) and predict "
                   "with their geometric mean (bench/results/models_both_residual_ensemble.md: "
                   "5 networks against the baselines), for K times the training time")
    p.add_argument("--from", dest="source", type=Path,
                   help="transfer learning: start from this CNN bundle (another kernel's, or "
                   "the same kernel trained on fewer samples)")
    p.add_argument("--freeze", default="conv", choices=("conv", "none"),
                   help="with --from: conv freezes exactly the convolutional layers and "
                   "retrains the dense head; none warm-starts every layer")
    p.add_argument("--out", type=Path, help="output directory (default: model_<model>)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.add_argument("-v", "--verbose", action="store_true", help="show progress logs")
    ns = p.parse_args(argv)
    if ns.source is not None and ns.members != 1:
        p.error("--members: with --from the transferred network is one CNN; drop --members")
    if ns.source is not None:
        given = [flag for name, flag in ARCHITECTURE_OPTIONS.items()
                 if getattr(ns, name) != CNN().get_params()[name]]
        if given:
            p.error(f"{given[0]}: with --from the network's shape is the source model's; "
                    f"drop {' and '.join(given)}")
    return TrainConfig.from_namespace(ns)


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


def check_parameters_known(frame: pd.DataFrame, spec: ResolvedSpec, tabular: Path,
                           spec_path: Path) -> None:
    """A Dakota tabular file's variables (the columns after ``interface`` that are no
    response of the study's backend) must all be parameters of the spec: a model of a
    subset would take designs that differ in the others for one (and drop them as
    duplicates)."""

    if "interface" not in frame.columns:
        return  # CSV: its columns are the user's choice
    responses = set(spec.backend_class.response_names) | set(spec.responses)
    known = set(spec.names)
    after = list(frame.columns)[list(frame.columns).index("interface") + 1:]
    unknown = [c for c in after if c not in responses and c not in known]
    if unknown:
        raise DataError(f"{tabular}: variables {', '.join(unknown)} are not parameters of "
                        f"{spec_path} (it has {', '.join(sorted(known))}); pass the study's own "
                        "spec")


class Dataset:
    """Features and responses of the training table (and of the optional fixed test table).

    ``mode`` is the feature mode after ``auto`` was resolved; ``response`` the column
    learned; ``classify`` whether it is a 0/1 flag (a classifier learns it)."""

    def __init__(self, config: TrainConfig):
        check_readable(config.tabular)
        spec_path = study_spec(config.tabular, config.spec)
        self.mode = feature_sets.resolve_mode(config.features, spec_path)
        spec: ResolvedSpec | None = None
        if spec_path is not None:
            self.features, spec = feature_sets.load_spec_features(spec_path, self.mode)
        elif self.mode != "raw":
            raise DataError(f"--features {self.mode}: needs --spec (the study's family derives "
                            "the features from it)")
        self.response = objective(spec, config.response, str(config.tabular))
        self.table = read_table(config.tabular, self.response)
        if spec is not None and spec_path is not None:  # (a spec is read from spec_path)
            check_parameters_known(self.table.frame, spec, config.tabular, spec_path)
        if spec is None:
            self.features = feature_sets.from_header(self.table.frame, self.response,
                                                     config.tabular)
        self.spec, self.spec_hash = spec, bundles.spec_hash(spec)
        self.family = feature_sets.family_of(spec) if spec is not None else None
        self.inputs = core.Inputs(self.features, spec)
        self.table.frame = frame = self.inputs.with_derived(self.table.frame)
        self.X = self.inputs.encode(frame, str(config.tabular))
        self.y = frame[self.response].to_numpy(dtype=float)
        self.classify = binary_response(spec, self.response, self.y)
        if not self.classify and (self.y <= 0).any():
            raise DataError(f"{config.tabular}: column {self.response}: non-positive values "
                            "cannot be log-transformed; drop those rows or choose another "
                            "response")
        self.keep = core.distinct(self.X)
        self.duplicates = len(self.X) - len(self.keep)
        self.test = None
        if config.test:
            test_table, X_test, y_test = self.inputs.read(config.test, self.response)
            in_test = {row.tobytes() for row in X_test}
            self.keep = np.array([i for i in self.keep if self.X[i].tobytes() not in in_test])
            self.test = (X_test, y_test, test_table)

    def held_out(self, hold_out: tuple[str, ...]) -> np.ndarray:
        """Whether each row matches one of ``hold_out`` (COLUMN=VALUE), shape (rows,)."""
        frame = self.table.frame
        mask = np.zeros(len(frame), dtype=bool)
        for item in hold_out:
            column, sep, value = item.partition("=")
            if not sep or column not in frame.columns:
                raise DataError(f"--hold-out {item!r}: expected COLUMN=VALUE with a column of "
                                f"{self.table.path} ({', '.join(map(str, frame.columns))})")
            match = frame[column].astype(str).to_numpy() == value
            if not match.any() and pd.api.types.is_numeric_dtype(frame[column]):
                try:
                    match = np.isclose(frame[column].to_numpy(dtype=float), float(value))
                except ValueError:
                    pass
            if not match.any():
                raise DataError(f"--hold-out {item!r}: no point of {self.table.path} has "
                                f"{column} = {value}")
            mask |= match
        return mask

    def split(self, fractions, seed: int, train_size: int | None,
              hold_out: tuple[str, ...] = ()) -> dict[str, np.ndarray]:
        order = np.random.default_rng(seed).permutation(self.keep)
        train_frac, val_frac, _ = fractions
        if hold_out:
            if self.test is not None:
                raise DataError("--hold-out and --test both name a test set; give one")
            held = self.held_out(hold_out)
            rest, test = order[~held[order]], order[held[order]]
            n_val = int(round(len(rest) * val_frac / (train_frac + val_frac)))
            parts = {"val": rest[:n_val], "train": rest[n_val:], "test": test}
        elif self.test is not None:
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

    def groups(self, parts, name) -> np.ndarray | None:
        """The family's comparison group of each point of a part (None: no groups)."""
        names = self.family.comparison_groups() if self.family is not None else ()
        frame = (self.test[2].frame if name == "test" and self.test is not None
                 else self.table.frame.iloc[parts[name]])
        present = [c for c in names if c in frame.columns]
        if not names:
            return None
        if not present:  # one group: everything fixed but the schedule
            return np.zeros(len(frame), dtype=int)
        return frame[present].astype(str).agg("/".join, axis=1).to_numpy()

    def arrays(self, parts, name):
        if name == "test" and self.test is not None:
            return self.test[0], self.test[1]
        return self.X[parts[name]], self.y[parts[name]]


def evaluate(model, data: Dataset, parts, features: int) -> dict:
    from .metrics import classification_metrics

    out = {}
    for name in ("train", "val", "test"):
        X, y = data.arrays(parts, name)
        if len(y):
            predicted = model.predict(X)
            out[name] = (classification_metrics(y, predicted) if data.classify
                         else all_metrics(y, predicted, features, data.groups(parts, name)))
    return out


def write_outputs(out: Path, model, data: Dataset, parts, history, features_used, meta) -> dict:
    from . import plots

    bundles.save(out, model, features_used, meta)
    X_test, y_test = data.arrays(parts, "test")
    report = {"model": model.label, "metrics": evaluate(model, data, parts, X_test.shape[1]),
              **meta, "epochs": history.get("epochs", 0),
              "best_epoch": history.get("best_epoch"),
              "training_seconds": history.get("seconds")}
    (out / "report.json").write_text(json.dumps(report, indent=1) + "\n")
    if "val_mape_pct" in history:
        (out / "history.json").write_text(json.dumps(history) + "\n")
        plots.learning_curve(history, out / "learning_curve.png", f"{model.label}: learning curve")
    if len(y_test):
        predicted = model.predict(X_test)
        response = data.response
        frame = pd.DataFrame(X_test, columns=features_used.columns)
        frame[response] = y_test
        frame[f"predicted_{response}"] = predicted
        if not data.classify:
            frame["error_pct"] = (predicted - y_test) / y_test * 100
            plots.parity(y_test, predicted, out / "parity.png", f"{model.label}: test split",
                         response)
            plots.error_histogram(y_test, predicted, out / "errors.png",
                                  f"{model.label}: test split errors")
        frame.to_csv(out / "predictions.csv", index=False)
    return report


def estimate_of(data: Dataset) -> str | None:
    return data.family.estimate_column(data.response) if data.family is not None else None


def _jobs(config: TrainConfig, model: str, target: str,
          classify: bool) -> list[tuple[str, str]]:
    """(model name, target) per model to train."""
    from .models import CLASSIFIERS

    if classify:
        names = list(CLASSIFIERS) if model == "all" else [model]
        if config.source is not None:
            raise DataError(f"--from {config.source}: transfer learning is for regression")
        return [(n, "class") for n in names]
    names = list(MODEL_NAMES) if model == "all" else [model]
    jobs = [(n, "log" if target == "real" and n == "cnn" else target) for n in names]
    if model == "all" and target == "log":
        jobs += [(n, "real") for n in BASELINES]
    return jobs


def train(config: TrainConfig, report: Callable[[str], None] = logger.info) -> dict:
    """Train the configured model(s); write a bundle each; return {label: report}.
    ``report`` gets each model's result line (the CLI prints them)."""
    fractions = split_fractions(config.split)
    data = Dataset(config)
    model_name = config.model or ("rf" if data.classify else "cnn")
    source = bundles.load(config.source) if config.source else None
    if source is not None and model_name != "cnn":
        raise DataError(f"--from {config.source}: transfer learning is for --model cnn")
    features_used = data.features
    if source is not None:
        assert config.source is not None  # the bundle was loaded from it
        features_used, order = align(source.features, data.features, config.source)
        data.X = data.X[:, order]
        if data.test is not None:
            data.test = (data.test[0][:, order],) + data.test[1:]
    parts = data.split(fractions, config.seed, config.train_size, config.hold_out)
    target = "class" if data.classify else core.resolve_target(config.target, features_used,
                                                               estimate_of(data))
    residual_column = core.residual_column(features_used, target, estimate_of(data))
    cnn = {**config.cnn, "progress": not config.quiet}
    jobs = _jobs(config, model_name, target, data.classify)
    out_root = config.out or Path(f"model_{model_name}")
    meta: dict[str, Any]  # bundle.json's description, added to below
    meta = {"tabular": str(config.tabular), "response": data.response, "seed": config.seed,
            "feature_mode": data.mode, "target": target,
            "split": config.split, "spec_hash": data.spec_hash,
            "parameters": trained_parameters(data.spec),
            "samples": {"rows": len(data.table.frame) + data.table.failed,
                        "failed_dropped": data.table.failed,
                        "duplicates_dropped": data.duplicates,
                        **{k: int(len(v)) for k, v in parts.items()}},
            "test_file": str(config.test) if config.test else None,
            "hold_out": list(config.hold_out)}
    if data.test is not None:
        meta["samples"]["test"] = len(data.test[1])
    if model_name == "cnn" and config.members > 1:
        # cross-fitted: every training and validation point trained all networks but one
        meta.update(members=config.members, validation_in_sample=True)
    split_file = {k: v.tolist() for k, v in parts.items()}
    reports = {}
    for name, job_target in jobs:
        out = out_root / (f"{name}-{job_target}" if job_target in ("real", "class") else name) \
            if len(jobs) > 1 else out_root
        X_train, y_train = data.arrays(parts, "train")
        X_val, y_val = data.arrays(parts, "val")
        keep_scalers, model_meta = False, dict(meta)
        if source is not None:
            model, keep_scalers, model_meta["transfer"] = core.from_source(
                source, data.features, config.source, config.freeze, cnn, job_target,
                residual_column)
        else:
            model = core.new_model(name, job_target, config.seed, residual_column, cnn)
        history = core.fit(model, X_train, y_train, X_val, y_val, keep_scalers)
        result = write_outputs(out, model, data, parts, history, features_used, model_meta)
        (out / "splits.json").write_text(json.dumps(split_file) + "\n")
        reports[model.label] = result
        test = result["metrics"].get("test", {})
        if test and data.classify:
            report(f"{model.label:9s} test accuracy {test['accuracy_pct']:6.2f}%  balanced "
                  f"{test['balanced_accuracy_pct']:6.2f}%  ({history['seconds']:.1f} s) -> {out}")
        elif test:
            report(f"{model.label:9s} test MAPE {test['mape_pct']:6.2f}%  ln-LOSS "
                  f"{test['ln_loss_pct']:6.3f}%  R2 {test['r2']:.4f}  within 10% "
                  f"{test['within_10pct']:5.1f}%  ({history.get('epochs', 0)} epochs, "
                  f"{history['seconds']:.1f} s) -> {out}")
    if len(jobs) > 1:
        (out_root / "report.json").write_text(json.dumps(reports, indent=1) + "\n")
    return reports


def main(argv=None) -> int:
    config = parse_args(argv)
    show_logs(config.verbose)

    def body() -> None:  # the reports are printed; the exit status is 0
        train(config, report=print)

    return run_cli("ml.train", body, (DataError, SpecError))


if __name__ == "__main__":
    sys.exit(main())
