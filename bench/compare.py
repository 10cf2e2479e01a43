"""How the benchmarks say that one method beats another: over several seeds, and only when
the gap is larger than the seeds' spread (the ranges over seeds do not overlap)."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def spread(values: Sequence[float]) -> str:
    """``mean (min..max)`` of per-seed errors in %, for a report cell."""
    v = np.asarray(values, float)
    if len(v) == 1:
        return f"{v[0]:.2f}"
    return f"{v.mean():.2f} ({v.min():.2f}..{v.max():.2f})"


def verdict(a: Sequence[float], b: Sequence[float], name_a: str, name_b: str) -> str:
    """Which of two methods has the lower error (one value per seed each): a method is
    better only if all its seeds are below all of the other's; otherwise the difference is
    inside the spread and is reported as none. One seed never ranks."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    if min(len(a), len(b)) < 2:
        return "one seed: not a ranking"
    if a.max() < b.min():
        return f"{name_a} better by {b.mean() - a.mean():.2f} points"
    if b.max() < a.min():
        return f"{name_b} better by {a.mean() - b.mean():.2f} points"
    return f"no difference (gap {abs(a.mean() - b.mean()):.2f} inside the seeds' spread)"
