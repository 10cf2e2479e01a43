"""What an exploration directory holds: its settings, the rounds done (state.json) and
the points each round simulated; resumable after a kill."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd

from driver.rundir import RunDir

from .. import bundle as bundles
from .. import rounds, space
from ..data import read_frame, read_table
from ..errors import DataError

TYPE_CHECKING = False  # annotations only
if TYPE_CHECKING:
    from driver.resolved import ResolvedSpec

STATE = "state.json"
CURVE = "learning_curve.csv"


class ExplorationState:
    """``out``'s state: ``rounds`` (one entry per finished round) and ``stopped``.
    A directory made with other ``settings`` is refused, as is one whose model takes
    other ``feature_names``."""

    def __init__(self, out: Path, settings: dict, feature_names: list[str]):
        self.out = out
        self.data: dict[str, Any]  # state.json: settings, rounds, stopped
        path = out / STATE
        if not path.exists():
            out.mkdir(parents=True, exist_ok=True)
            self.data = {"settings": settings, "rounds": [], "stopped": None}
            return
        self.data = json.loads(path.read_text())
        changed = [k for k, v in settings.items() if self.data["settings"].get(k) != v]
        if changed:
            raise DataError(f"{out}: an exploration with other settings ("
                            + ", ".join(f"{k}={self.data['settings'].get(k)}" for k in changed)
                            + "); run it with those, or choose another --out")
        self._check_model_features(feature_names)

    @property
    def rounds(self) -> list[dict]:
        return self.data["rounds"]

    def _check_model_features(self, now: list[str]) -> None:
        """A resumed exploration's model must take today's features (a directory made by an
        older cyclecast may hold a model on other derived features)."""
        try:
            saved = json.loads((self.out / "model" / bundles.BUNDLE).read_text())["features"]
        except (OSError, ValueError, KeyError):
            return  # no model yet: nothing to carry on from
        then = [f["name"] for f in saved]
        if sorted(then) != sorted(now):
            gone, new = sorted(set(then) - set(now)), sorted(set(now) - set(then))
            raise DataError(f"{self.out}: its model takes other features (here now: "
                            f"{', '.join(new) or 'none'}; there only: {', '.join(gone) or 'none'}"
                            "), e.g. made by an older cyclecast; remove it or choose another "
                            "--out")

    def save(self) -> None:
        tmp = self.out / (STATE + ".tmp")
        tmp.write_text(json.dumps(self.data, indent=1) + "\n")
        tmp.replace(self.out / STATE)

    def simulations(self) -> int:
        return sum(entry["points"] for entry in self.rounds)

    def simulated(self, objective: str) -> pd.DataFrame:
        """Every finished evaluation so far, with its round."""
        frames = []
        for entry in self.rounds:
            frame = read_table(RunDir(rounds.round_dir(self.out, entry["round"])).tabular,
                               objective).frame
            frames.append(frame.assign(round=entry["round"]))
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()

    def chosen_before(self, upto: int, spec: ResolvedSpec, names: list[str]) -> set[int]:
        """Space indices of every point of rounds < ``upto`` (finished, failed or pending)."""
        taken: set[int] = set()
        for number in range(upto):
            directory = rounds.round_dir(self.out, number)
            points = rounds.load_points(directory)
            if points is None:  # round 0: Dakota's sampling; its tabular has them all
                frame = read_frame(RunDir(directory).tabular)
            else:
                frame = pd.DataFrame(points)
            taken.update(space.encode(spec, names, frame, str(directory)).tolist())
        return taken

    def model_dir(self, number: int) -> Path:
        return rounds.round_dir(self.out, number) / "model"
