"""A surrogate that learns the correction to the profile's own estimate: it fits
cycles / est_cycles (the workload-aware features' analytic cycle count, :mod:`ml.derived`)
and predicts est_cycles x that ratio. The estimate carries what the features know for
sure (exact L1 misses, instruction count), so the model only learns what is left: the L2,
write-backs, interactions. Smooth in the workload size, it also holds between sizes."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .base import Surrogate

ESTIMATE = "est_cycles"  # column of X holding log2(estimated cycles)


class Residual(Surrogate):
    target = "residual"

    def __init__(self, inner: Surrogate, column: int):
        self.inner, self.column = inner, column
        self.name = inner.name

    def _estimate(self, X: np.ndarray) -> np.ndarray:
        return np.exp2(np.asarray(X[:, self.column], dtype=float))

    def fit(self, X, cycles, X_val, cycles_val, **options) -> dict:
        ratio_val = None if X_val is None else cycles_val / self._estimate(X_val)
        return self.inner.fit(X, cycles / self._estimate(X), X_val, ratio_val, **options)

    def predict(self, X) -> np.ndarray:
        return self.inner.predict(X) * self._estimate(X)

    def predict_spread(self, X):
        return self.inner.predict_spread(X)  # ln units: the same for ratio and cycles

    def save(self, directory: Path) -> dict:
        return {**self.inner.save(directory), "residual_column": self.column}

    @classmethod
    def load(cls, directory: Path, state: dict) -> Surrogate:
        raise NotImplementedError("ml.bundle.load wraps the loaded inner model")
