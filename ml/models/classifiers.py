"""Classifiers of a discrete response (e.g. a 0/1 ``valid`` flag of a design point):
random forest, XGBoost, KNN, decision tree, logistic regression, an MLP (64, 32, 16, 4)
and a support-vector classifier (registered as ``svr``, the name of its regression
twin), each a scikit-learn pipeline with standardised inputs. Scored by accuracy
(:func:`ml.metrics.classification_metrics`), not MAPE.

Labels are any integer classes stored as floats, shape (points,); internally they are
coded 0..k-1 in increasing order, so the "positive" class is the largest label.
"""
from __future__ import annotations

from pathlib import Path

import joblib
import numpy as np

from ..errors import DataError
from .baselines import MLP_LAYERS, MODEL_FILE, Pipelined, estimator


def classifiers(seed: int) -> dict[str, tuple[str, str, dict]]:
    """``name -> (module, class, hyperparameters)`` of the classification estimators."""
    return {
        "rf": ("sklearn.ensemble", "RandomForestClassifier",
               {"n_estimators": 300, "random_state": seed, "n_jobs": 2}),
        "xgb": ("xgboost", "XGBClassifier",
                {"n_estimators": 500, "learning_rate": 0.05, "max_depth": 6,
                 "subsample": 0.8, "random_state": seed, "n_jobs": 2}),
        "knn": ("sklearn.neighbors", "KNeighborsClassifier",
                {"n_neighbors": 5, "weights": "distance"}),
        "dt": ("sklearn.tree", "DecisionTreeClassifier", {"random_state": seed}),
        "lr": ("sklearn.linear_model", "LogisticRegression", {"max_iter": 1000}),
        # No early stopping: its stratified hold-out fails on a class with one member.
        "mlp": ("sklearn.neural_network", "MLPClassifier",
                {"hidden_layer_sizes": MLP_LAYERS, "max_iter": 500, "random_state": seed}),
        # No probabilities (scikit-learn deprecates SVC's): its predict_proba is None.
        "svr": ("sklearn.svm", "SVC", {"C": 10.0, "gamma": "scale"}),
    }



class Classifier(Pipelined):
    """A classification baseline; ``params`` override the estimator's hyperparameters."""

    target = "class"
    task = "classification"

    def __init__(self, name: str, seed: int = 0, **params):
        self.name, self.seed, self.params = name, seed, dict(params)
        self.classes = np.zeros(0)  # the labels seen in training, increasing
        self.pipeline = self._pipeline()

    def _pipeline(self):
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        return make_pipeline(StandardScaler(),
                             estimator(classifiers(self.seed), self.name, self.params))

    @classmethod
    def create(cls, name: str, target: str, seed: int, **options) -> Classifier:
        return cls(name, seed=seed, **options)

    def fit(self, X, y, X_val=None, y_val=None) -> dict:
        """Fit on ``X`` (points, features) and integer labels ``y`` (points,); the
        validation split is not used. A single class seen: the model predicts it."""
        labels = np.asarray(y, dtype=float)
        if not np.isfinite(labels).all() or (labels != np.round(labels)).any():
            bad = labels[~np.isfinite(labels) | (labels != np.round(labels))][0]
            raise DataError(f"{self.label}: class labels must be integers; found {bad:g}")
        if len(labels) == 0:
            raise DataError(f"{self.label}: no training points")
        self.classes = np.unique(labels)
        if len(self.classes) == 1:
            self.pipeline = None
        else:
            if self.pipeline is None:
                self.pipeline = self._pipeline()
            self.pipeline.fit(X, np.searchsorted(self.classes, labels))
        return {"epochs": 0}

    def predict(self, X) -> np.ndarray:
        """Predicted labels, float of shape (points,)."""
        if self.pipeline is None:
            return np.full(len(X), self.classes[0], dtype=float)
        return self.classes[np.asarray(self.pipeline.predict(X), dtype=int)].astype(float)

    def predict_proba(self, X) -> np.ndarray | None:
        """Probability of the largest label seen in training, shape (points,); None for
        an estimator without probabilities (the SVC). With a single label seen: 1 where
        that label is positive (> 0), else 0 (a 0/1 flag that was never 1)."""
        if self.pipeline is None:
            return np.full(len(X), float(self.classes[0] > 0))
        if not hasattr(self.pipeline[-1], "predict_proba"):
            return None
        return np.asarray(self.pipeline.predict_proba(X), dtype=float)[:, -1]

    def save(self, directory: Path) -> dict:
        joblib.dump(self.pipeline, directory / MODEL_FILE)
        state = {"file": MODEL_FILE, "name": self.name, "target": self.target,
                 "task": self.task, "seed": self.seed, "classes": self.classes.tolist()}
        if self.params:
            state["params"] = self.params
        return state

    @classmethod
    def load(cls, directory: Path, state: dict) -> Classifier:
        model = cls.__new__(cls)
        model.name, model.seed = state["name"], state["seed"]
        model.params = dict(state.get("params", {}))
        model.classes = np.asarray(state["classes"], dtype=float)
        model.pipeline = joblib.load(directory / state["file"])
        return model
