"""The surrogate-model contract: fit on features, predict a response.

Shapes and units: ``X`` is float32 of shape (points, features), already transformed by
:class:`ml.features.FeatureSet` (e.g. log2 of sizes); ``y`` is float of shape (points,).
For a regression model ``y`` is the objective in its own unit (e.g. cycles or seconds,
never logs; positive for the log and residual targets); for a classification model it
holds integer class labels (e.g. a 0/1 ``valid`` flag) stored as floats. Each model
handles its own input and target scaling, so that a saved model predicts from the same
``X`` it was trained on.
"""
from __future__ import annotations

import inspect
from pathlib import Path
from typing import Self

import numpy as np

TASKS = ("regression", "classification")


class Surrogate:
    name: str = ""
    # What the model fits: log = ln(y), real = y, residual = ln(y / an analytic estimate
    # of y) (:mod:`ml.models.residual`), class = class labels (a classifier).
    target: str = "log"
    # regression: predict() returns the objective; classification: class labels.
    task: str = "regression"

    @property
    def label(self) -> str:
        return self.name if self.target == "log" else f"{self.name}-{self.target}"

    @classmethod
    def create(cls, name: str, target: str, seed: int, **options) -> Surrogate:
        """A new, untrained model (what :func:`ml.models.make` calls); ``options`` are
        the model's hyperparameters, as keyword arguments of its ``__init__``."""
        raise NotImplementedError

    def get_params(self) -> dict:
        """The hyperparameters, scikit-learn style: the named keyword arguments of
        ``__init__``, each kept as the attribute of its name, so that
        ``type(m)(**m.get_params())`` builds an untrained copy."""
        signature = inspect.signature(type(self).__init__).parameters.values()
        return {p.name: getattr(self, p.name) for p in signature if p.name != "self"
                and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)}

    def set_params(self, **params) -> Self:
        """Change hyperparameters (names of :meth:`get_params`); DataError for another."""
        from ..errors import DataError

        unknown = sorted(set(params) - set(self.get_params()))
        if unknown:
            raise DataError(f"model {self.label}: unknown hyperparameter(s) "
                            f"{', '.join(unknown)}; known: {', '.join(self.get_params())}")
        for name, value in params.items():
            setattr(self, name, value)
        return self

    def warm_start(self, **params) -> Surrogate:
        """Make the next ``fit`` continue from what this model learned, ``params``
        changing how it trains (e.g. epochs, seed). Only models with weights can."""
        from ..errors import DataError

        raise DataError(f"model {self.label}: cannot warm-start; only the CNN can")

    def fit(self, X: np.ndarray, y: np.ndarray, X_val: np.ndarray | None,
            y_val: np.ndarray | None) -> dict:
        """Train on ``X`` (points, features) and ``y`` (points,); the validation split
        (may be None for models that do not use one) has the same layout. Return a
        history dict (at least ``epochs``; per-epoch lists if any)."""
        raise NotImplementedError

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Predicted objective (regression) or class label (classification), float of
        shape (points,)."""
        raise NotImplementedError

    def predict_spread(self, X: np.ndarray) -> np.ndarray | None:
        """Uncertainty per point (ln units: disagreement of an ensemble), or None."""
        return None

    def predict_proba(self, X: np.ndarray) -> np.ndarray | None:
        """Classification: probability of the positive (largest) class, float of shape
        (points,) in [0, 1]; None for regression models or classifiers without one."""
        return None

    def save(self, directory: Path) -> dict:
        """Write the model's files into ``directory``; return what load() needs (a JSON
        object with at least ``file`` and ``name``)."""
        raise NotImplementedError

    @classmethod
    def load(cls, directory: Path, state: dict) -> Surrogate:
        raise NotImplementedError
