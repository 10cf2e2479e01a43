"""Regression baselines: LARS-Lasso, SVR, random forest, KNN, decision tree, XGBoost,
ordinary least squares and a multilayer perceptron (64, 32, 16, 4), each a scikit-learn
pipeline (standardised inputs) fitted on ln(y) or on y, y being the objective (e.g. cycles
or seconds).

The estimators are described by tables (``name -> (module, class, default
hyperparameters)``) imported only when a model is built, so that listing the models
imports neither scikit-learn nor XGBoost.
"""
from __future__ import annotations

import importlib
from pathlib import Path

import joblib
import numpy as np

from ..errors import DataError
from .base import Surrogate

MODEL_FILE = "model.joblib"
MLP_LAYERS = (64, 32, 16, 4)  # the accelerator paper's MLP


def regressors(seed: int) -> dict[str, tuple[str, str, dict]]:
    """``name -> (module, class, hyperparameters)`` of the regression estimators."""
    return {
        "llr": ("sklearn.linear_model", "LassoLars", {"alpha": 1e-4, "random_state": seed}),
        "svr": ("sklearn.svm", "SVR", {"C": 10.0, "epsilon": 0.01, "gamma": "scale"}),
        "rf": ("sklearn.ensemble", "RandomForestRegressor",
               {"n_estimators": 300, "random_state": seed, "n_jobs": 2}),
        "knn": ("sklearn.neighbors", "KNeighborsRegressor",
                {"n_neighbors": 5, "weights": "distance"}),
        "dt": ("sklearn.tree", "DecisionTreeRegressor", {"random_state": seed}),
        # Chosen on validation data (bench/results/xgb_tuning.md, k-means, 1,000 points,
        # 3 seeds, 36 grid points): the best on raw features and within 0.02 points of the
        # best (inside the seeds' spread) with the default features and residual target.
        # Column subsampling is left out: a tree without the workload column is useless here.
        "xgb": ("xgboost", "XGBRegressor",
                {"n_estimators": 2000, "learning_rate": 0.02, "max_depth": 6,
                 "subsample": 0.8, "random_state": seed,
                 # One thread: with two on a 2-core machine that is busy with anything
                 # else, OpenMP's waiting made one fit 60x slower (9 s -> 550 s).
                 "n_jobs": 1}),
        "lr": ("sklearn.linear_model", "LinearRegression", {}),
        # Early stopping on 10% of the training points; the target is standardised too
        # (see pipeline()), so that ln(y) of any magnitude starts near the output's range.
        "mlp": ("sklearn.neural_network", "MLPRegressor",
                {"hidden_layer_sizes": MLP_LAYERS, "early_stopping": True,
                 "n_iter_no_change": 20, "max_iter": 1000, "random_state": seed}),
    }


def estimator(table: dict[str, tuple[str, str, dict]], name: str, params: dict):
    """The estimator ``name`` of ``table``, its default hyperparameters updated with
    ``params`` (keyword arguments of its class); DataError for an unknown name or
    hyperparameter."""
    if name not in table:
        raise DataError(f"unknown model {name!r}; known: {', '.join(table)}")
    module, class_name, defaults = table[name]
    cls = getattr(importlib.import_module(module), class_name)
    try:
        return cls(**{**defaults, **params})
    except TypeError as err:
        raise DataError(f"model {name}: bad option(s) {', '.join(params)}: {err}") from None


def pipeline(name: str, seed: int, params: dict):
    """Standardised inputs, then the regression estimator (the MLP's target standardised
    as well)."""
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    core = estimator(regressors(seed), name, params)
    if name == "mlp":
        from sklearn.compose import TransformedTargetRegressor

        core = TransformedTargetRegressor(regressor=core, transformer=StandardScaler())
    return make_pipeline(StandardScaler(), core)


class Pipelined(Surrogate):
    """A scikit-learn pipeline's model: its hyperparameters are the constructor's named
    arguments plus ``params``, the estimator's own keyword arguments."""

    params: dict

    def _pipeline(self):
        raise NotImplementedError

    def get_params(self) -> dict:
        return {**super().get_params(), **self.params}

    def set_params(self, **params) -> Pipelined:
        own = set(super().get_params())
        super().set_params(**{k: v for k, v in params.items() if k in own})
        self.params.update({k: v for k, v in params.items() if k not in own})
        self.pipeline = self._pipeline()  # an untrained estimator with the new values
        return self


class Baseline(Pipelined):
    """A regression baseline. ``target``: log fits ln(y), real fits y; ``params``
    override the estimator's hyperparameters (none: the benchmarked defaults)."""

    def __init__(self, name: str, target: str = "log", seed: int = 0, **params):
        if target not in ("log", "real"):
            raise DataError(f"model {name}: target {target!r} is not log or real")
        self.name, self.target, self.seed, self.params = name, target, seed, dict(params)
        self.pipeline = self._pipeline()

    def _pipeline(self):
        return pipeline(self.name, self.seed, self.params)

    @classmethod
    def create(cls, name: str, target: str, seed: int, **options) -> Baseline:
        return cls(name, target=target, seed=seed, **options)

    def _encode(self, y: np.ndarray) -> np.ndarray:
        return np.log(y) if self.target == "log" else y

    def fit(self, X, y, X_val=None, y_val=None) -> dict:
        """Fit on all of ``X`` (points, features) and ``y`` (points,); the validation
        split is not used."""
        self.pipeline.fit(X, self._encode(np.asarray(y, dtype=float)))
        return {"epochs": 0}

    def predict(self, X) -> np.ndarray:
        raw = self.pipeline.predict(X).astype(float)
        return np.exp(raw) if self.target == "log" else raw

    def predict_spread(self, X) -> np.ndarray | None:
        """Random forest on ln(y): standard deviation of its trees' predictions (ln
        units, so 0.1 is about +-10%); None for the other baselines."""
        if self.name != "rf" or self.target != "log":
            return None
        scaler, forest = self.pipeline[0], self.pipeline[-1]
        scaled = scaler.transform(X)
        return np.stack([tree.predict(scaled) for tree in forest.estimators_]).std(axis=0)

    def save(self, directory: Path) -> dict:
        joblib.dump(self.pipeline, directory / MODEL_FILE)
        state = {"file": MODEL_FILE, "name": self.name, "target": self.target, "seed": self.seed}
        if self.params:
            state["params"] = self.params
        return state

    @classmethod
    def load(cls, directory: Path, state: dict) -> Baseline:
        model = cls.__new__(cls)
        model.name, model.target, model.seed = state["name"], state["target"], state["seed"]
        model.params = dict(state.get("params", {}))
        model.pipeline = joblib.load(directory / state["file"])
        return model
