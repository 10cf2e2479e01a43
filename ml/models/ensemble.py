"""Several Deffe CNNs trained by cross-fitting, predicting together: the points given to
``fit`` (training and validation alike) are cut into ``members`` seeded folds; member i
trains on the other folds and early-stops on fold i, so every point trains all members
but one and each member is stopped on points it never saw. Predictions are the geometric
mean of the members' (the mean of their ln predictions), and their spread (the standard
deviation of those logs) is the ensemble's uncertainty.

Why: one CNN trains on 54/70 of the simulations and stops on the rest, while a tree
ensemble fits all of them, and a single network's error moves with its seed. At 1,000
simulations five cross-fitted networks were 3.27% off on nw and 2.54% on backprop, where
one was 3.50% and 2.76% and XGBoost 3.79% and 2.71%
(``bench/results/models_both_residual_ensemble.md``, ``models_both_residual.md``).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import DataError
from .base import Surrogate
from .cnn import CNN


class CNNEnsemble(Surrogate):
    name = "cnn"
    target = "log"

    def __init__(self, members: int = 5, seed: int = 0, **options):
        """``members``: networks (>= 2); ``options``: each member's CNN hyperparameters
        (:class:`ml.models.cnn.CNN`); member i has seed ``seed + i``."""
        if members < 2:
            raise DataError(f"an ensemble needs at least 2 members, got {members}")
        self.members, self.seed, self.options = members, seed, options
        self.networks: list[CNN] = []

    def get_params(self) -> dict:
        return {"members": self.members, "seed": self.seed, **self.options}

    def set_params(self, **params) -> CNNEnsemble:
        for name in ("members", "seed"):
            if name in params:
                setattr(self, name, params.pop(name))
        CNN().set_params(**params)  # the members' hyperparameters: unknown ones refused
        self.options.update(params)
        return self

    def fit(self, X, y, X_val=None, y_val=None) -> dict:
        """Cross-fit on every point of X (points, features) and y (points,) and of the
        validation split, if given (it trains the members too)."""
        if X_val is not None and len(X_val):
            X, y = np.concatenate([X, X_val]), np.concatenate([y, y_val])
        if len(y) < 2 * self.members:
            raise DataError(f"{len(y)} points cannot be cut into {self.members} folds of "
                            "at least 2; use fewer --members")
        folds = np.array_split(np.random.default_rng(self.seed).permutation(len(y)),
                               self.members)
        self.networks, histories = [], []
        for i, stop_on in enumerate(folds):
            train = np.concatenate([f for j, f in enumerate(folds) if j != i])
            network = CNN(seed=self.seed + i, **self.options)
            histories.append(network.fit(X[train], y[train], X[stop_on], y[stop_on]))
            self.networks.append(network)
        first = histories[0]
        return {**first, "seconds": sum(h["seconds"] for h in histories),
                "epochs": sum(h["epochs"] for h in histories),
                "members": [{"epochs": h["epochs"], "best_epoch": h["best_epoch"],
                             "best_val_mape_pct": min(h["val_mape_pct"])} for h in histories]}

    def _logs(self, X) -> np.ndarray:
        return np.stack([np.log(n.predict(X)) for n in self.networks])

    def predict(self, X) -> np.ndarray:
        return np.exp(self._logs(X).mean(axis=0))

    def predict_spread(self, X) -> np.ndarray:
        return self._logs(X).std(axis=0)

    def save(self, directory: Path) -> dict:
        states = []
        for i, network in enumerate(self.networks):
            where = directory / f"member{i}"
            where.mkdir(exist_ok=True)
            states.append({**network.save(where), "directory": where.name})
        return {"file": states[0]["directory"], "name": self.name, "target": self.target,
                "seed": self.seed, "members": states}

    @classmethod
    def load(cls, directory: Path, state: dict) -> CNNEnsemble:
        model = cls(members=len(state["members"]), seed=state["seed"])
        model.networks = [CNN.load(Path(directory) / m["directory"], m)
                          for m in state["members"]]
        return model
