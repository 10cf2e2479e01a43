"""One figure layout for the benchmarks: a panel per kernel, simulated points vs MAPE on
log axes, a dotted line at the target."""
from __future__ import annotations

from pathlib import Path


def kernel_panels(count: int):
    """(figure, panels): one panel per kernel, side by side."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, count, figsize=(4 * count, 3.6), squeeze=False)
    return fig, list(axes[0])


def finish(fig, panels, titles, path: Path, target_pct: float, legend_size: int = 7,
           ylabel: str = "test MAPE on cycles (%)") -> None:
    import matplotlib.pyplot as plt

    for ax, title in zip(panels, titles, strict=True):
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_title(title)
        ax.set_xlabel("simulated points")
        ax.set_ylabel(ylabel)
        ax.axhline(target_pct, color="gray", linestyle=":")
    panels[-1].legend(fontsize=legend_size)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
