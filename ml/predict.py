"""Predict cycles with a trained model bundle:

    python -m ml.predict MODEL_DIR --points points.csv [--out predictions.csv]
    python -m ml.predict MODEL_DIR --spec SPEC --all [--where NAME=VALUE ...] [--top K]
        [--budget-kib B] [--pareto] [--verify K] [--out all.parquet]

``--all`` enumerates every combination of the spec's parameter values (the whole design
space x every workload size; ``--where`` fixes parameters), streamed in chunks with a
progress bar, vectorised; ``--top K`` prints and writes the K designs with the fewest
predicted cycles for each workload, ``--budget-kib`` only among designs whose L1D + L1I +
L2 capacity fits; ``--pareto`` writes the front of predicted cycles vs total cache size
(CSV and PNG); ``--verify K`` simulates the K best designs of each workload with the
spec's backend and reports the model's error on them. A model that can tell its
uncertainty (random forest: spread of its trees) adds ``spread_ln``. Output is CSV, or
Parquet when the file name ends in .parquet. A model whose features (names, roles,
transforms) differ from the spec's is refused.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

from . import bundle as bundles
from . import features as feature_sets
from . import space
from .errors import DataError


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m ml.predict", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("model_dir", type=Path, help="a bundle written by python -m ml.train")
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--points", type=Path, help="CSV of design points (the model's "
                        "parameter columns; other columns are kept)")
    source.add_argument("--all", action="store_true",
                        help="every combination of the --spec's parameter values")
    p.add_argument("--spec", type=Path, help="study spec: its parameters must be the model's; "
                   "needed with --all, and for a model with derived (workload-aware) features, "
                   "which are computed from its program's profiles")
    p.add_argument("--where", action="append", default=[], metavar="NAME=VALUE",
                   help="with --all: fix a parameter to one of its values (repeatable)")
    p.add_argument("--top", type=int, default=0, help="also report the K best designs per workload")
    p.add_argument("--budget-kib", type=float,
                   help="--top only among designs with L1D + L1I + L2 capacity <= this (KiB)")
    p.add_argument("--pareto", action="store_true", help="write the Pareto front of predicted "
                   "cycles vs total cache size per workload (CSV + PNG)")
    p.add_argument("--verify", type=int, default=0, metavar="K", help="simulate the K best "
                   "designs of each workload with the spec's backend; report the error")
    p.add_argument("--max-points", type=int, default=50_000_000,
                   help="refuse --all over a larger space")
    p.add_argument("--chunk", type=int, default=262_144, help="points per prediction chunk")
    p.add_argument("--out", type=Path, help="output file, .csv or .parquet "
                   "(default: MODEL_DIR/predictions_<source>.csv)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    return p.parse_args(argv)


def check_features(model_features: feature_sets.FeatureSet, spec_features, where: str) -> None:
    """Same parameter names with the same roles; the model's own transforms then apply (a
    spec may ask for a sub-range of the values the model was trained on)."""
    def described(fs):
        return ", ".join(f"{f.name} ({f.role})" for f in fs.features)

    if sorted(described(model_features).split(", ")) != \
            sorted(described(spec_features).split(", ")):
        raise DataError(f"{where}: the model's features ({described(model_features)}) do not "
                        f"match the spec's ({described(spec_features)}); train a model on "
                        "this study")


class Writer:
    """Streams frames to CSV or Parquet."""

    def __init__(self, path: Path):
        self.path, self.parquet, self.rows = path, path.suffix == ".parquet", 0
        self._writer = None
        path.parent.mkdir(parents=True, exist_ok=True)
        self._tmp = path.with_name(path.name + ".tmp")

    def write(self, frame: pd.DataFrame) -> None:
        if self.parquet:
            import pyarrow as pa
            import pyarrow.parquet as pq

            table = pa.Table.from_pandas(frame, preserve_index=False)
            if self._writer is None:
                self._writer = pq.ParquetWriter(self._tmp, table.schema)
            self._writer.write_table(table)
        else:
            frame.to_csv(self._tmp, mode="a" if self.rows else "w", header=not self.rows,
                         index=False)
        self.rows += len(frame)

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
        self._tmp.replace(self.path)  # only a complete file replaces an earlier one


def top_designs(best: pd.DataFrame | None, frame: pd.DataFrame, workload: list[str],
                k: int) -> pd.DataFrame:
    merged = frame if best is None else pd.concat([best, frame], ignore_index=True)
    merged = merged.sort_values("predicted_cycles", kind="stable")
    return merged.groupby(workload, sort=True).head(k) if workload else merged.head(k)


def restrict(spec: dict, where: list[str], path) -> dict:
    """The spec with parameters fixed by ``--where NAME=VALUE``."""
    spec = {**spec, "parameters": [dict(p) for p in spec["parameters"]]}
    by_name = {p["name"]: p for p in spec["parameters"]}
    for item in where:
        name, _, text = item.partition("=")
        if name not in by_name:
            raise DataError(f"--where {item}: {path} has no parameter {name!r} (it has "
                            f"{', '.join(by_name)})")
        try:
            value = float(text)
        except ValueError:
            value = None
        if value not in [float(v) for v in by_name[name]["values"]]:
            raise DataError(f"--where {item}: {name} must be one of {by_name[name]['values']}")
        by_name[name]["values"] = [value]
    return spec


def load_inputs(args, features):
    """(spec or None, frames to predict, total rows, label)."""
    derived = feature_sets.needs_derived(features)
    spec = None
    if args.spec:
        mode = "both" if derived else "raw"
        spec_features, spec = feature_sets.load_spec_features(
            args.spec, mode, backend=bool(args.verify))
        parameters = feature_sets.from_spec(spec)
        model_parameters = feature_sets.FeatureSet(
            [f for f in features.features if f.role != "derived"], features.source)
        if model_parameters.features:  # a derived-only model has no raw parameter inputs
            check_features(model_parameters, parameters, str(args.spec))
    elif args.all or derived or args.verify:
        raise DataError(f"{args.model_dir}: " + (
            "--all needs --spec" if args.all else "--verify needs --spec (its backend "
            "simulates the designs)" if args.verify else "the model uses derived "
            "(workload-aware) features: pass --spec so that they can be computed"))
    if args.points:
        try:
            frame = pd.read_csv(args.points)
        except (OSError, ValueError) as err:
            raise DataError(f"{args.points}: cannot read CSV: {err}") from None
        return spec, [frame], len(frame), "points"
    spec = restrict(spec, args.where, args.spec)
    total = space.size(spec)
    if total > args.max_points:
        counts = " x ".join(f"{len(p['values'])} {p['name']}" for p in spec["parameters"])
        raise DataError(f"{args.spec}: the space has {total:,} points ({counts}), more than "
                        f"--max-points {args.max_points:,}; fix parameters with --where "
                        "NAME=VALUE, use a spec with fewer values, or raise --max-points")
    names = [p["name"] for p in spec["parameters"]]
    return spec, space.chunks(spec, names, args.chunk), total, "all"


def run(args) -> pd.DataFrame | None:
    from tqdm import tqdm

    from . import answers

    model_bundle = bundles.load(args.model_dir)
    features = model_bundle.features
    derived = feature_sets.needs_derived(features)
    spec, chunks, total, label = load_inputs(args, features)
    workload = [f.name for f in features.of_role("workload")]
    out = args.out or args.model_dir / f"predictions_{label}.csv"
    top = max(args.top, args.verify)
    writer, best, front = Writer(out), None, None
    spread = model_bundle.model.predict_spread
    with tqdm(total=total, unit="point", unit_scale=True, disable=args.quiet) as bar:
        for frame in chunks:
            frame = frame.copy()
            inputs = frame
            if derived:
                from .derived import add_derived

                inputs = add_derived(frame, spec)
            X = features.matrix(inputs, str(args.points or args.spec))
            frame["predicted_cycles"] = model_bundle.model.predict(X)
            uncertainty = spread(X)
            if uncertainty is not None:
                frame["spread_ln"] = uncertainty
            kib = answers.total_cache_kib(frame, spec) if spec else None
            if kib is not None:
                frame["total_cache_kib"] = kib
            writer.write(frame)
            if top:
                fits = frame
                if args.budget_kib is not None:
                    if kib is None:
                        raise DataError("--budget-kib: the spec sweeps no cache size")
                    fits = frame[kib <= args.budget_kib]
                best = top_designs(best, fits, workload, top)
            if args.pareto and kib is not None:
                part = frame if front is None else pd.concat([front, frame], ignore_index=True)
                front = answers.pareto_front(part, "total_cache_kib", "predicted_cycles",
                                             workload)
            bar.update(len(frame))
    writer.close()
    print(f"{writer.rows:,} predictions -> {out}")
    if args.pareto:
        if front is None:
            raise DataError("--pareto: needs --spec and a spec that sweeps cache sizes")
        front_path = out.with_name(out.stem + "_pareto.csv")
        front.to_csv(front_path, index=False)
        answers.pareto_plot(front, "total_cache_kib", workload, front_path.with_suffix(".png"),
                            f"{model_bundle.meta.get('model')}: predicted Pareto front")
        print(f"Pareto front: {len(front)} designs -> {front_path} (+ .png)")
    if top and best is not None:
        if args.verify:
            ranked = best.groupby(workload, sort=True).head(args.verify) if workload else \
                best.head(args.verify)
            checked = answers.verify(spec, ranked, [p["name"] for p in spec["parameters"]])
            checked_path = out.with_name(out.stem + f"_verify{args.verify}.csv")
            checked.to_csv(checked_path, index=False)
            errors = checked["error_pct"].abs()
            print(f"verified {len(checked)} design(s) by simulation ({checked_path}): "
                  f"MAPE {errors.mean():.2f}%, worst {errors.max():.2f}%")
            best = best.merge(checked[[*best.columns, "simulated_cycles", "error_pct"]],
                              how="left", on=list(best.columns))
        if args.top:
            best = best.groupby(workload, sort=True).head(args.top) if workload else \
                best.head(args.top)
            top_path = out.with_name(out.stem + f"_top{args.top}.csv")
            best.to_csv(top_path, index=False)
            budget = f" within {args.budget_kib:g} KiB" if args.budget_kib is not None else ""
            print(f"best {args.top} design(s) per workload{budget} ({top_path}):")
            print(best.to_string(index=False, float_format=lambda v: f"{v:,.0f}",
                                 formatters={c: "{:.3f}".format for c in ("error_pct",
                                             "spread_ln") if c in best.columns}))
    return best


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        run(args)
    except DataError as err:
        print(f"ml.predict: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
