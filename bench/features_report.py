"""Raw vs derived vs both features, side by side, from the three bench/models.py runs.

    .venv/bin/python bench/features_report.py

Reads bench/results/models.json (raw), models_derived.json, models_both.json and
profiling_cost.json; writes bench/results/features.md and features.png. Trains nothing.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

RESULTS = Path(__file__).resolve().parents[1] / "bench" / "results"
# Feature modes, and "both_residual": both features, every model fitted as the correction
# to the profile's estimate (bench/models.py --features both --target residual).
MODES = ("raw", "derived", "both", "both_residual")
MODELS = ("rf", "xgb", "cnn", "cnn-transfer")


def load() -> dict[str, dict]:
    runs = {}
    for mode in MODES:
        path = RESULTS / ("models.json" if mode == "raw" else f"models_{mode}.json")
        if path.exists():
            runs[mode] = json.loads(path.read_text())
    return runs


def cell(runs, mode, kernel, n, model, metric):
    for r in runs.get(mode, {}).get("rows", []):
        if (r["kernel"], r["samples"], r["model"]) == (kernel, n, model) and metric in r:
            return r[metric]
    return None


def fmt(value) -> str:
    return "—" if value is None else f"{value:.2f}"


def model_table(runs, model, kernels, sizes) -> list[str]:
    lines = [f"### {model}", "", "| kernel | N | " + " | ".join(MODES) + " | "
             + " | ".join(f"{m}, unseen sizes" for m in MODES) + " |",
             "|---|---|" + "---|" * (2 * len(MODES))]
    for k in kernels:
        for n in sizes:
            seen = [f"{fmt(cell(runs, m, k, n, model, 'mape_pct'))} / "
                    f"{fmt(cell(runs, m, k, n, model, 'p90_pct'))}" for m in MODES]
            unseen = [f"{fmt(cell(runs, m, k, n, model, 'unseen_mape_pct'))} / "
                      f"{fmt(cell(runs, m, k, n, model, 'unseen_p90_pct'))}" for m in MODES]
            if any(c != "— / —" for c in seen):
                lines.append(f"| {k} | {n} | " + " | ".join(seen + unseen) + " |")
    return lines + [""]


def best(runs, kernel, max_n, modes=MODES, models=MODELS):
    """(MAPE, mode, model, N) of the lowest test MAPE at <= max_n samples."""
    found = [(r["mape_pct"], mode, r["model"], r["samples"])
             for mode in modes for r in runs.get(mode, {}).get("rows", [])
             if r["kernel"] == kernel and r["samples"] <= max_n and r["model"] in models]
    return min(found, default=None)


def targets(runs, kernels, sizes) -> list[str]:
    lines = ["## Targets", ""]
    for k in kernels:
        b = best(runs, k, 1000)
        if b:
            lines.append(f"- {k}: lowest test MAPE at <= 1,000 samples (the best of the models "
                         f"run, picked on test data): {b[0]:.2f}% ({b[2]}, {b[1]} "
                         f"features, N = {b[3]}); target <= 2%: "
                         f"{'met' if b[0] <= 2 else 'missed'}.")
    for mode in MODES:
        verdicts = []
        for k in kernels:
            for n in (s for s in sizes if s <= 500):
                t = cell(runs, mode, k, n, "cnn-transfer", "mape_pct")
                s = cell(runs, mode, k, n, "cnn", "mape_pct")
                if t is not None and s is not None:
                    verdicts.append((t <= s, f"{k}@{n}: {t:.2f} vs {s:.2f}"))
        if verdicts:
            met = sum(v for v, _ in verdicts)
            lines.append(f"- Transferred CNN <= scratch CNN at <= 500 samples, {mode} features: "
                         f"{met} of {len(verdicts)} ({'; '.join(t for _, t in verdicts)}).")
    return lines + [""]


def default_mode(runs, kernels, sizes) -> tuple[str, dict]:
    """The feature mode with the most wins over (kernel, N, model) cells."""
    wins = {m: 0 for m in MODES}
    for k in kernels:
        for n in sizes:
            for model in MODELS:
                scores = {m: cell(runs, m, k, n, model, "mape_pct") for m in MODES}
                scores = {m: v for m, v in scores.items() if v is not None}
                if len(scores) == len(MODES):
                    wins[min(scores, key=scores.get)] += 1
    return max(wins, key=wins.get), wins


def savings(runs, kernels) -> list[str]:
    path = RESULTS / "profiling_cost.json"
    if not path.exists() or "raw" not in runs:
        return []
    cost = json.loads(path.read_text())["rows"]
    lines = ["## Profiling cost against the simulations it saves", "",
             "Profiling: one run per training workload size (bench/results/profiling_cost.md). "
             "Saved: the best raw-feature model at 2,000 samples against the fewest samples at "
             "which a model with profile features (any mode) is as accurate, times the mean "
             "simulation time per point.", "",
             "| kernel | profiling s (all sizes) | best raw @2000 MAPE | same MAPE with profile "
             "features at N | simulations saved | simulation s saved |",
             "|---|---|---|---|---|---|"]
    for k in kernels:
        mine = [r for r in cost if r["kernel"] == k]
        raw = best(runs, k, 2000, modes=("raw",))
        if not mine or raw is None:
            continue
        profiling = sum(r["profile_seconds"] for r in mine)
        per_point = sum(r["simulation_seconds"] for r in mine) / len(mine)
        cheaper = sorted(r["samples"] for mode in MODES[1:]
                         for r in runs.get(mode, {}).get("rows", [])
                         if r["kernel"] == k and r["model"] in MODELS
                         and r["mape_pct"] <= raw[0])
        if cheaper:
            saved = 2000 - cheaper[0]
            lines.append(f"| {k} | {profiling:.1f} | {raw[0]:.2f} ({raw[2]}) | {cheaper[0]} | "
                         f"{saved} | {saved * per_point:.0f} |")
        else:
            lines.append(f"| {k} | {profiling:.1f} | {raw[0]:.2f} ({raw[2]}) | not reached "
                         "| 0 | 0 |")
    return lines + [""]


def plot(runs, kernels, sizes, path: Path) -> None:
    from plotting import finish, kernel_panels

    fig, panels = kernel_panels(len(kernels))
    styles = {"raw": ":", "derived": "--", "both": "-.", "both_residual": "-"}
    colours = {"xgb": "C0", "cnn": "C1", "cnn-transfer": "C2"}
    for ax, k in zip(panels, kernels, strict=True):
        for model in colours:
            for mode in MODES:
                points = [(n, cell(runs, mode, k, n, model, "mape_pct")) for n in sizes]
                points = [p for p in points if p[1] is not None]
                if points:
                    ax.plot(*zip(*points, strict=True), styles[mode], marker="o",
                            label=f"{model} {mode}", color=colours[model])
    finish(fig, panels, kernels, path, target_pct=2, legend_size=6)


def main() -> int:
    runs = load()
    if not runs:
        print("no bench/results/models*.json: run bench/models.py first", file=sys.stderr)
        return 1
    rows = [r for run in runs.values() for r in run["rows"]]
    kernels = list(dict.fromkeys(r["kernel"] for r in rows))
    sizes = sorted({r["samples"] for r in rows})
    chosen, wins = default_mode(runs, kernels, sizes)
    lines = ["# Workload-aware features: raw vs derived vs both", "",
             "Made by `python bench/features_report.py` from these runs:", ""]
    lines += [f"- {mode}: `{run['command']}` (seed {run['seed']})" for mode, run in runs.items()]
    lines += ["", "Cells: test MAPE / 90th-percentile error on cycles (%), 1,000 held-out points "
              "per kernel; 'unseen sizes': 300 points at workload sizes never trained on.", ""]
    lines += targets(runs, kernels, sizes)
    flags = {"both_residual": "--features both --target residual"}.get(chosen,
                                                                       f"--features {chosen}")
    lines += [f"Default of `ml.train` / `ml.explore`: **{flags}** (picked on these test "
              "figures, not on validation data; lowest MAPE in "
              f"{wins[chosen]} of "
              f"{sum(wins.values())} kernel x N x model cells; {wins})." if sum(wins.values())
              else "Default: not measured (a mode's run is missing).", ""]
    analytic = next((run.get("analytic") for run in runs.values() if run.get("analytic")), {})
    if analytic:
        lines += ["## The profile's own estimate, no model and no simulation", "",
                  "| kernel | MAPE / p90 | unseen sizes |", "|---|---|---|"]
        lines += [f"| {k} | {e['mape_pct']:.2f} / {e['p90_pct']:.2f} | "
                  f"{fmt(e.get('unseen_mape_pct'))} / {fmt(e.get('unseen_p90_pct'))} |"
                  for k, e in analytic.items()]
        lines.append("")
    lines += ["## MAPE / p90 by model", ""]
    for model in MODELS:
        lines += model_table(runs, model, kernels, sizes)
    lines += savings(runs, kernels)
    (RESULTS / "features.md").write_text("\n".join(lines) + "\n")
    plot(runs, kernels, sizes, RESULTS / "features.png")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
