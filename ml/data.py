"""Study results for training: the rows of a tabular file (Dakota's, or CSV) as a frame.

The file is read by the one tabular reader (:func:`driver.tabular.read_tabular`); columns
whose cells all read as numbers (or as a failure: ``nan``, ``FAIL``, empty) become
numeric, the others (categorical parameters) stay strings. Rows whose response is missing
or not a number are dropped and counted.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from .errors import DataError

LEADING = ("eval_id", "interface")


@dataclass
class Table:
    """Finished evaluations: ``frame`` has one row per evaluation (failed rows removed)."""

    frame: pd.DataFrame
    path: Path
    failed: int  # rows dropped: response nan, FAIL or missing

    @property
    def columns(self) -> list[str]:
        return [c for c in self.frame.columns if c not in LEADING]


def check_readable(path: str | Path) -> None:
    """A one-line DataError unless ``path`` is a readable text file."""
    from driver.tabular import TabularError
    from driver.tabular import check_readable as check

    try:
        check(path)
    except TabularError as err:
        raise DataError(str(err)) from None


def read_frame(path: str | Path) -> pd.DataFrame:
    """Every row of a tabular file (failed ones too), numeric columns as numbers."""
    from driver.tabular import FAILED_CELLS, TabularError, read_tabular

    path = Path(path)
    try:
        columns, rows = read_tabular(path)
    except TabularError as err:
        raise DataError(str(err)) from None
    frame = pd.DataFrame(rows, columns=columns)
    for column in columns:
        if column == "interface":
            continue
        values = frame[column]
        words = values.map(lambda v: isinstance(v, str) and v not in FAILED_CELLS)
        if not words.any():
            frame[column] = pd.to_numeric(values, errors="coerce")
    return frame


def read_table(path: str | Path, response: str) -> Table:
    """The finished evaluations of ``path``: rows whose ``response`` is a finite number."""
    path = Path(path)
    frame = read_frame(path)
    if response not in frame.columns:
        allowed = ", ".join(c for c in frame.columns if c not in LEADING) or "none"
        raise DataError(f"{path}: no response column {response!r}; columns: {allowed}")
    if frame.empty:
        raise DataError(f"{path}: no rows; the study has no finished evaluation yet")
    values = pd.to_numeric(frame[response], errors="coerce").to_numpy(dtype=float)
    ok = np.isfinite(values)
    failed = int((~ok).sum())
    frame = frame[ok].reset_index(drop=True)
    frame[response] = values[ok]
    if frame.empty:
        raise DataError(f"{path}: all {failed} rows failed ({response} is nan/FAIL); "
                        "nothing to train on")
    return Table(frame=frame, path=path, failed=failed)
