"""Making a model (new, or from a source model: transfer learning) and fitting it."""
from __future__ import annotations

import time

import numpy as np

from ..models import Surrogate, make
from ..models.residual import Residual


def new_model(name: str, target: str, seed: int, residual_column: int | None = None,
              cnn: dict | None = None) -> Surrogate:
    """A new model; ``cnn``: the CNN's keyword arguments (:class:`ml.models.cnn.CNN`,
    plus ``members``), used only when ``name`` is cnn (the baselines keep their tuned
    defaults)."""
    options = (cnn or {}) if name == "cnn" else {}
    return make(name, target, seed, residual_column=residual_column, **options)


def from_source(source, features, where, freeze: str, cnn: dict, target: str,
                residual_column: int | None = None):
    """(model ready to fit, keep its input scaling?, transfer record): the CNN of the
    ``source`` bundle readied to learn this data (:func:`ml.transfer.prepare_transfer`),
    as the correction to the estimate for the residual target."""
    from ..transfer import prepare_transfer

    model, keep_scalers, record = prepare_transfer(source, features, where, freeze, cnn)
    if target == "residual":
        assert residual_column is not None  # the residual target has its estimate's column
        model = Residual(model, residual_column)
    return model, keep_scalers, record


def fit(model: Surrogate, X: np.ndarray, y: np.ndarray, X_val: np.ndarray | None,
        y_val: np.ndarray | None, keep_scalers: bool = False) -> dict:
    """Fit ``model`` and return its history, with ``seconds`` (the model's own count
    where it keeps one). ``keep_scalers``: a warm-started CNN keeps its input scaling."""
    start = time.monotonic()
    options = {"keep_scalers": True} if keep_scalers else {}
    history = model.fit(X, y, X_val, y_val, **options)
    history.setdefault("seconds", time.monotonic() - start)
    return history
