"""Predict a study's objective with a trained model bundle:

    python -m ml.predict MODEL_DIR --points points.csv [--out predictions.csv]
    python -m ml.predict MODEL_DIR --spec SPEC --all [--where NAME=VALUE ...] [--top K]
        [--budget AXIS=MAX ...] [--pareto] [--verify K] [--out all.parquet]

``--all`` enumerates every combination of the spec's parameter values (the whole design
space x every workload; ``--where`` fixes parameters, categorical ones by name), streamed in
chunks with a progress bar, vectorised; ``--top K`` prints and writes the K designs with
the lowest predicted objective for each workload and, when the study's design-space family
has cost axes (cache capacity, area...), the best design within each budget and the knee of
the front; ``--budget AXIS=MAX`` keeps only designs within a budget; ``--pareto`` writes
the front of the predicted objective against the cost axis (``--cost``; CSV and PNG);
``--verify K`` evaluates the K best designs of each workload with the spec's backend and
reports the model's error on them. A model that can tell its uncertainty (random forest:
spread of its trees) adds ``spread_ln``. Output is CSV, or Parquet when the file name ends
in .parquet. A model whose features (names, roles, transforms) differ from the spec's is
refused. The CLI is a thin parser over :func:`predict` and its :class:`PredictConfig`.
"""
from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from driver.cli import Parser, number, run_cli, show_logs
from driver.errors import SpecError
from driver.resolved import ResolvedSpec

from . import bundle as bundles
from . import features as feature_sets
from . import space
from .data import read_frame
from .domain import check_designs, check_values
from .errors import DataError

if TYPE_CHECKING:
    import pyarrow.parquet as pq

logger = logging.getLogger(__name__)
OUTPUT_SUFFIXES = (".csv", ".parquet")


@dataclass(frozen=True)
class PredictConfig:
    """One prediction run; the CLI's options, typed."""

    model_dir: Path
    points: Path | None = None
    all: bool = False
    spec: Path | None = None
    where: tuple[str, ...] = ()
    top: int = 0
    budget: tuple[str, ...] = ()
    cost: str | None = None
    pareto: bool = False
    verify: int = 0
    max_points: int = 50_000_000
    chunk: int = 262_144
    extrapolate: bool = False
    out: Path | None = None
    quiet: bool = False
    verbose: bool = False


@dataclass
class Answers:
    """What a prediction run found (frames empty when not asked for)."""

    rows: int
    out: Path
    best: pd.DataFrame | None = None       # the K best per workload (--top / --verify)
    front: pd.DataFrame | None = None      # Pareto front per workload (--pareto / --top)
    knees: pd.DataFrame | None = None
    budgets: pd.DataFrame | None = None    # the best design within each budget level
    verified: pd.DataFrame | None = None
    notes: list[str] = field(default_factory=list)


def parse_args(argv=None) -> PredictConfig:
    p = Parser(prog="python -m ml.predict", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("model_dir", type=Path, help="a bundle written by python -m ml.train")
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--points", type=Path, help="CSV of design points (the model's "
                        "parameter columns; other columns are kept)")
    source.add_argument("--all", action="store_true",
                        help="every combination of the --spec's parameter values")
    p.add_argument("--spec", type=Path, help="study spec: its parameters must be the model's; "
                   "needed with --all, and for a model with derived features, which its "
                   "design-space family computes")
    p.add_argument("--where", action="append", default=[], metavar="NAME=VALUE",
                   help="with --all: fix a parameter to one of its values (repeatable)")
    p.add_argument("--top", type=number(int, 0), default=0,
                   help="also report the K best designs per "
                   "workload, the best within each budget and the front's knee")
    p.add_argument("--budget", action="append", default=[], metavar="AXIS=MAX",
                   help="only designs whose cost on AXIS (a cost axis of the study's family, "
                   "an unknown name lists them) is at most MAX (repeatable)")
    p.add_argument("--cost", help="the cost axis of --pareto and the budget table (default: "
                   "the family's first)")
    p.add_argument("--pareto", action="store_true", help="write the Pareto front of the "
                   "predicted objective vs the cost axis per workload (CSV + PNG)")
    p.add_argument("--verify", type=number(int, 0), default=0, metavar="K",
                   help="evaluate the K best "
                   "designs of each workload with the spec's backend; report the error")
    p.add_argument("--max-points", type=number(int), default=50_000_000,
                   help="refuse --all over a larger space")
    p.add_argument("--chunk", type=number(int), default=262_144, help="points per prediction chunk")
    p.add_argument("--extrapolate", action="store_true", help="predict at numbers outside "
                   "the range the model was trained on (refused by default)")
    p.add_argument("--out", type=Path, help="output file, .csv or .parquet "
                   "(default: MODEL_DIR/predictions_<source>.csv)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("-v", "--verbose", action="store_true", help="show progress logs")
    ns = p.parse_args(argv)
    if ns.out is not None and ns.out.is_dir():
        p.error(f"--out {ns.out}: is a directory; give a file name ending in .csv or .parquet")
    if ns.out is not None and ns.out.suffix not in OUTPUT_SUFFIXES:
        p.error(f"--out {ns.out}: allowed file endings: {', '.join(OUTPUT_SUFFIXES)}")
    values = {f.name: getattr(ns, f.name) for f in fields(PredictConfig)}
    return PredictConfig(**{**values, "where": tuple(ns.where), "budget": tuple(ns.budget)})


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
        self._writer: pq.ParquetWriter | None = None
        self._tmp = path.with_name(path.name + ".tmp")
        try:  # before any work: a file that cannot be written is refused at once
            path.parent.mkdir(parents=True, exist_ok=True)
            self._tmp.touch()
        except OSError as err:
            raise DataError(f"{path}: cannot write: {err.strerror or err}") from None

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

    def abort(self) -> None:
        """A failed run leaves no partial file behind (and an earlier output as it was)."""
        if self._writer is not None:
            self._writer.close()
        self._tmp.unlink(missing_ok=True)

    def __enter__(self) -> Writer:
        return self

    def __exit__(self, kind, value, traceback) -> None:
        if kind is None:
            self.close()
        else:
            self.abort()


def top_designs(best: pd.DataFrame | None, frame: pd.DataFrame, workload: list[str],
                k: int, value: str) -> pd.DataFrame:
    merged = frame if best is None else pd.concat([best, frame], ignore_index=True)
    merged = merged.sort_values(value, kind="stable")
    return merged.groupby(workload, sort=True).head(k) if workload else merged.head(k)


def restrict(spec: ResolvedSpec, where: tuple[str, ...], path) -> ResolvedSpec:
    """The spec with parameters fixed by ``--where NAME=VALUE``."""
    by_name = {p.name: p for p in spec.parameters}
    for item in where:
        name, _, text = item.partition("=")
        if name not in by_name:
            raise DataError(f"--where {item}: {path} has no parameter {name!r} (it has "
                            f"{', '.join(by_name)})")
        allowed = by_name[name].values
        value: str | float | int | None
        if by_name[name].categorical:
            value = text if text in allowed else None
        else:
            try:
                value = float(text)
            except ValueError:
                value = None
            value = next((v for v in allowed if value is not None and float(v) == value), None)
        if value is None:
            raise DataError(f"--where {item}: {name} must be one of {sorted(allowed)}")
        by_name[name] = by_name[name].evolve(values=(value,))
    return spec.evolve(parameters=tuple(by_name[p.name] for p in spec.parameters))


def parse_budgets(items: tuple[str, ...], axes: dict[str, str], where: str) -> dict[str, float]:
    budgets = {}
    for item in items:
        name, _, text = item.partition("=")
        if name not in axes:
            allowed = ", ".join(axes) or "none (this study's designs differ in no cost)"
            raise DataError(f"--budget {item}: {name!r} is not a cost axis of {where}; "
                            f"allowed: {allowed}")
        try:
            budgets[name] = float(text)
        except ValueError:
            raise DataError(f"--budget {item}: {text!r} is not a number") from None
    return budgets


def load_inputs(config: PredictConfig, features, meta: dict):
    """(spec or None, frames to predict, total rows, label)."""
    derived = feature_sets.needs_derived(features)
    spec: ResolvedSpec | None = None
    if config.spec:
        mode = "both" if derived else "raw"
        _, spec = feature_sets.load_spec_features(config.spec, mode,
                                                  backend=bool(config.verify))
        parameters = (feature_sets.described(spec) if derived
                      else feature_sets.from_spec(spec))
        model_parameters = feature_sets.FeatureSet(
            [f for f in features.features if f.role != "derived"], features.source)
        if model_parameters.features:  # a derived-only model has no raw parameter inputs
            check_features(model_parameters, parameters, str(config.spec))
    elif config.all or derived or config.verify or config.budget or config.pareto:
        raise DataError(f"{config.model_dir}: " + (
            "--all needs --spec" if config.all else "--verify needs --spec (its backend "
            "evaluates the designs)" if config.verify else "--budget and --pareto need "
            "--spec (its family says what a design costs)" if not derived else "the model "
            "uses derived features: pass --spec so that they can be computed"))
    trained = meta.get("parameters")
    if spec is not None and trained is None and meta.get("spec_hash") not in (
            None, bundles.spec_hash(spec)):  # a bundle from before parameters were kept
        raise DataError(f"{config.spec}: its parameters differ from those the model was "
                        f"trained on ({meta.get('feature_source')}); pass that spec")
    if config.points:
        frame = read_frame(config.points)
        where = str(config.points)
        names = [f.name for f in features.features if f.role != "derived"]
        missing = [n for n in names if n not in frame.columns]
        if missing:
            raise DataError(f"{where}: no column {missing[0]!r}; the model's parameters are "
                            f"{', '.join(names)}")
        for name in names:
            words = frame[name].map(lambda v: isinstance(v, str))
            categorical = any(p["name"] == name and p.get("type") == "categorical"
                              for p in trained or ())
            if words.any() and not categorical:
                row = int(words.to_numpy().argmax()) + 2
                raise DataError(f"{where}: row {row}: {name} = {frame[name].iloc[row - 2]!r} "
                                "is not a number")
        check_values(trained, {n: frame[n].unique().tolist() for n in names}, where,
                     config.extrapolate)
        if spec is not None:
            check_designs(frame, spec, where)
        return spec, [frame], len(frame), "points"
    assert spec is not None  # without --points: --all, which needs --spec (above)
    spec = restrict(spec, config.where, config.spec)
    check_values(trained, {p.name: list(p.values) for p in spec.parameters},
                 str(config.spec), config.extrapolate)
    total = space.size(spec)
    if total > config.max_points:
        counts = " x ".join(f"{len(p.values)} {p.name}" for p in spec.parameters)
        raise DataError(f"{config.spec}: the space has {total:,} points ({counts}), more "
                        f"than --max-points {config.max_points:,}; fix parameters with "
                        "--where NAME=VALUE, use a spec with fewer values, or raise "
                        "--max-points")
    names = list(spec.names)
    return spec, space.chunks(spec, names, config.chunk), total, "all"


def predict(config: PredictConfig, report: Callable[[str], None] = logger.info) -> Answers:
    """Predict the configured points; write them and the answers asked for. ``report``
    gets what was written and the answers' tables (the CLI prints them)."""
    from tqdm import tqdm

    from . import answers

    model_bundle = bundles.load(config.model_dir)
    features = model_bundle.features
    value = f"predicted_{model_bundle.meta['response']}"
    derived = feature_sets.needs_derived(features)
    spec, chunks, total, label = load_inputs(config, features, model_bundle.meta)
    family = feature_sets.family_of(spec) if spec is not None else None
    axes = family.cost_axes() if family is not None else {}
    budgets = parse_budgets(config.budget, axes, str(config.spec))
    cost = config.cost or next(iter(axes), None)
    if config.cost and config.cost not in axes:
        raise DataError(f"--cost {config.cost}: not a cost axis of {config.spec}; allowed: "
                        f"{', '.join(axes) or 'none'}")
    if config.pareto and cost is None:
        assert family is not None  # --pareto needs --spec (load_inputs)
        raise DataError(f"--pareto: {config.spec}: the study's designs differ in no cost "
                        f"({family.name} family); nothing to trade the objective against")
    workload = [f.name for f in features.of_role("workload")]
    out = config.out or config.model_dir / f"predictions_{label}.csv"
    top = max(config.top, config.verify)
    result = Answers(rows=0, out=out)
    best = front = None
    spread = model_bundle.model.predict_spread
    with Writer(out) as writer, \
            tqdm(total=total, unit="point", unit_scale=True, disable=config.quiet) as bar:
        for frame in chunks:
            frame = frame.copy()
            inputs = feature_sets.add_derived(frame, spec) if derived else frame
            X = features.matrix(inputs, str(config.points or config.spec))
            frame[value] = model_bundle.model.predict(X)
            uncertainty = spread(X)
            if uncertainty is not None:
                frame["spread_ln"] = uncertainty
            if axes and family is not None:  # (only a family has cost axes)
                frame = frame.join(family.costs(frame))
            writer.write(frame)
            fits = frame
            for name, limit in budgets.items():
                fits = fits[fits[name] <= limit]
            if top:
                best = top_designs(best, fits, workload, top, value)
            if cost is not None and (config.pareto or config.top):
                part = fits if front is None else pd.concat([front, fits], ignore_index=True)
                front = answers.pareto_front(part, cost, value, workload)
            bar.update(len(frame))
    result.rows = writer.rows
    report(f"{writer.rows:,} predictions -> {out}")
    if front is not None and cost is not None:  # (a front is along the cost axis)
        result.front, result.knees = front, answers.knee(front, cost, value, workload)
    if config.pareto:
        assert front is not None and cost is not None  # a cost axis (checked above)
        front_path = out.with_name(out.stem + "_pareto.csv")
        front.to_csv(front_path, index=False)
        answers.pareto_plot(front, cost, axes[cost], value, workload,
                            front_path.with_suffix(".png"),
                            f"{model_bundle.meta.get('model')}: predicted Pareto front",
                            result.knees)
        report(f"Pareto front: {len(front)} designs -> {front_path} (+ .png)")
    if top and best is not None:
        best = _verify_and_report(config, spec, best, workload, value, cost, out, result,
                                  report)
    result.best = best
    return result


def _verify_and_report(config, spec, best, workload, value, cost, out, result,
                       report: Callable[[str], None]) -> pd.DataFrame:
    from . import answers

    objective = value.removeprefix("predicted_")
    if config.verify:
        ranked = best.groupby(workload, sort=True).head(config.verify) if workload else \
            best.head(config.verify)
        checked = answers.verify(spec, ranked, list(spec.names),
                                 objective)
        checked_path = out.with_name(out.stem + f"_verify{config.verify}.csv")
        checked.to_csv(checked_path, index=False)
        errors = checked["error_pct"].abs()
        report(f"verified {len(checked)} design(s) by evaluation ({checked_path}): "
              f"MAPE {errors.mean():.2f}%, worst {errors.max():.2f}%")
        best = best.merge(checked[[*best.columns, f"simulated_{objective}", "error_pct"]],
                          how="left", on=list(best.columns))
        result.verified = checked
    if not config.top:
        return best
    best = best.groupby(workload, sort=True).head(config.top) if workload else \
        best.head(config.top)
    top_path = out.with_name(out.stem + f"_top{config.top}.csv")
    best.to_csv(top_path, index=False)
    within = "".join(f", {b}" for b in config.budget)
    report(f"best {config.top} design(s) per workload{' within ' + within[2:] if within else ''}"
          f" ({top_path}):")
    report(_table(best))
    if result.front is not None:
        result.budgets = answers.budget_levels(result.front, cost, workload)
        budgets_path = out.with_name(out.stem + "_budgets.csv")
        result.budgets.to_csv(budgets_path, index=False)
        report(f"best design within each {cost} budget ({budgets_path}); the front's knee "
              "marked *:")
        report(_table(_mark_knees(result.budgets, result.knees, workload + [cost])))
    return best


def _mark_knees(budgets: pd.DataFrame, knees: pd.DataFrame, order: list[str]) -> pd.DataFrame:
    """The budget table with the knee added (if the level sampling skipped it), marked."""
    marked = budgets.merge(knees.assign(knee="*"), how="outer", on=list(knees.columns))
    return marked.fillna({"knee": ""}).sort_values(order, kind="stable")


def _table(frame: pd.DataFrame) -> str:
    formats = {c: "{:.3f}".format for c in ("error_pct", "spread_ln") if c in frame.columns}
    return frame.to_string(index=False, float_format=lambda v: f"{v:,.0f}", formatters=formats)


def main(argv=None) -> int:
    config = parse_args(argv)
    show_logs(config.verbose)

    def body() -> None:  # the answers are printed; the exit status is 0
        predict(config, report=print)

    return run_cli("ml.predict", body, (DataError, SpecError))


if __name__ == "__main__":
    sys.exit(main())
