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
        rows.append({c: (v if c == "interface" else float(v))
                     for c, v in zip(columns, cells, strict=True)})
    return columns, rows


def summary(spec: dict, rows: list[dict]) -> str:
    """Human summary: rows, failures, cycle range, and the fastest design found for each
    workload (comparing designs only makes sense at equal workload)."""
    arch = [p["name"] for p in spec["parameters"] if p["role"] == "architecture"]
    work = [p["name"] for p in spec["parameters"] if p["role"] == "workload"]
    ok = [r for r in rows if not math.isnan(r.get("cycles", math.nan))]
    lines = [f"study {spec['study']}: {len(rows)} evaluations, {len(rows) - len(ok)} failed"]
    if not ok:
        return "\n".join(lines)
    lines.append(f"cycles: {min(r['cycles'] for r in ok):,.0f} .. "
                 f"{max(r['cycles'] for r in ok):,.0f}")
    best: dict[tuple, dict] = {}
    for row in ok:
        key = tuple(row[n] for n in work)
        if key not in best or row["cycles"] < best[key]["cycles"]:
            best[key] = row
    lines.append("fastest design found per workload:")
    for key in sorted(best):
        row = best[key]
        label = ", ".join(f"{n}={v:g}" for n, v in zip(work, key, strict=True)) or "all"
        design = ", ".join(f"{n}={row[n]:g}" for n in arch)
        lines.append(f"  {label}: {row['cycles']:,.0f} cycles (eval {row['eval_id']:g}) {design}")
    return "\n".join(lines)
