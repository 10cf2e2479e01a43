"""A surrogate that learns the correction to an analytic estimate of the objective: it
fits y / estimate and predicts estimate x that ratio, the estimate being
``2 ** X[:, column]`` (the column holds log2 of the estimate that the design-space family
computes for each point, in the objective's unit, e.g. cycles or seconds). The estimate
carries what is known for sure, so the inner model only learns what is left; when the
estimate is smooth in the inputs, so is the ratio, and the model also holds between the
training points."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .base import Surrogate


class Residual(Surrogate):
    target = "residual"

    def __init__(self, inner: Surrogate, column: int):
        """``inner``: a regression model of target log (it fits ln(y / estimate));
        ``column``: index of the log2 estimate in X."""
        self.inner, self.column = inner, column
        self.name = inner.name

    def estimate(self, X: np.ndarray) -> np.ndarray:
        """The analytic estimate of each point, 2 ** X[:, column], shape (points,)."""
        return np.exp2(np.asarray(X[:, self.column], dtype=float))

    def warm_start(self, **params) -> Residual:
        """The inner model continues from its weights (:meth:`Surrogate.warm_start`)."""
        self.inner.warm_start(**params)
        return self

    def fit(self, X, y, X_val, y_val, **options) -> dict:
        """Fit the inner model on y / estimate (``options`` go to its fit, e.g. the
        CNN's keep_scalers)."""
        ratio_val = None if X_val is None else y_val / self.estimate(X_val)
        return self.inner.fit(X, y / self.estimate(X), X_val, ratio_val, **options)

    def predict(self, X) -> np.ndarray:
        return self.inner.predict(X) * self.estimate(X)

    def predict_spread(self, X):
        return self.inner.predict_spread(X)  # ln units: the same for the ratio and y

    def save(self, directory: Path) -> dict:
        return {**self.inner.save(directory), "residual_column": self.column}

    @staticmethod
    def split_state(state: dict) -> tuple[dict, int]:
        """(the inner model's saved state, the estimate's column) of a saved residual model:
        the registry (:func:`ml.models.load`) loads the inner model and wraps it."""
        return {k: v for k, v in state.items() if k != "residual_column"}, \
            int(state["residual_column"])
