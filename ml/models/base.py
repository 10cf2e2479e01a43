"""The surrogate-model contract: fit on features, predict cycles.

Shapes and units: ``X`` is float32 of shape (points, features), already transformed by
:class:`ml.features.FeatureSet` (e.g. log2 of sizes); ``cycles`` is float of shape (points,),
in cycles (never logs). Each model handles its own input and target scaling, so that a
saved model predicts from the same ``X`` it was trained on.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np


class Surrogate:
    name: str = ""
    # What the model fits: log = ln(cycles), real = cycles, residual = ln(cycles / the
    # profile's estimate) (:mod:`ml.models.residual`).
    target: str = "log"

    @property
    def label(self) -> str:
        return self.name if self.target == "log" else f"{self.name}-{self.target}"

    def fit(self, X: np.ndarray, cycles: np.ndarray, X_val: np.ndarray,
            cycles_val: np.ndarray) -> dict:
        """Train; return a history dict (at least ``epochs``; per-epoch lists if any)."""
        raise NotImplementedError

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Predicted cycles, shape (points,)."""
        raise NotImplementedError

    def predict_spread(self, X: np.ndarray) -> np.ndarray | None:
        """Uncertainty per point (ln cycles: disagreement of an ensemble), or None."""
        return None

    def save(self, directory: Path) -> dict:
        """Write the model's files into ``directory``; return what load() needs."""
        raise NotImplementedError

    @classmethod
    def load(cls, directory: Path, state: dict) -> Surrogate:
        raise NotImplementedError
