"""Incremental (and active) sampling: simulate a few points, train, simulate more, retrain,
and stop when the model is good enough (Deffe, CF'20, section 3.2.3, Figure 4):

    python -m ml.explore SPEC --start N0 --step N --max NMAX [--target-mape X] [--patience P]
        [--from SOURCE_MODEL_DIR] [--strategy random|active] [--slurm] [--test TABULAR]

Round 0 simulates N0 points chosen by Dakota's own sampling of the spec (LHS or random);
each later round simulates N new points (never one simulated before) chosen by cyclecast
and handed to Dakota as a list parameter study. Validation: a round's new points are its
validation set (in round 0, 16/70 of the points); they move into training in the next
round. Before it is retrained, the previous model is scored on the new points: that
"prospective" MAPE is an unbiased estimate of its error on random points (random strategy).
Each round's CNN warm-starts from the previous round's (transfer across samples); with
``--from``, round 0 starts from another kernel's CNN with frozen conv layers (transfer across
kernels). Stops when validation MAPE reaches ``--target-mape``, or has not improved for
``--patience`` rounds, or ``--max`` simulations are spent. Writes OUT/learning_curve.csv and
.png, OUT/model (the last round's bundle) and OUT/state.json; run again to resume.
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np
import pandas as pd

from driver import cli
from driver.errors import SpecError

from . import bundle as bundles
from . import features as feature_sets
from . import rounds, sampling, space
from .data import read_frame, read_table
from .domain import trained_parameters
from .errors import DataError
from .metrics import mape
from .models import MODEL_NAMES, make
from .models.residual import Residual
from .space import python_value
from .train import resolve_target

STATE = "state.json"
CURVE = "learning_curve.csv"
VAL_SHARE_ROUND0 = 16 / 70  # the paper's 54/16 train/validation ratio
# What a resumed exploration must share with the first run (the stopping rules, --max,
# --patience and --target-mape, may change: raise --max to explore further).
RESUME_SETTINGS = ("spec", "start", "step", "strategy", "model", "features", "target", "seed",
                   "source", "freeze", "candidates")


@dataclass(frozen=True)
class ExploreConfig:
    """One exploration's settings; the CLI's options, typed."""

    spec: Path
    out: Path | None = None
    start: int = 200
    step: int = 200
    max: int = 2000
    target_mape: float | None = None
    patience: int = 2
    strategy: str = "random"
    candidates: int = 20_000
    model: str = "cnn"
    features: str = feature_sets.DEFAULT_MODE
    target: str = "auto"
    source: Path | None = None
    freeze: str = "conv"
    test: Path | None = None
    seed: int | None = None
    slurm: bool = False
    epochs: int = 600
    epoch_patience: int = 40
    batch_size: int = 32
    learning_rate: float = 1e-3
    dropout: float = 0.0
    quiet: bool = False


def parse_args(argv=None) -> ExploreConfig:
    p = cli.Parser(prog="python -m ml.explore", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("spec", type=Path, help="study spec (its backend simulates the points)")
    p.add_argument("--out", type=Path, help="exploration directory (default: runs/explore_STUDY)")
    p.add_argument("--start", type=cli.number(int), default=200, help="points simulated in round 0")
    p.add_argument("--step", type=cli.number(int), default=200, help="new points per later round")
    p.add_argument("--max", type=cli.number(int), default=2000,
                   help="stop after this many simulations")
    p.add_argument("--target-mape", type=cli.number(float, None, above=0),
                   help="stop when validation MAPE (%%) <= this")
    p.add_argument("--patience", type=cli.number(int), default=2,
                   help="stop after this many rounds without a better validation MAPE")
    p.add_argument("--strategy", default="random", choices=sampling.STRATEGIES,
                   help="how later rounds choose points: random (unsimulated, uniform) or "
                   "active (where a random forest's trees disagree most)")
    p.add_argument("--candidates", type=cli.number(int), default=20_000,
                   help="active: size of the random candidate pool per round")
    p.add_argument("--model", default="cnn", choices=MODEL_NAMES, help="surrogate model")
    p.add_argument("--features", default=feature_sets.DEFAULT_MODE, help="as in ml.train")
    p.add_argument("--target", default="auto", choices=("auto", "log", "residual"),
                   help="as in ml.train: auto = residual (the correction to the family's "
                   "estimate) with derived features that have one, else log")
    p.add_argument("--from", dest="source", type=Path,
                   help="a CNN bundle of another kernel to start from (transfer across kernels)")
    p.add_argument("--freeze", default="conv", choices=("conv", "none"),
                   help="with --from: freeze the conv layers (conv) or warm-start all (none)")
    p.add_argument("--test", type=Path, help="held-out tabular data scored every round "
                   "(its points are never chosen for simulation)")
    p.add_argument("--seed", type=int, help="seed of every random choice (default: the "
                   "spec's sampling seed)")
    p.add_argument("--slurm", action="store_true",
                   help="run each round as a Slurm batch job (one srun step per evaluation)")
    p.add_argument("--epochs", type=cli.number(int), default=600,
                   help="CNN: maximum epochs per round")
    p.add_argument("--epoch-patience", type=cli.number(int, 0), default=40,
                   help="CNN: early-stopping patience")
    p.add_argument("--batch-size", type=cli.number(int), default=32, help="CNN: mini-batch size")
    p.add_argument("--learning-rate", type=cli.number(float, None, above=0), default=1e-3,
                   help="CNN: Adam learning rate")
    p.add_argument("--dropout", type=cli.number(float, 0, below=1), default=0.0,
                   help="CNN: dropout after dense layers")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    ns = p.parse_args(argv)
    return ExploreConfig(**{f.name: getattr(ns, f.name) for f in fields(ExploreConfig)})


class Explorer:
    """The state of one exploration directory; ``run()`` goes on from where it stopped."""

    def __init__(self, args: ExploreConfig):
        self.args = args
        self.mode = feature_sets.resolve_mode(args.features, args.spec)
        self.features, self.spec = feature_sets.load_spec_features(args.spec, self.mode,
                                                                   backend=True)
        self.objective = self.spec["objective"]
        family = feature_sets.family_of(self.spec)
        self.names = [p["name"] for p in self.spec["parameters"]]
        self.derived = feature_sets.needs_derived(self.features)
        self.seed = args.seed if args.seed is not None else self.spec["sampling"]["seed"]
        self.out = args.out or Path("runs") / f"explore_{self.spec['study']}"
        self.total = space.size(self.spec)
        if args.start > self.total:
            raise DataError(f"--start {args.start}: the space of {args.spec} has only "
                            f"{self.total:,} points")
        if min(args.start, args.step, args.max) < 1 or args.start > args.max:
            raise DataError(f"--start {args.start} --step {args.step} --max {args.max}: need "
                            "1 <= start <= max and step >= 1")
        self.source = bundles.load(args.source) if args.source else None
        if self.source is not None and args.model != "cnn":
            raise DataError(f"--from {args.source}: transfer learning is for --model cnn")
        self.order = None
        if self.source is not None:
            from .transfer import align

            _, self.order = align(self.source.features, self.features, args.source)
        used = self.features.names if self.order is None else \
            [self.features.names[i] for i in self.order]
        estimate = family.estimate_column(self.objective)
        self.target = resolve_target(args.target, self.features, estimate)
        used_set = feature_sets.FeatureSet(
            [self.features.features[self.features.names.index(n)] for n in used],
            self.features.source)
        self.residual_column = (used_set.column_index(estimate) if self.target == "residual"
                                else None)
        self.state = self._load_state()
        self.test = self._load_test() if args.test else None

    # --- state -----------------------------------------------------------------------
    def _settings(self) -> dict:
        values = asdict(self.args) | {"features": self.mode}
        return {k: (str(values[k]) if isinstance(values[k], Path) else values[k])
                for k in RESUME_SETTINGS} | {"seed": self.seed}

    def _load_state(self) -> dict:
        path = self.out / STATE
        if not path.exists():
            self.out.mkdir(parents=True, exist_ok=True)
            return {"settings": self._settings(), "rounds": [], "stopped": None}
        state = json.loads(path.read_text())
        changed = [k for k, v in self._settings().items() if state["settings"].get(k) != v]
        if changed:
            raise DataError(f"{self.out}: an exploration with other settings ("
                            + ", ".join(f"{k}={state['settings'].get(k)}" for k in changed)
                            + "); run it with those, or choose another --out")
        self._check_model_features()
        return state

    def _check_model_features(self) -> None:
        """A resumed exploration's model must take today's features (a directory made by an
        older cyclecast may hold a model on other derived features)."""
        try:
            saved = json.loads((self.out / "model" / bundles.BUNDLE).read_text())["features"]
        except (OSError, ValueError, KeyError):
            return  # no model yet: nothing to carry on from
        then = [f["name"] for f in saved]
        now = self.features.names
        if sorted(then) != sorted(now):
            gone, new = sorted(set(then) - set(now)), sorted(set(now) - set(then))
            raise DataError(f"{self.out}: its model takes other features (here now: "
                            f"{', '.join(new) or 'none'}; there only: {', '.join(gone) or 'none'}"
                            "), e.g. made by an older cyclecast; remove it or choose another "
                            "--out")

    def _save_state(self) -> None:
        tmp = self.out / (STATE + ".tmp")
        tmp.write_text(json.dumps(self.state, indent=1) + "\n")
        tmp.replace(self.out / STATE)

    def _load_test(self):
        frame = read_table(self.args.test, self.objective).frame
        return self.matrix(frame, str(self.args.test)), \
            frame[self.objective].to_numpy(float), \
            set(space.encode(self.spec, self.names, frame, str(self.args.test)).tolist())

    # --- data ------------------------------------------------------------------------
    def matrix(self, frame: pd.DataFrame, where: str) -> np.ndarray:
        if self.derived:
            frame = feature_sets.add_derived(frame, self.spec)
        X = self.features.matrix(frame, where)
        return X if self.order is None else X[:, self.order]

    def simulated(self) -> pd.DataFrame:
        """Every finished evaluation so far, with its round and point index."""
        frames = []
        for entry in self.state["rounds"]:
            frame = read_table(rounds.round_dir(self.out, entry["round"]) / "tabular.dat",
                               self.objective).frame
            frames.append(frame.assign(round=entry["round"]))
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()

    def chosen_before(self, upto: int) -> set[int]:
        """Indices of every point of rounds < ``upto`` (finished, failed or pending)."""
        taken: set[int] = set()
        for number in range(upto):
            directory = rounds.round_dir(self.out, number)
            points = rounds.load_points(directory)
            if points is None:  # round 0: Dakota's sampling; its tabular has them all
                frame = read_frame(directory / "tabular.dat")
            else:
                frame = pd.DataFrame(points)
            taken.update(space.encode(self.spec, self.names, frame, str(directory)).tolist())
        return taken

    # --- one round -------------------------------------------------------------------
    def points_for(self, number: int) -> list[dict] | None:
        if number == 0:
            return None  # Dakota's own sampling of the spec
        directory = rounds.round_dir(self.out, number)
        saved = rounds.load_points(directory)
        if saved is not None:
            return saved
        exclude = self.chosen_before(number) | (self.test[2] if self.test else set())
        count = min(self.args.step, self.args.max - self.simulations())
        data = None
        if self.args.strategy == "active":
            frame = self.simulated()

            def data(index):
                return self.matrix(space.decode(self.spec, self.names, index), "candidates")
            data.X = self.matrix(frame, "simulated")
            data.y = frame[self.objective].to_numpy(float)
        index = sampling.choose(self.args.strategy, self.spec, exclude, count,
                                [self.seed, number], data, self.args.candidates)
        points = space.decode(self.spec, self.names, index)
        rows = [{n: python_value(v) for n, v in row.items()} for row in points.to_dict("records")]
        rounds.save_points(directory, rows)
        return rows

    def simulations(self) -> int:
        return sum(entry["points"] for entry in self.state["rounds"])

    def model_for(self, number: int):
        """(model to fit this round, keep its input scaling?)."""
        args = self.args
        if number > 0 and args.model == "cnn":
            previous = bundles.load(rounds.round_dir(self.out, number - 1) / "model").model
            network = getattr(previous, "inner", previous)  # a residual model's CNN
            network.epochs, network.patience = args.epochs, args.epoch_patience
            network.seed, network.progress = self.seed + number, not args.quiet
            network.compile()  # a fresh optimiser at the initial learning rate
            return previous, True
        if number == 0 and self.source is not None:
            from .transfer import TransferOptions, prepare_transfer

            options = TransferOptions(source=args.source, freeze=args.freeze,
                                      epochs=args.epochs, patience=args.epoch_patience,
                                      batch_size=args.batch_size,
                                      learning_rate=args.learning_rate, seed=self.seed,
                                      quiet=args.quiet)
            model, keep, _ = prepare_transfer(self.source, self.features, options)
            if self.target == "residual":
                model = Residual(model, self.residual_column)
            return model, keep
        options = {}
        if args.model == "cnn":
            options = {"epochs": args.epochs, "patience": args.epoch_patience,
                       "batch_size": args.batch_size, "learning_rate": args.learning_rate,
                       "dropout": args.dropout, "progress": not args.quiet}
        return make(args.model, self.target, self.seed + number,
                    residual_column=self.residual_column, **options), False

    def train(self, number: int, frame: pd.DataFrame) -> dict:
        X, y = self.matrix(frame, "simulated"), frame[self.objective].to_numpy(float)
        _, first = np.unique(X, axis=0, return_index=True)
        keep = np.zeros(len(X), bool)
        keep[first] = True  # a repeated point counts once
        new = keep & (frame["round"].to_numpy() == number)
        if number == 0:
            chosen = np.random.default_rng([self.seed, 0]).permutation(np.flatnonzero(keep))
            val = np.zeros(len(X), bool)
            val[chosen[:max(2, int(round(len(chosen) * VAL_SHARE_ROUND0)))]] = True
        else:
            val = new
        train = keep & ~val
        if train.sum() < 2 or val.sum() < 2:
            raise DataError(f"{self.out}: round {number}: {int(train.sum())} training and "
                            f"{int(val.sum())} validation points finished; need 2 of each "
                            "(too many failed evaluations?)")
        entry = {"train": int(train.sum()), "validation": int(val.sum())}
        if number > 0:  # the previous model on points it has never seen
            previous = bundles.load(rounds.round_dir(self.out, number - 1) / "model").model
            entry["prospective_mape_pct"] = mape(y[new], previous.predict(X[new]))
        model, keep_scalers = self.model_for(number)
        start = time.monotonic()
        if keep_scalers:
            history = model.fit(X[train], y[train], X[val], y[val], keep_scalers=True)
        else:
            history = model.fit(X[train], y[train], X[val], y[val])
        entry["seconds"] = round(time.monotonic() - start, 2)
        entry["epochs"] = history.get("epochs", 0)
        entry["validation_mape_pct"] = mape(y[val], model.predict(X[val]))
        if self.test is not None:
            entry["test_mape_pct"] = mape(self.test[1], model.predict(self.test[0]))
        features = self.features
        if self.order is not None:
            features = feature_sets.FeatureSet([self.features.features[i] for i in self.order],
                                               self.features.source)
        bundles.save(rounds.round_dir(self.out, number) / "model", model, features,
                     {"tabular": str(self.out), "response": self.objective,
                      "seed": self.seed + number, "feature_mode": self.mode,
                      "target": self.target,
                      "spec_hash": bundles.spec_hash(self.spec),
                      "parameters": trained_parameters(self.spec),
                      "samples": {"train": entry["train"], "val": entry["validation"]},
                      "exploration_round": number})
        return entry

    # --- the loop --------------------------------------------------------------------
    def stop_reason(self) -> str | None:
        done = self.state["rounds"]
        if not done:
            return None
        target = self.args.target_mape
        last = done[-1]["validation_mape_pct"]
        if target is not None and last <= target:
            return f"validation MAPE {last:.2f}% <= target {target:g}%"
        best_round = min(range(len(done)), key=lambda i: done[i]["validation_mape_pct"])
        if len(done) - 1 - best_round >= self.args.patience:
            return (f"validation MAPE has not improved for {self.args.patience} round(s) "
                    f"(best {done[best_round]['validation_mape_pct']:.2f}% in round "
                    f"{best_round})")
        if self.simulations() >= self.args.max:
            missed = f"; target {target:g}% not met" if target is not None else ""
            return f"--max {self.args.max} simulations spent{missed}"
        return None  # (a space with no unsimulated point left stops in run())

    def run(self) -> dict:
        args = self.args
        while (reason := self.stop_reason()) is None:
            number = len(self.state["rounds"])
            points = self.points_for(number)
            if points is not None and not points:
                reason = "every point of the space is simulated (or held out)"
                break
            directory = rounds.round_dir(self.out, number)
            if number == 0:
                spec = {**self.spec, "sampling": {**self.spec["sampling"],
                                                  "samples": args.start, "seed": self.seed}}
            else:
                spec = self.spec
            frame = rounds.run_round(spec, directory, points, args.slurm, args.quiet,
                                     self.objective)
            requested = args.start if number == 0 else len(points)
            # Recorded first so that simulated() reads this round's evaluations too.
            self.state["rounds"].append({"round": number, "points": requested,
                                         "failed": requested - len(frame)})
            try:
                entry = {**self.state["rounds"][-1], **self.train(number, self.simulated())}
            except BaseException:
                self.state["rounds"].pop()
                raise
            self.state["rounds"][-1] = entry
            entry["simulated_total"] = self.simulations()
            self._save_state()
            self._report(entry)
        self.state["stopped"] = reason
        self._save_state()
        self._finish(reason)
        return self.state

    def _report(self, entry: dict) -> None:
        parts = [f"round {entry['round']}: {entry['simulated_total']} simulated "
                 f"(+{entry['points']}, {entry['failed']} failed)",
                 f"validation MAPE {entry['validation_mape_pct']:.2f}%"]
        if "prospective_mape_pct" in entry:
            parts.append(f"previous model on the new points {entry['prospective_mape_pct']:.2f}%")
        if "test_mape_pct" in entry:
            parts.append(f"held-out MAPE {entry['test_mape_pct']:.2f}%")
        print("; ".join(parts) + f" ({entry['seconds']:.0f} s training)", flush=True)
        self._write_curve()

    def _write_curve(self) -> None:
        from . import plots

        curve = pd.DataFrame(self.state["rounds"])
        curve.to_csv(self.out / CURVE, index=False)
        plots.exploration_curve(curve, self.out / "learning_curve.png",
                                f"{self.spec['study']}: {self.args.strategy} sampling")

    def _finish(self, reason: str) -> None:
        done = self.state["rounds"]
        final = self.out / "model"
        if done:
            if final.exists():
                shutil.rmtree(final)
            shutil.copytree(rounds.round_dir(self.out, done[-1]["round"]) / "model", final)
        print(f"stopped: {reason}; {self.simulations()} simulations in {len(done)} round(s), "
              f"{rounds.simulator_runs(self.out)} simulator runs; model: {final}; learning "
              f"curve: {self.out / CURVE}", flush=True)


def main(argv=None) -> int:
    args = parse_args(argv)
    return cli.run_cli("ml.explore", lambda: Explorer(args).run() and None, (DataError, SpecError))


if __name__ == "__main__":
    sys.exit(main())
