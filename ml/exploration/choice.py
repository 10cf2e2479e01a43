"""Which points a round simulates: round 0 leaves it to Dakota's sampling of the spec;
later rounds take unsimulated points at random or where a forest is least sure (active)."""
from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from .. import rounds, sampling, space
from ..space import python_value
from .state import ExplorationState

TYPE_CHECKING = False  # annotations only
if TYPE_CHECKING:
    from driver.resolved import ResolvedSpec


class PointChoice:
    """Chooses ``strategy``'s points of ``spec`` (parameters ``names``); ``matrix``
    turns a frame of points into model input (for the active strategy's forest)."""

    def __init__(self, strategy: str, spec: ResolvedSpec, names: list[str], seed: int,
                 candidates: int, matrix: Callable[[pd.DataFrame, str], np.ndarray]):
        self.strategy, self.spec, self.names, self.seed = strategy, spec, names, seed
        self.candidates, self.matrix = candidates, matrix

    def points(self, number: int, state: ExplorationState, count: int, objective: str,
               excluded: set[int]) -> list[dict] | None:
        """Round ``number``'s points (saved, so that a resumed round takes the same), or
        None for round 0; never one chosen before or in ``excluded``."""
        if number == 0:
            return None  # Dakota's own sampling of the spec
        directory = rounds.round_dir(state.out, number)
        saved = rounds.load_points(directory)
        if saved is not None:
            return saved
        exclude = state.chosen_before(number, self.spec, self.names) | excluded
        data = None
        if self.strategy == "active":
            frame = state.simulated(objective)

            def data(index):
                return self.matrix(space.decode(self.spec, self.names, index), "candidates")
            # sampling.choose reads the training data off the candidates' function
            data.X = self.matrix(frame, "simulated")  # type: ignore[attr-defined]
            data.y = frame[objective].to_numpy(float)  # type: ignore[attr-defined]
        index = sampling.choose(self.strategy, self.spec, exclude, count,
                                [self.seed, number], data, self.candidates)
        points = space.decode(self.spec, self.names, index)
        rows = [{n: python_value(v) for n, v in row.items()} for row in points.to_dict("records")]
        rounds.save_points(directory, rows)
        return rows
