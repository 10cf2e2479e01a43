"""Reading tabular study data, the one reader every part of cyclecast uses, and
summarising a finished study.

Dakota writes annotated tabular files: a header ``%eval_id interface <variables>
<responses>`` (custom-annotated files may omit leading columns), then whitespace-separated
values; a failed evaluation shows as ``nan`` (or ``FAIL``). Plain CSV files with a header
row are read too, and either may be gzipped (``.gz``). Cells become numbers where they read
as one; words (the ``interface`` column, categorical parameters, ``FAIL``) stay strings.
"""
from __future__ import annotations

import math
from pathlib import Path

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Callable

    from .resolved import ResolvedSpec

FAILED_CELLS = ("nan", "NaN", "FAIL", "")


class TabularError(ValueError):
    """The file is not tabular data cyclecast can read; the message is one line."""


def _open(path: Path):
    if path.suffix == ".gz":  # committed reference data is gzipped
        import gzip

        return gzip.open(path, "rt", encoding="utf-8", errors="strict")
    return open(path, encoding="utf-8", errors="strict")


def cell(text: str) -> float | str:
    try:
        return float(text)
    except ValueError:
        return text


def _is_number(text: str) -> bool:
    return isinstance(cell(text), float)


def _read(path: Path, size: int = -1) -> str:
    """The file's text (its first ``size`` characters), or a one-line TabularError."""
    try:
        with _open(path) as f:
            return f.read(size)
    except OSError as err:
        raise TabularError(f"{path}: cannot read: {err.strerror or err}") from None
    except UnicodeDecodeError as err:
        raise TabularError(f"{path}: byte {err.start}: not UTF-8 text; expected Dakota "
                           "tabular data or CSV") from None
    except EOFError as err:  # a truncated .gz
        raise TabularError(f"{path}: not text tabular data ({type(err).__name__})") from None


EMPTY = "empty file; expected Dakota tabular data or CSV with a header"


def check_readable(path: str | Path) -> None:
    """A one-line TabularError unless ``path`` is a readable, non-empty text file (before
    anything is asked of its contents)."""
    if not _read(Path(path), 1):
        raise TabularError(f"{path}: {EMPTY}")


def read_tabular(path: str | Path) -> tuple[list[str], list[dict[str, float | str]]]:
    """(column names, rows) of a tabular file, every row as it is (failed ones included)."""
    path = Path(path)
    lines = _read(path).splitlines()
    if not lines or not lines[0].strip():
        raise TabularError(f"{path}: {EMPTY}")
    first = lines[0]
    if first.startswith("%"):
        columns = first[1:].split()
        split: Callable[[str], list[str]] = str.split
    elif "," in first:
        import csv

        columns = [c.strip() for c in next(csv.reader([first]))]

        def split(line: str) -> list[str]:
            return [c.strip() for c in next(csv.reader([line]))]
    else:
        if all(_is_number(t) for t in first.split()):
            raise TabularError(f"{path}: no header line; write Dakota tabular data as "
                               "annotated (header starting with %) or use CSV with a header")
        columns, split = first.split(), str.split
    rows = []
    for number, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        cells = split(line)
        if len(cells) != len(columns):
            raise TabularError(f"{path}: line {number}: {len(cells)} values for "
                               f"{len(columns)} columns")
        rows.append({c: (v if c == "interface" else cell(v))
                     for c, v in zip(columns, cells, strict=True)})
    return columns, rows


def _label(value) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def summary(spec: ResolvedSpec, rows: list[dict]) -> str:
    """Human summary: rows, failures, the objective's range, and the best design found for
    each workload (comparing designs only makes sense at equal workload)."""
    objective = spec.objective
    arch = [p.name for p in spec.parameters if p.role == "architecture"]
    work = [p.name for p in spec.parameters if p.role == "workload"]

    def ok(row) -> bool:
        value = row.get(objective)
        return isinstance(value, float) and not math.isnan(value)


    # A 0/1 response at 0 with no objective is an answer (e.g. an invalid schedule), not
    # a failure.
    flags = [r for r, kind in spec.backend_class.response_kinds.items()
             if kind == "binary" and r in spec.responses and r != objective]
    good = [r for r in rows if ok(r)]
    refused = [r for r in rows if not ok(r) and any(r.get(f) == 0 for f in flags)]
    lines = [f"study {spec.study}: {len(rows)} evaluations, "
             f"{len(rows) - len(good) - len(refused)} failed"
             + (f", {len(refused)} with {' or '.join(flags)} = 0" if refused else "")]
    if not good:
        return "\n".join(lines)
    lines.append(f"{objective}: {_amount(min(r[objective] for r in good))} .. "
                 f"{_amount(max(r[objective] for r in good))}")
    best: dict[tuple, dict] = {}
    for row in good:
        key = tuple(row[n] for n in work)
        if key not in best or row[objective] < best[key][objective]:
            best[key] = row
    lines.append(f"best design found per workload (lowest {objective}):")
    for key in sorted(best, key=lambda k: [(type(v).__name__, v) for v in k]):
        row = best[key]
        label = ", ".join(f"{n}={_label(v)}" for n, v in zip(work, key, strict=True)) or "all"
        design = ", ".join(f"{n}={_label(row[n])}" for n in arch)
        lines.append(f"  {label}: {_amount(row[objective])} {objective} (eval "
                     f"{_label(row['eval_id'])}) {design}")
    return "\n".join(lines)


def _amount(value: float) -> str:
    """A response for a person: whole numbers with separators from 100 up (cycles), four
    significant digits below (seconds)."""
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.4g}"
