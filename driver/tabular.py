"""Reading Dakota's annotated tabular output and summarising a finished study."""
from __future__ import annotations

import math
from pathlib import Path


def read_tabular(path: Path) -> tuple[list[str], list[dict[str, float | str]]]:
    """(column names, rows) of a Dakota annotated tabular file.

    The header line starts with ``%``; ``interface`` holds a string; every other column is
    numeric (``nan`` for evaluations recovered from a failure).
    """
    lines = Path(path).read_text().splitlines()
    if not lines or not lines[0].startswith("%"):
        raise ValueError(f"{path}: not a Dakota annotated tabular file (no '%' header)")
    columns = lines[0].lstrip("%").split()
    rows = []
    for number, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        cells = line.split()
        if len(cells) != len(columns):
            raise ValueError(f"{path}: line {number}: {len(cells)} values for "
                             f"{len(columns)} columns")
        rows.append({c: (v if c == "interface" else float(v)) for c, v in zip(columns, cells)})
    return columns, rows


def summary(spec: dict, rows: list[dict]) -> str:
    """Human summary: rows, failures, cycle range, the fastest design found."""
    names = [p["name"] for p in spec["parameters"]]
    ok = [r for r in rows if not math.isnan(r.get("cycles", math.nan))]
    lines = [f"study {spec['study']}: {len(rows)} evaluations, {len(rows) - len(ok)} failed"]
    if ok:
        low = min(ok, key=lambda r: r["cycles"])
        high = max(r["cycles"] for r in ok)
        lines.append(f"cycles: {low['cycles']:,.0f} .. {high:,.0f}")
        design = ", ".join(f"{n}={low[n]:g}" for n in names)
        lines.append(f"fastest design (eval {low['eval_id']:g}): {design}")
    return "\n".join(lines)
