"""Surrogate models behind one fit/predict interface (:class:`ml.models.base.Surrogate`).

``MODELS`` maps a ``--model`` name to its factory; the CNN and the baselines are
interchangeable in training, transfer and reporting code.
"""
from __future__ import annotations

from .base import Surrogate

BASELINES = ("llr", "svr", "rf", "knn", "dt", "xgb")
MODEL_NAMES = ("cnn",) + BASELINES


def make(name: str, target: str, seed: int, **options) -> Surrogate:
    """A new, untrained model. ``target``: log (fit ln cycles) or real (fit cycles)."""
    if name == "cnn":
        from .cnn import CNN

        return CNN(seed=seed, **options)
    from .baselines import Baseline

    return Baseline(name, target=target, seed=seed)


__all__ = ["BASELINES", "MODEL_NAMES", "Surrogate", "make"]
