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
import sys
from dataclasses import dataclass, field, fields
from pathlib import Path

from driver import cli
from driver.errors import SpecError

from . import features as feature_sets
from . import sampling
from .errors import DataError
from .exploration import CURVE, STATE, Explorer
from .exploration.explorer import RESUME_SETTINGS, VAL_SHARE_ROUND0
from .models import MODEL_NAMES

# The CNN's hyperparameters where ml.explore's differ from the CNN's own defaults: fewer
# epochs per round (later rounds warm-start), smaller batches for the few points, no dropout.
CNN_DEFAULTS = {"epochs": 600, "patience": 40, "batch_size": 32, "dropout": 0.0}


@dataclass(frozen=True)
class ExploreConfig:
    """One exploration's settings; the CLI's options, typed."""

    spec: Path
    out: Path | None = None
    start: int = 200
    step: int = 200
    max: int = 2000
    target_mape: float | None = None
    patience: int = 2  # rounds (the CNN's epoch patience is cnn["patience"])
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
    # The CNN's keyword arguments (ml.models.cnn.CNN) over CNN_DEFAULTS, e.g. {"epochs": 50}.
    cnn: dict = field(default_factory=dict)
    quiet: bool = False
    verbose: bool = False

    @property
    def model_params(self) -> dict:
        """Every CNN hyperparameter this exploration trains with (but seed and progress,
        which the exploration sets per round)."""
        from .models.cnn import CNN

        params = {k: v for k, v in CNN().get_params().items() if k not in ("seed", "progress")}
        return {**params, **CNN_DEFAULTS, **self.cnn}


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
    cnn = ExploreConfig(spec=Path()).model_params  # the CNN's, as explore sets them (no spec read)
    p.add_argument("--epochs", dest="cnn_epochs", metavar="EPOCHS", type=cli.number(int),
                   default=cnn["epochs"], help="CNN: maximum epochs per round")
    p.add_argument("--epoch-patience", dest="cnn_patience", metavar="EPOCH_PATIENCE",
                   type=cli.number(int, 0), default=cnn["patience"],
                   help="CNN: early-stopping patience")
    p.add_argument("--batch-size", dest="cnn_batch_size", metavar="BATCH_SIZE",
                   type=cli.number(int), default=cnn["batch_size"], help="CNN: mini-batch size")
    p.add_argument("--learning-rate", dest="cnn_learning_rate", metavar="LEARNING_RATE",
                   type=cli.number(float, None, above=0), default=cnn["learning_rate"],
                   help="CNN: Adam learning rate")
    p.add_argument("--dropout", dest="cnn_dropout", metavar="DROPOUT",
                   type=cli.number(float, 0, below=1), default=cnn["dropout"],
                   help="CNN: dropout after dense layers")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.add_argument("-v", "--verbose", action="store_true", help="show progress logs")
    ns = p.parse_args(argv)
    given = {k[len("cnn_"):]: v for k, v in vars(ns).items() if k.startswith("cnn_")}
    return ExploreConfig(**{f.name: getattr(ns, f.name) for f in fields(ExploreConfig)
                            if f.name != "cnn"}, cnn=given)


def main(argv=None) -> int:
    args = parse_args(argv)
    cli.show_logs(args.verbose)

    def explore():
        Explorer(args).run(report=lambda line: print(line, flush=True))
    return cli.run_cli("ml.explore", explore, (DataError, SpecError))


__all__ = ["CNN_DEFAULTS", "CURVE", "RESUME_SETTINGS", "STATE", "VAL_SHARE_ROUND0",
           "ExploreConfig", "Explorer", "main", "parse_args"]

if __name__ == "__main__":
    sys.exit(main())
