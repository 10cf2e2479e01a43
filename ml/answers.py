"""Answers over whole-space predictions: total cache size of each design, the Pareto front
of predicted cycles against it, and re-simulating chosen designs to check the model."""
from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from .errors import DataError

SIZE_FIELDS = ("l1d_size_kib", "l1i_size_kib", "l2_size_kib")


def total_cache_kib(frame: pd.DataFrame, spec: dict) -> np.ndarray | None:
    """L1D + L1I + L2 capacity (KiB) per row; None when the spec sweeps no cache size."""
    from driver.cache_geometry import CACHE_FIELDS

    if not any(name in frame.columns for name in SIZE_FIELDS):
        return None
    fixed = spec["backend"]["settings"].get("cache", {})
    total = np.zeros(len(frame))
    for name in SIZE_FIELDS:
        total += (frame[name].to_numpy(dtype=float) if name in frame.columns
                  else float(fixed.get(name, CACHE_FIELDS[name])))
    return total


def pareto_front(frame: pd.DataFrame, cost: str, value: str, groups: list[str]) -> pd.DataFrame:
    """Rows not dominated in (``cost``, ``value``), both lower-is-better, per group; for a
    tie the first row is kept. Combining fronts of parts gives the front of the whole."""
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


def verify(spec: dict, designs: pd.DataFrame, names: list[str], workdir: Path | None = None,
           timeout_s: float | None = None) -> pd.DataFrame:
    """Simulate ``designs`` with the spec's backend: ``simulated_cycles`` and the model's
    ``error_pct`` ((predicted - simulated) / simulated x 100) added; a failed simulation
    gives nan and its reason."""
    from driver.backends import backend_class
    from driver.backends.base import EvaluationFailed

    cls = backend_class(spec["backend"]["name"])
    reason = cls.unavailable_reason(spec["backend"]["settings"])
    if reason:
        raise DataError(f"--verify: backend {spec['backend']['name']} cannot run here: {reason}")
    backend = cls(spec["backend"]["settings"],
                  timeout_s=timeout_s or spec["execution"]["timeout_s"])
    out = designs.copy()
    simulated, failures = [], []
    with tempfile.TemporaryDirectory(dir=workdir) as root:
        for number, row in enumerate(designs[names].to_dict("records")):
            point = {n: (int(v) if float(v).is_integer() else float(v)) for n, v in row.items()}
            work = Path(root) / str(number)
            work.mkdir()
            try:
                simulated.append(backend.evaluate(point, work)["cycles"])
                failures.append("")
            except EvaluationFailed as err:
                simulated.append(np.nan)
                failures.append(f"{err.kind}: {err.reason}")
    out["simulated_cycles"] = simulated
    out["error_pct"] = (out["predicted_cycles"] - out["simulated_cycles"]) \
        / out["simulated_cycles"] * 100
    if any(failures):
        out["failure"] = failures
    return out


def pareto_plot(front: pd.DataFrame, cost: str, groups: list[str], path: Path,
                title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.5, 4.5))
    parts = front.groupby(groups, sort=True) if groups else [("all", front)]
    for key, part in parts:
        label = ", ".join(f"{g}={v:g}" for g, v in zip(groups, np.atleast_1d(key),
                                                       strict=True)) if groups else key
        ax.step(part[cost], part["predicted_cycles"], where="post", marker=".", label=label)
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("total cache (KiB)" if cost == "total_cache_kib" else cost)
    ax.set_ylabel("predicted cycles")
    ax.set_title(title)
    ax.legend(fontsize=6, ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
