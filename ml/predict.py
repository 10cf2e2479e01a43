"""Predict cycles with a trained model bundle:

    python -m ml.predict MODEL_DIR --points points.csv [--out predictions.csv]
    python -m ml.predict MODEL_DIR --spec SPEC --all [--top K] [--out all.parquet]

``--all`` enumerates every combination of the spec's parameter values (the whole design
space x every workload size), streamed in chunks with a progress bar, vectorised; ``--top
K`` prints and writes the K designs with the fewest predicted cycles for each workload.
Output is CSV, or Parquet when the file name ends in .parquet. A model whose features
(names, roles, transforms) differ from the spec's is refused.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from . import bundle as bundles
from . import features as feature_sets
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
    p.add_argument("--top", type=int, default=0, help="also report the K best designs per workload")
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


def space_chunks(spec: dict, names: list[str], chunk: int):
    """The Cartesian product of the spec's values in ``names`` order, as frames of at most
    ``chunk`` rows (mixed-radix counting: no Python loop per point)."""
    values = {p["name"]: np.asarray(p["values"], dtype=float) for p in spec["parameters"]}
    sizes = [len(values[n]) for n in names]
    total = int(np.prod(sizes))
    strides = np.cumprod([1] + sizes[::-1][:-1])[::-1]
    for start in range(0, total, chunk):
        index = np.arange(start, min(start + chunk, total))
        yield pd.DataFrame({n: values[n][(index // stride) % size]
                            for n, stride, size in zip(names, strides, sizes, strict=True)})


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


def run(args) -> pd.DataFrame | None:
    from tqdm import tqdm

    model_bundle = bundles.load(args.model_dir)
    features = model_bundle.features
    derived = feature_sets.needs_derived(features)
    spec = None
    if args.spec:
        mode = "both" if derived else "raw"
        spec_features, spec = feature_sets.load_spec_features(args.spec, mode)
        parameters = feature_sets.from_spec(spec)
        model_parameters = feature_sets.FeatureSet(
            [f for f in features.features if f.role != "derived"], features.source)
        if model_parameters.features:  # a derived-only model has no raw parameter inputs
            check_features(model_parameters, parameters, str(args.spec))
    elif args.all or derived:
        raise DataError(f"{args.model_dir}: " + ("--all needs --spec" if args.all else
                        "the model uses derived (workload-aware) features: pass --spec so "
                        "that they can be computed"))
    names = [p["name"] for p in spec["parameters"]] if spec else None
    if args.points:
        try:
            frame = pd.read_csv(args.points)
        except (OSError, ValueError) as err:
            raise DataError(f"{args.points}: cannot read CSV: {err}") from None
        chunks, total, label = [frame], len(frame), "points"
    else:
        total = int(np.prod([len(p["values"]) for p in spec["parameters"]]))
        chunks, label = space_chunks(spec, names, args.chunk), "all"
    workload = [f.name for f in features.of_role("workload")]
    out = args.out or args.model_dir / f"predictions_{label}.csv"
    writer, best = Writer(out), None
    with tqdm(total=total, unit="point", unit_scale=True, disable=args.quiet) as bar:
        for frame in chunks:
            frame = frame.copy()
            inputs = frame
            if derived:
                from .derived import add_derived

                inputs = add_derived(frame, spec)
            frame["predicted_cycles"] = model_bundle.model.predict(
                features.matrix(inputs, str(args.points or args.spec)))
            writer.write(frame)
            if args.top:
                best = top_designs(best, frame, workload, args.top)
            bar.update(len(frame))
    writer.close()
    print(f"{writer.rows:,} predictions -> {out}")
    if args.top and best is not None:
        top_path = out.with_name(out.stem + f"_top{args.top}.csv")
        best.to_csv(top_path, index=False)
        print(f"best {args.top} design(s) per workload ({top_path}):")
        print(best.to_string(index=False, float_format=lambda v: f"{v:,.0f}"))
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
