"""Incremental sampling in parts (``python -m ml.explore`` is the CLI): what an
exploration has done (:mod:`.state`), which points it simulates next (:mod:`.choice`),
when it stops (:mod:`.stopping`), and the loop that joins them with the training core
(:mod:`.explorer`)."""
from __future__ import annotations

from .choice import PointChoice
from .explorer import Explorer
from .state import CURVE, STATE, ExplorationState
from .stopping import StoppingRule

__all__ = ["CURVE", "STATE", "ExplorationState", "Explorer", "PointChoice", "StoppingRule"]
