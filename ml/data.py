"""Reading study results for training: Dakota tabular files and plain CSV.

Dakota writes ``%eval_id interface <variables> <responses>`` (annotated) or any subset of
those leading columns (custom-annotated); values are separated by whitespace, a failed
evaluation shows as ``nan`` (or ``FAIL``). Plain CSV files have a header row. Rows whose
response is missing or not a number are dropped and counted.
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


def _open(path: Path):
    if path.suffix == ".gz":  # committed reference data is gzipped
        import gzip

        return gzip.open(path, "rt")
    return open(path)


def _read(path: Path) -> pd.DataFrame:
    try:
        with _open(path) as f:
            first = f.readline()
    except OSError as err:
        raise DataError(f"{path}: cannot read: {err.strerror}") from None
    if not first.strip():
        raise DataError(f"{path}: empty file; expected Dakota tabular data or CSV with a header")
    if first.startswith("%"):  # Dakota annotated / custom-annotated
        names = first[1:].split()
        frame = pd.read_csv(path, sep=r"\s+", skiprows=1, header=None, names=names,
                            dtype=str)
    elif "," in first:
        frame = pd.read_csv(path, dtype=str)
    else:
        tokens = first.split()
        if all(_is_number(t) for t in tokens):
            raise DataError(f"{path}: no header line; write Dakota tabular data as annotated "
                            "(header starting with %) or use CSV with a header")
        frame = pd.read_csv(path, sep=r"\s+", dtype=str)
    frame.columns = [str(c).strip() for c in frame.columns]
    return frame


def _is_number(text: str) -> bool:
    try:
        float(text)
        return True
    except ValueError:
        return False


def read_table(path: str | Path, response: str = "cycles") -> Table:
    """The finished evaluations of ``path``; numeric columns converted, failures dropped."""
    path = Path(path)
    frame = _read(path)
    if response not in frame.columns:
        allowed = ", ".join(c for c in frame.columns if c not in LEADING) or "none"
        raise DataError(f"{path}: no response column {response!r}; columns: {allowed}")
    if frame.empty:
        raise DataError(f"{path}: no rows; the study has no finished evaluation yet")
    for column in frame.columns:
        if column != "interface":
            frame[column] = pd.to_numeric(frame[column], errors="coerce")
    ok = np.isfinite(frame[response].to_numpy(dtype=float))
    failed = int((~ok).sum())
    frame = frame[ok].reset_index(drop=True)
    if frame.empty:
        raise DataError(f"{path}: all {failed} rows failed ({response} is nan/FAIL); "
                        "nothing to train on")
    return Table(frame=frame, path=path, failed=failed)
