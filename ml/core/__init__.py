"""The training core: the one recipe every trainer of cyclecast follows.

    study data -> feature matrix (:class:`Inputs`) -> each point once (:func:`distinct`)
    -> target and the residual column (:func:`resolve_target`, :func:`residual_column`)
    -> a model (:func:`new_model`, :func:`from_source`) -> :func:`fit` -> bundle
    (:func:`ml.bundle.save`)

``ml.train``, ``ml.explore``, ``ml.demo`` and the benchmarks call these instead of
writing the steps again, so that they train on the same matrix the same way.
"""
from __future__ import annotations

from .inputs import Inputs, distinct
from .model import fit, from_source, new_model
from .target import residual_column, resolve_target

__all__ = ["Inputs", "distinct", "fit", "from_source", "new_model", "residual_column",
           "resolve_target"]
