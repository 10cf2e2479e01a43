"""One exploration: rounds of simulating points and training on all simulated so far,
until the stopping rule says so; resumable (the state is in its directory)."""
from __future__ import annotations

import logging
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pandas as pd

from .. import bundle as bundles
from .. import core, rounds, space
from .. import features as feature_sets
from ..data import read_table
from ..domain import trained_parameters
from ..errors import DataError
from ..metrics import mape
from .choice import PointChoice
from .state import CURVE, ExplorationState
from .stopping import StoppingRule

logger = logging.getLogger(__name__)

VAL_SHARE_ROUND0 = 16 / 70  # the paper's 54/16 train/validation ratio
# What a resumed exploration must share with the first run (the stopping rules, --max,
# --patience and --target-mape, may change: raise --max to explore further).
RESUME_SETTINGS = ("spec", "start", "step", "strategy", "model", "features", "target", "seed",
                   "source", "freeze", "candidates")


class Explorer:
    """The exploration of ``args`` (an :class:`ml.explore.ExploreConfig`) in its
    directory; ``run()`` goes on from where it stopped."""

    def __init__(self, args):
        self.args = args
        self.cnn = {**args.model_params, "progress": not args.quiet}
        self.mode = feature_sets.resolve_mode(args.features, args.spec)
        self.features, self.spec = feature_sets.load_spec_features(args.spec, self.mode,
                                                                   backend=True)
        self.objective = self.spec.objective
        family = feature_sets.family_of(self.spec)
        self.names = list(self.spec.names)
        self.seed = args.seed if args.seed is not None else self.spec.sampling.seed
        self.out = args.out or Path("runs") / f"explore_{self.spec.study}"
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
        order = None
        if self.source is not None:
            from ..transfer import align

            _, order = align(self.source.features, self.features, args.source)
        self.inputs = core.Inputs(self.features, self.spec, order)
        estimate = family.estimate_column(self.objective)
        self.target = core.resolve_target(args.target, self.features, estimate)
        self.residual_column = core.residual_column(self.inputs.used, self.target, estimate)
        self.store = ExplorationState(self.out, self._settings(), self.features.names)
        self.stopping = StoppingRule(args.target_mape, args.patience, args.max)
        self.choice = PointChoice(args.strategy, self.spec, self.names, self.seed,
                                  args.candidates, self.inputs.matrix)
        self.test = self._load_test() if args.test else None

    @property
    def state(self) -> dict:
        """state.json's content: settings, rounds, stopped."""
        return self.store.data

    def _settings(self) -> dict:
        values = asdict(self.args) | {"features": self.mode}
        return {k: (str(values[k]) if isinstance(values[k], Path) else values[k])
                for k in RESUME_SETTINGS} | {"seed": self.seed}

    def _load_test(self):
        frame = read_table(self.args.test, self.objective).frame
        return self.inputs.matrix(frame, str(self.args.test)), \
            frame[self.objective].to_numpy(float), \
            set(space.encode(self.spec, self.names, frame, str(self.args.test)).tolist())

    def stop_reason(self) -> str | None:
        return self.stopping.reason(self.store.rounds, self.store.simulations())

    # --- one round's model -----------------------------------------------------------
    def model_for(self, number: int):
        """(model to fit this round, keep its input scaling?)."""
        args = self.args
        if number > 0 and args.model == "cnn":
            previous = bundles.load(self.store.model_dir(number - 1)).model
            # Only these change: the rest is the previous round's network's.
            previous.warm_start(epochs=self.cnn["epochs"], patience=self.cnn["patience"],
                                seed=self.seed + number, progress=self.cnn["progress"])
            return previous, True
        if number == 0 and self.source is not None:
            model, keep, _ = core.from_source(self.source, self.features, args.source,
                                              args.freeze, {**self.cnn, "seed": self.seed},
                                              self.target, self.residual_column)
            return model, keep
        return core.new_model(args.model, self.target, self.seed + number,
                              self.residual_column, self.cnn), False

    def train(self, number: int, frame: pd.DataFrame) -> dict:
        X, y = self.inputs.matrix(frame, "simulated"), frame[self.objective].to_numpy(float)
        keep = np.zeros(len(X), bool)
        keep[core.distinct(X)] = True  # a repeated point counts once
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
        entry: dict[str, float] = {"train": int(train.sum()), "validation": int(val.sum())}
        if number > 0:  # the previous model on points it has never seen
            previous = bundles.load(self.store.model_dir(number - 1)).model
            entry["prospective_mape_pct"] = mape(y[new], previous.predict(X[new]))
        model, keep_scalers = self.model_for(number)
        start = time.monotonic()
        history = core.fit(model, X[train], y[train], X[val], y[val], keep_scalers)
        entry["seconds"] = round(time.monotonic() - start, 2)
        entry["epochs"] = history.get("epochs", 0)
        entry["validation_mape_pct"] = mape(y[val], model.predict(X[val]))
        if self.test is not None:
            entry["test_mape_pct"] = mape(self.test[1], model.predict(self.test[0]))
        bundles.save(self.store.model_dir(number), model, self.inputs.used,
                     {"tabular": str(self.out), "response": self.objective,
                      "seed": self.seed + number, "feature_mode": self.mode,
                      "target": self.target,
                      "spec_hash": bundles.spec_hash(self.spec),
                      "parameters": trained_parameters(self.spec),
                      "samples": {"train": entry["train"], "val": entry["validation"]},
                      "exploration_round": number})
        return entry

    # --- the loop --------------------------------------------------------------------
    def run(self, report: Callable[[str], None] = logger.info) -> dict:
        """Explore until the stopping rule (or an exhausted space) says stop; ``report``
        gets a line per round and a last one; returns the state."""
        args = self.args
        while (reason := self.stop_reason()) is None:
            number = len(self.store.rounds)
            count = min(args.step, args.max - self.store.simulations())
            points = self.choice.points(number, self.store, count, self.objective,
                                        self.test[2] if self.test else set())
            if points is not None and not points:
                reason = "every point of the space is simulated (or held out)"
                break
            directory = rounds.round_dir(self.out, number)
            if number == 0:
                spec = self.spec.evolve(sampling=self.spec.sampling.evolve(
                    samples=args.start, seed=self.seed))
            else:
                spec = self.spec
            frame = rounds.run_round(spec, directory, points, args.slurm, args.quiet,
                                     self.objective)
            # points is None only in round 0 (Dakota's own sampling)
            requested = args.start if number == 0 or points is None else len(points)
            # Recorded first so that simulated() reads this round's evaluations too.
            self.store.rounds.append({"round": number, "points": requested,
                                      "failed": requested - len(frame)})
            try:
                entry = {**self.store.rounds[-1],
                         **self.train(number, self.store.simulated(self.objective))}
            except BaseException:
                self.store.rounds.pop()
                raise
            self.store.rounds[-1] = entry
            entry["simulated_total"] = self.store.simulations()
            self.store.save()
            report(round_line(entry))
            self._write_curve()
        self.state["stopped"] = reason
        self.store.save()
        report(self._finish(reason))
        return self.state

    def _write_curve(self) -> None:
        from .. import plots

        curve = pd.DataFrame(self.store.rounds)
        curve.to_csv(self.out / CURVE, index=False)
        plots.exploration_curve(curve, self.out / "learning_curve.png",
                                f"{self.spec.study}: {self.args.strategy} sampling")

    def _finish(self, reason: str) -> str:
        """Copy the last round's model to OUT/model; the closing line."""
        done = self.store.rounds
        final = self.out / "model"
        if done:
            if final.exists():
                shutil.rmtree(final)
            shutil.copytree(self.store.model_dir(done[-1]["round"]), final)
        return (f"stopped: {reason}; {self.store.simulations()} simulations in {len(done)} "
                f"round(s), {rounds.simulator_runs(self.out)} simulator runs; model: {final}; "
                f"learning curve: {self.out / CURVE}")


def round_line(entry: dict) -> str:
    """A round's summary: simulations, validation, prospective and held-out MAPE."""
    parts = [f"round {entry['round']}: {entry['simulated_total']} simulated "
             f"(+{entry['points']}, {entry['failed']} failed)",
             f"validation MAPE {entry['validation_mape_pct']:.2f}%"]
    if "prospective_mape_pct" in entry:
        parts.append(f"previous model on the new points {entry['prospective_mape_pct']:.2f}%")
    if "test_mape_pct" in entry:
        parts.append(f"held-out MAPE {entry['test_mape_pct']:.2f}%")
    return "; ".join(parts) + f" ({entry['seconds']:.0f} s training)"
