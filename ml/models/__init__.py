"""Surrogate models behind one fit/predict interface (:class:`ml.models.base.Surrogate`).

``MODELS`` maps a ``--model`` name to its factory; the CNN and the baselines are
interchangeable in training, transfer and reporting code.
"""
from __future__ import annotations

from .base import Surrogate

BASELINES = ("llr", "svr", "rf", "knn", "dt", "xgb")
MODEL_NAMES = ("cnn",) + BASELINES


def make(name: str, target: str, seed: int, residual_column: int | None = None,
         **options) -> Surrogate:
    """A new, untrained model. ``target``: log (fit ln cycles), real (fit cycles) or
    residual (fit ln(cycles / estimate), the estimate being log2 in X[:, residual_column])."""
    if target == "residual":
        from .residual import Residual

        return Residual(make(name, "log", seed, **options), residual_column)
    if name == "cnn":
        from .cnn import CNN

        return CNN(seed=seed, **options)
    from .baselines import Baseline

    return Baseline(name, target=target, seed=seed)


__all__ = ["BASELINES", "MODEL_NAMES", "Surrogate", "make"]
