"""PNG plots of a trained model: learning curve, parity (log axes), error histogram."""
from __future__ import annotations

from pathlib import Path

import numpy as np


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def learning_curve(history: dict, path: Path, title: str) -> None:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 4))
    epochs = np.arange(1, len(history["val_mape_pct"]) + 1)
    ax.plot(epochs, history["val_mape_pct"], label="validation MAPE (%)")
    ax.set_xlabel("epoch")
    ax.set_ylabel("MAPE (%)")
    ax.set_yscale("log")
    twin = ax.twinx()
    twin.plot(epochs, history["loss"], color="gray", alpha=0.5, label="training loss")
    twin.set_ylabel("training loss")
    twin.set_yscale("log")
    if history.get("best_epoch"):
        ax.axvline(history["best_epoch"], color="red", linestyle=":", label="best (kept)")
    handles = ax.get_legend_handles_labels()
    twin_handles = twin.get_legend_handles_labels()
    ax.legend(handles[0] + twin_handles[0], handles[1] + twin_handles[1], loc="upper right")
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def parity(true: np.ndarray, pred: np.ndarray, path: Path, title: str,
           response: str = "objective") -> None:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5, 5))
    ax.scatter(true, pred, s=6, alpha=0.5)
    low, high = min(true.min(), pred.min()), max(true.max(), pred.max())
    ax.plot([low, high], [low, high], color="black", linewidth=0.8)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel(f"evaluated {response}")
    ax.set_ylabel(f"predicted {response}")
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def error_histogram(true: np.ndarray, pred: np.ndarray, path: Path, title: str) -> None:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.hist((pred - true) / true * 100, bins=60)
    ax.set_xlabel("prediction error (% of the evaluated value)")
    ax.set_ylabel("test points")
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def exploration_curve(curve, path: Path, title: str) -> None:
    """Simulated points vs validation, prospective and held-out MAPE (one row per round)."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 4))
    for column, label in (("validation_mape_pct", "validation"),
                          ("prospective_mape_pct", "previous model on the new points"),
                          ("test_mape_pct", "held-out test")):
        if column in curve and curve[column].notna().any():
            ax.plot(curve["simulated_total"], curve[column], marker="o", label=label)
    ax.set_xlabel("simulated points")
    ax.set_ylabel("MAPE (%)")
    ax.set_yscale("log")
    ax.set_title(title)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
