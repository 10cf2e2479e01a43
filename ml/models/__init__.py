"""Surrogate models behind one fit/predict interface (:class:`ml.models.base.Surrogate`).

``REGISTRY`` maps a ``--model`` name to the classes that implement it per task
(regression, classification), as ``"module:Class"`` paths imported on use, so that
importing this package imports neither TensorFlow nor scikit-learn. :func:`make` builds a
new model from the registry and :func:`load` a saved one (what :func:`ml.bundle.load`
calls); the CNN and the baselines are interchangeable in training, transfer and
reporting code.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path

from ..errors import DataError
from .base import TASKS, Surrogate

# Order matters: benchmarks and `--model all` list the models in this order.
BASELINES = ("llr", "svr", "rf", "knn", "dt", "xgb", "lr", "mlp")
MODEL_NAMES = ("cnn",) + BASELINES
# Names with a classifier (``make(name, "class", seed)``); "svr" is a support-vector
# classifier and "lr" logistic regression.
CLASSIFIERS = ("rf", "xgb", "knn", "dt", "lr", "mlp", "svr")
REGRESSION_TARGETS = ("log", "real", "residual")
CLASSIFICATION_TARGET = "class"


@dataclass(frozen=True)
class Entry:
    """One registered model name: its classes per task (``"module:Class"``, relative to
    this package; None where the task is not supported) and its regression targets."""

    regressor: str
    classifier: str | None
    regression_targets: tuple[str, ...]


_BASELINE = ".baselines:Baseline"
_CLASSIFIER = ".classifiers:Classifier"
REGISTRY: dict[str, Entry] = {
    # The CNN always fits ln(y); a real target trains the same network (ml.train).
    "cnn": Entry(".cnns:CNNs", None, ("log", "residual")),
    **{name: Entry(_BASELINE, _CLASSIFIER if name in CLASSIFIERS else None,
                   REGRESSION_TARGETS) for name in BASELINES},
}


def _entry(name: str) -> Entry:
    if name not in REGISTRY:
        raise DataError(f"unknown model {name!r}; known: {', '.join(REGISTRY)}")
    return REGISTRY[name]


def _class(path: str) -> type[Surrogate]:
    module, _, attribute = path.partition(":")
    return getattr(importlib.import_module(module, __name__), attribute)


def targets_for(name: str, task: str = "regression") -> tuple[str, ...]:
    """The targets ``make(name, target, ...)`` accepts for ``task`` (regression: log,
    real, residual as supported; classification: ("class",) or () without a
    classifier). DataError for an unknown name or task."""
    entry = _entry(name)
    if task not in TASKS:
        raise DataError(f"unknown task {task!r}; known: {', '.join(TASKS)}")
    if task == "classification":
        return (CLASSIFICATION_TARGET,) if entry.classifier else ()
    return entry.regression_targets


def make(name: str, target: str, seed: int, residual_column: int | None = None,
         **options) -> Surrogate:
    """A new, untrained model. ``target``: log (fit ln y), real (fit y), residual (fit
    ln(y / estimate), the estimate being log2 in X[:, residual_column]) or class (a
    classifier of integer labels); y is the objective (e.g. cycles or seconds).
    ``options``: the model's hyperparameters (keyword arguments of its class)."""
    entry = _entry(name)
    if target == CLASSIFICATION_TARGET:
        if entry.classifier is None:
            raise DataError(f"model {name!r} has no classifier; classifiers: "
                            f"{', '.join(CLASSIFIERS)}")
        return _class(entry.classifier).create(name, target, seed, **options)
    if target not in REGRESSION_TARGETS:
        raise DataError(f"unknown target {target!r}; known: "
                        f"{', '.join(REGRESSION_TARGETS + (CLASSIFICATION_TARGET,))}")
    if target == "residual":
        from .residual import Residual

        if residual_column is None:
            raise DataError(f"model {name}: the residual target needs residual_column, "
                            "the column of X holding log2 of the estimate")
        return Residual(make(name, "log", seed, **options), residual_column)
    return _class(entry.regressor).create(name, target, seed, **options)


def load(directory: str | Path, state: object) -> Surrogate:
    """The model saved in ``directory`` whose ``save()`` returned ``state`` (bundle.json's
    "state"): the class from the registry by the state's name and task (classification
    when its target is "class"); a residual model when it has "residual_column".
    DataError for an unknown name; the model's own load errors pass through."""
    directory = Path(directory)
    if not isinstance(state, dict) or not isinstance(state.get("name"), str):
        raise DataError("the model state has no model name")
    if state.get("residual_column") is not None:
        from .residual import Residual

        inner, column = Residual.split_state(state)
        return Residual(load(directory, inner), column)
    entry = _entry(state["name"])
    classification = (state.get("task") == "classification"
                      or state.get("target") == CLASSIFICATION_TARGET)
    path = entry.classifier if classification else entry.regressor
    if path is None:
        raise DataError(f"model {state['name']!r} has no classifier")
    return _class(path).load(directory, state)


__all__ = ["BASELINES", "CLASSIFIERS", "MODEL_NAMES", "REGISTRY", "REGRESSION_TARGETS",
           "TASKS", "Entry", "Surrogate", "load", "make", "targets_for"]
