"""Study data as model input: a frame of points -> the feature matrix, in the order the
model takes its columns; and each distinct point once."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from .. import features as feature_sets
from ..data import Table, read_table

TYPE_CHECKING = False  # annotations only
if TYPE_CHECKING:
    from driver.resolved import ResolvedSpec


class Inputs:
    """``features`` (a :class:`ml.features.FeatureSet`) of the study ``spec`` (None: the
    features came from a header) as the model's input columns; ``order``: a column order
    (a transferred model's, :func:`ml.transfer.align`), or None for the features' own."""

    def __init__(self, features: feature_sets.FeatureSet, spec: ResolvedSpec | None = None,
                 order: np.ndarray | None = None):
        self.features, self.spec, self.order = features, spec, order

    @classmethod
    def of_spec(cls, path: Path, mode: str, backend: bool = False) -> Inputs:
        """The features of a spec file in a feature mode (:func:`load_spec_features`)."""
        return cls(*feature_sets.load_spec_features(path, mode, backend=backend))

    @property
    def derived(self) -> bool:
        return feature_sets.needs_derived(self.features)

    @property
    def used(self) -> feature_sets.FeatureSet:
        """The features in the model's column order."""
        if self.order is None:
            return self.features
        return feature_sets.FeatureSet([self.features.features[i] for i in self.order],
                                       self.features.source)

    def with_derived(self, frame: pd.DataFrame) -> pd.DataFrame:
        """``frame`` with the family's derived columns where the features need them."""
        if not self.derived:
            return frame
        assert self.spec is not None  # derived features come from a spec, never a header
        return feature_sets.add_derived(frame, self.spec)

    def encode(self, frame: pd.DataFrame, where: str) -> np.ndarray:
        """The matrix (points, columns) of a frame that has its derived columns."""
        X = self.features.matrix(frame, where)
        return X if self.order is None else X[:, self.order]

    def matrix(self, frame: pd.DataFrame, where: str) -> np.ndarray:
        """The matrix (points, columns) of a frame of points (derived columns computed)."""
        return self.encode(self.with_derived(frame), where)

    def read(self, path: Path, response: str) -> tuple[Table, np.ndarray, np.ndarray]:
        """The finished points of a tabular file: (its table, the frame holding the
        derived columns; X; the response y)."""
        table = read_table(path, response)
        table.frame = self.with_derived(table.frame)
        return table, self.encode(table.frame, str(path)), \
            table.frame[response].to_numpy(dtype=float)


def distinct(X: np.ndarray, in_file_order: bool = True) -> np.ndarray:
    """Row indices of X with each distinct point once (its first row): random sampling
    repeats points, and one counted twice could be both trained and tested on. In file
    order, or (``in_file_order=False``) in the order of the points' values."""
    _, first = np.unique(X, axis=0, return_index=True)
    return np.sort(first) if in_file_order else first
