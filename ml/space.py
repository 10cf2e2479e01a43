"""The design space of a spec: every combination of its parameter values, addressed by one
integer per point (mixed-radix, the last parameter varying fastest), so that a space of
millions of points can be enumerated in chunks, sampled without replacement and checked
for membership without building Python objects per point."""
from __future__ import annotations

import numpy as np
import pandas as pd

from .errors import DataError

TYPE_CHECKING = False  # annotations only
if TYPE_CHECKING:
    from driver.resolved import ResolvedSpec


def _radix(spec: ResolvedSpec, names: list[str]):
    # Values keep their type: integers stay integers (readable CSV, exact matches),
    # categories stay strings.
    values = {p.name: np.asarray(sorted(p.values), dtype=object if p.categorical else None)
              for p in spec.parameters}
    sizes = np.array([len(values[n]) for n in names], dtype=np.int64)
    strides = np.cumprod(np.concatenate([[1], sizes[::-1][:-1]]))[::-1]
    return values, sizes, strides


def size(spec: ResolvedSpec) -> int:
    """Number of points: the product of the parameters' value counts."""
    return spec.space_size


def decode(spec: ResolvedSpec, names: list[str], index: np.ndarray) -> pd.DataFrame:
    """The points with these indices, one column per name."""
    values, sizes, strides = _radix(spec, names)
    index = np.asarray(index, dtype=np.int64)
    return pd.DataFrame({n: values[n][(index // stride) % count]
                         for n, stride, count in zip(names, strides, sizes, strict=True)})


def encode(spec: ResolvedSpec, names: list[str], frame: pd.DataFrame, where: str) -> np.ndarray:
    """Indices of the points in ``frame`` (a DataError names a value not in the spec)."""
    values, _, strides = _radix(spec, names)
    index = np.zeros(len(frame), dtype=np.int64)
    for n, stride in zip(names, strides, strict=True):
        if values[n].dtype == object:  # categorical: look the words up
            lookup = {v: i for i, v in enumerate(values[n].tolist())}
            words = frame[n].astype(str).to_numpy()
            position = np.array([lookup.get(w, -1) for w in words], dtype=np.int64)
            bad = position < 0
            if bad.any():
                raise DataError(f"{where}: column {n}: value {words[bad][0]!r} is not one of "
                                f"the spec's values {values[n].tolist()}")
            index += position * stride
            continue
        column = pd.to_numeric(frame[n], errors="coerce").to_numpy(dtype=float)
        position = np.searchsorted(values[n], column)
        position = np.clip(position, 0, len(values[n]) - 1)
        bad = values[n][position] != column
        if bad.any():
            raise DataError(f"{where}: column {n}: value {column[bad][0]:g} is not one of the "
                            f"spec's values {values[n].tolist()}")
        index += position * stride
    return index


def chunks(spec: ResolvedSpec, names: list[str], chunk: int):
    """The whole space in ``names`` order, as frames of at most ``chunk`` rows."""
    total = size(spec)
    for start in range(0, total, chunk):
        yield decode(spec, names, np.arange(start, min(start + chunk, total)))


def python_value(value):
    """A point's value as the study spec types it: int, float or str (not numpy's)."""
    if isinstance(value, str):
        return value
    return int(value) if float(value).is_integer() else float(value)
