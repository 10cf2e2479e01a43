"""The registry's ``cnn`` entry: one Deffe CNN (:mod:`.cnn`), or with ``members`` > 1 that
many cross-fitted (:mod:`.ensemble`); a saved bundle says which by its ``members``."""
from __future__ import annotations

from pathlib import Path

from .base import Surrogate
from .cnn import CNN
from .ensemble import CNNEnsemble


class CNNs:
    """Builds and loads the CNN or the ensemble the arguments or the saved state name."""

    @staticmethod
    def create(name: str, target: str, seed: int, members: int = 1, **options) -> Surrogate:
        if members > 1:
            return CNNEnsemble(members=members, seed=seed, **options)
        return CNN.create(name, target, seed, **options)

    @staticmethod
    def load(directory: Path, state: dict) -> Surrogate:
        if "members" in state:  # saved by an ensemble
            return CNNEnsemble.load(directory, state)
        return CNN.load(directory, state)
