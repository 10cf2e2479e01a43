"""Error metrics of predictions. Regression inputs are the objective (e.g. cycles or
seconds; not logs, positive), shape (n,); classification inputs are integer labels.

MAPE on the objective itself is the honest figure and leads every regression report.
``ln_loss`` is the Deffe paper's LOSS, the relative error of ln(objective), which is ~20x
smaller for the same model. A classifier is scored by accuracy
(:func:`classification_metrics`).
"""
from __future__ import annotations

import numpy as np

MAX_PAIRS = 2_000_000  # pairwise ranking accuracy samples pairs beyond this


def mape(true: np.ndarray, pred: np.ndarray) -> float:
    """Mean absolute percentage error on the objective (not logs), in percent."""
    return float(np.mean(np.abs(pred - true) / true) * 100)


def ln_loss(true: np.ndarray, pred: np.ndarray) -> float:
    """The paper's LOSS: mean |ln pred - ln true| / ln true, in percent."""
    ln_true = np.log(true)
    return float(np.mean(np.abs(np.log(np.maximum(pred, 1e-12)) - ln_true) / ln_true) * 100)


def r2(true: np.ndarray, pred: np.ndarray) -> float:
    residual = np.sum((true - pred) ** 2)
    total = np.sum((true - true.mean()) ** 2)
    return float(1 - residual / total) if total > 0 else float("nan")


def adjusted_r2(true: np.ndarray, pred: np.ndarray, features: int) -> float:
    n = len(true)
    if n - features - 1 <= 0:
        return float("nan")
    return float(1 - (1 - r2(true, pred)) * (n - 1) / (n - features - 1))


def within(true: np.ndarray, pred: np.ndarray, percent: float = 10.0) -> float:
    """Share of points predicted within +-percent of the simulated objective, in percent."""
    return float(np.mean(np.abs(pred - true) / true <= percent / 100) * 100)


def spearman(true: np.ndarray, pred: np.ndarray) -> float:
    from scipy.stats import spearmanr  # SciPy's import costs a second: only when scored

    return float(spearmanr(true, pred).statistic) if len(true) > 1 else float("nan")


def _pair_counts(true: np.ndarray, pred: np.ndarray, cap: int,
                 rng: np.random.Generator, min_gap: float = 0.0) -> tuple[int, int]:
    """(pairs ordered right, pairs compared) over pairs whose simulated values differ (by
    more than ``min_gap``, relative to the smaller): every pair up to ``cap``, a sample of
    ``cap`` pairs beyond."""
    n = len(true)
    if n < 2:
        return 0, 0
    if n * (n - 1) // 2 <= cap:
        i, j = np.triu_indices(n, k=1)
    else:
        i, j = rng.integers(0, n, cap), rng.integers(0, n, cap)
    low = np.minimum(true[i], true[j])
    differ = (true[i] != true[j]) & (np.abs(true[i] - true[j]) > min_gap * low)
    i, j = i[differ], j[differ]
    agree = np.sign(true[i] - true[j]) == np.sign(pred[i] - pred[j])
    return int(agree.sum()), len(i)


def pairwise_accuracy(true: np.ndarray, pred: np.ndarray, seed: int = 0) -> float:
    """Share of point pairs (with different simulated values) that the prediction orders
    the same way as the simulation, in percent. Uses every pair up to MAX_PAIRS, a seeded
    sample beyond."""
    agree, pairs = _pair_counts(true, pred, MAX_PAIRS, np.random.default_rng(seed))
    return agree / pairs * 100 if pairs else float("nan")


def grouped_pairwise_accuracy(true: np.ndarray, pred: np.ndarray, groups: np.ndarray,
                              seed: int = 0, min_gap: float = 0.0) -> float:
    """:func:`pairwise_accuracy` over pairs within each group only, pooled (``groups``:
    one label per point, shape (n,)): the accelerator seed's "schedule comparison
    accuracy" when a group is one layer on one accelerator. ``min_gap`` > 0 leaves out
    pairs whose simulated values differ by that fraction or less (near ties)."""
    rng = np.random.default_rng(seed)
    labels, index = np.unique(groups, return_inverse=True)
    cap = max(1000, MAX_PAIRS // max(1, len(labels)))
    agree = pairs = 0
    for g in range(len(labels)):
        members = index == g
        a, p = _pair_counts(true[members], pred[members], cap, rng, min_gap)
        agree, pairs = agree + a, pairs + p
    return agree / pairs * 100 if pairs else float("nan")


def all_metrics(true: np.ndarray, pred: np.ndarray, features: int,
                groups: np.ndarray | None = None) -> dict[str, float]:
    """Every regression metric; with ``groups`` (a label per point) also the pairwise
    accuracy within groups (``group_pairwise_accuracy_pct``)."""
    true = np.asarray(true, dtype=float)
    pred = np.asarray(pred, dtype=float)
    out = {"mape_pct": mape(true, pred), "ln_loss_pct": ln_loss(true, pred),
           "r2": r2(true, pred), "adjusted_r2": adjusted_r2(true, pred, features),
           "within_10pct": within(true, pred), "spearman": spearman(true, pred),
           "pairwise_accuracy_pct": pairwise_accuracy(true, pred), "points": len(true)}
    if groups is not None:
        out["group_pairwise_accuracy_pct"] = grouped_pairwise_accuracy(true, pred, groups)
    return out


def classification_metrics(true: np.ndarray, pred: np.ndarray) -> dict:
    """Scores of predicted class labels against the true ones (integer labels, shape (n,)):
    accuracy_pct, balanced_accuracy_pct (mean recall over the classes present in
    ``true``; the majority-class predictor scores 100 / classes), points, and the count of
    each (true, pred) pair: true_positive, false_positive, true_negative and
    false_negative when the labels are 0/1, else ``confusion`` {"TRUE->PRED": count}."""
    true = np.asarray(true, dtype=float)
    pred = np.asarray(pred, dtype=float)
    out: dict = {"points": len(true)}
    if not len(true):
        return {**out, "accuracy_pct": float("nan"), "balanced_accuracy_pct": float("nan")}
    out["accuracy_pct"] = float(np.mean(true == pred) * 100)
    recalls = [np.mean(pred[true == label] == label) for label in np.unique(true)]
    out["balanced_accuracy_pct"] = float(np.mean(recalls) * 100)
    if set(np.unique(np.concatenate([true, pred]))) <= {0.0, 1.0}:
        for name, (t, p) in {"true_positive": (1, 1), "false_positive": (0, 1),
                             "true_negative": (0, 0), "false_negative": (1, 0)}.items():
            out[name] = int(np.sum((true == t) & (pred == p)))
    else:
        pairs, counts = np.unique(np.stack([true, pred], axis=1), axis=0, return_counts=True)
        out["confusion"] = {f"{t:g}->{p:g}": int(c)
                            for (t, p), c in zip(pairs, counts, strict=True)}
    return out
