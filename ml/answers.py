"""Answers over whole-space predictions: the Pareto front of the predicted objective
against a cost axis, the best design within each budget, the knee of the front, and
re-evaluating chosen designs with the study's backend to check the model.

Cost axes (what a design costs to build: cache capacity, area, PE count) come from the
study's design-space family; lower cost and lower objective are both better."""
from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from .errors import DataError
from .space import python_value

TYPE_CHECKING = False  # annotations only
if TYPE_CHECKING:
    from driver.resolved import ResolvedSpec


def pareto_front(frame: pd.DataFrame, cost: str, value: str, groups: list[str]) -> pd.DataFrame:
    """Rows not dominated in (``cost``, ``value``), both lower-is-better, per group; for a
    tie the first row is kept. Combining fronts of parts gives the front of the whole.
    Read as a table, the front is the best design within each budget: the row with the
    largest cost <= B is the best design costing at most B."""
    def front(part: pd.DataFrame) -> pd.DataFrame:
        part = part.sort_values([cost, value], kind="stable")
        best_before = np.minimum.accumulate(part[value].to_numpy())
        keep = np.ones(len(part), bool)
        keep[1:] = part[value].to_numpy()[1:] < best_before[:-1]
        return part[keep]

    if not groups:
        return front(frame)
    return pd.concat([front(part) for _, part in frame.groupby(groups, sort=True)],
                     ignore_index=True)


def knee(front: pd.DataFrame, cost: str, value: str, groups: list[str]) -> pd.DataFrame:
    """Per group, the front's knee: with both axes log-scaled and normalised to [0, 1], the
    design farthest below the straight line joining the cheapest and the fastest design
    (toward the ideal corner: cheap and fast), where paying more stops buying much. A front
    of one or two designs, or one with no design below that line: its cheapest design."""
    def one(part: pd.DataFrame) -> pd.DataFrame:
        part = part.sort_values(cost, kind="stable")
        if len(part) < 3:
            return part.head(1)
        x = np.log(np.maximum(part[cost].to_numpy(dtype=float), 1e-300))
        y = np.log(np.maximum(part[value].to_numpy(dtype=float), 1e-300))
        x = (x - x.min()) / ((x.max() - x.min()) or 1.0)
        y = (y - y.min()) / ((y.max() - y.min()) or 1.0)
        # Cross product of the chord (0, y[0]) -> (1, y[-1]) with each point: negative below.
        below = (y - y[0]) - (y[-1] - y[0]) * x
        best = int(np.argmin(below))
        return part.iloc[[best if below[best] < 0 else 0]]

    parts = [one(part) for _, part in front.groupby(groups, sort=True)] if groups else \
        [one(front)]
    return pd.concat(parts, ignore_index=True)


def budget_levels(front: pd.DataFrame, cost: str, groups: list[str],
                  levels: int = 8) -> pd.DataFrame:
    """At most ``levels`` rows of each group's front, spread evenly over its cost range in
    log scale (always the cheapest and the fastest): a readable budget table."""
    def one(part: pd.DataFrame) -> pd.DataFrame:
        part = part.sort_values(cost, kind="stable")
        if len(part) <= levels:
            return part
        position = np.linspace(0, len(part) - 1, levels).round().astype(int)
        return part.iloc[np.unique(position)]

    parts = [one(p) for _, p in front.groupby(groups, sort=True)] if groups else [one(front)]
    return pd.concat(parts, ignore_index=True)


def verify(spec: ResolvedSpec, designs: pd.DataFrame, names: list[str], objective: str,
           workdir: Path | None = None, timeout_s: float | None = None) -> pd.DataFrame:
    """Evaluate ``designs`` with the spec's backend: ``simulated_<objective>`` and the
    model's ``error_pct`` ((predicted - evaluated) / evaluated x 100) added; a failed
    evaluation gives nan and its reason."""
    from driver.errors import EvaluationFailed

    reason = spec.backend_class.unavailable_reason(spec.settings)
    if reason:
        raise DataError(f"--verify: backend {spec.backend_name} cannot run here: {reason}")
    backend = spec.make_backend(timeout_s)
    out = designs.copy()
    evaluated, failures = [], []
    with tempfile.TemporaryDirectory(dir=workdir) as root:
        for number, row in enumerate(designs[names].to_dict("records")):
            point = {n: python_value(v) for n, v in row.items()}
            work = Path(root) / str(number)
            work.mkdir()
            try:
                evaluated.append(backend.evaluate(point, work)[objective])
                failures.append("")
            except EvaluationFailed as err:
                evaluated.append(np.nan)
                failures.append(f"{err.kind}: {err.reason}")
    column = f"simulated_{objective}"
    out[column] = evaluated
    out["error_pct"] = (out[f"predicted_{objective}"] - out[column]) / out[column] * 100
    if any(failures):
        out["failure"] = failures
    return out


def _label(groups: list[str], key) -> str:
    values = key if isinstance(key, tuple) else (key,)
    return ", ".join(f"{g}={v:g}" if isinstance(v, (int, float, np.number)) else f"{g}={v}"
                     for g, v in zip(groups, values, strict=True))


def pareto_plot(front: pd.DataFrame, cost: str, unit: str, value: str, groups: list[str],
                path: Path, title: str, knees: pd.DataFrame | None = None) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.5, 4.5))
    parts = front.groupby(groups, sort=True) if groups else [("all", front)]
    for key, part in parts:
        ax.step(part[cost], part[value], where="post", marker=".",
                label=_label(groups, key) if groups else key)
    if knees is not None and len(knees):
        ax.scatter(knees[cost], knees[value], marker="o", s=60, facecolors="none",
                   edgecolors="black", label="knee", zorder=3)
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel(f"{cost} ({unit})" if unit else cost)
    ax.set_ylabel(value.replace("_", " "))
    ax.set_title(title)
    ax.legend(fontsize=6, ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
