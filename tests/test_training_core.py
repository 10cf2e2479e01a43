"""The training core (ml.core) and the parts of an exploration (ml.exploration): the
models' hyperparameters round-trip through get_params/set_params, ml.train, ml.explore and
bench/models.py build the same feature matrix of the same points through the core, each
point counts once, and the exploration's state and stopping rule work on their own."""
from __future__ import annotations

import json
import sys

import numpy as np
import pandas as pd
import pytest

from conftest import ROOT
from ml import core
from ml.errors import DataError
from ml.features import Feature, FeatureSet
from ml.models import make

KMEANS_SPEC = ROOT / "dakota_inputs" / "kmeans.yaml"
KMEANS_DATA = ROOT / "data" / "reference" / "kmeans.tabular.dat.gz"


# --- hyperparameters -------------------------------------------------------------------
@pytest.mark.parametrize("name,target", [("cnn", "log"), ("rf", "log"), ("xgb", "real"),
                                         ("knn", "class"), ("cnn", "residual")])
def test_get_params_builds_an_equal_model_and_set_params_changes_one(name, target):
    model = make(name, target, 3, residual_column=0)
    params = model.get_params()
    copy = type(model)(**params)
    assert copy.get_params() == params
    if name == "cnn" and target == "log":
        assert params["epochs"] == 1000 and params["filters"] == (32, 64)
        assert model.set_params(epochs=7, filters=[8]) is model
        assert model.get_params()["epochs"] == 7 and model.filters == (8,)
        assert model.architecture["filters"] == [8]  # what a bundle saves
    elif name in ("rf", "xgb", "knn"):
        key = "n_neighbors" if name == "knn" else "n_estimators"
        model.set_params(**{key: 11})
        assert model.get_params()[key] == 11 and model.get_params()["seed"] == 3
        assert model.pipeline[-1].get_params()[key] == 11  # the estimator follows


def test_unknown_hyperparameter_is_refused():
    with pytest.raises(DataError, match="unknown hyperparameter"):
        make("cnn", "log", 0).set_params(epoch=3)


def test_ensemble_params_are_its_members():
    ensemble = make("cnn", "log", 0, members=3, epochs=5)
    assert ensemble.get_params() == {"members": 3, "seed": 0, "epochs": 5}
    ensemble.set_params(patience=2)
    assert ensemble.options == {"epochs": 5, "patience": 2}
    with pytest.raises(DataError):
        ensemble.set_params(bogus=1)


def test_baselines_cannot_warm_start():
    with pytest.raises(DataError, match="cannot warm-start"):
        make("rf", "log", 0).warm_start()


def test_a_trained_cnn_keeps_its_shape_and_transfer_freezes_the_convolutions():
    rng = np.random.default_rng(0)
    X = rng.uniform(0, 1, (40, 3)).astype(np.float32)
    y = np.exp(X.sum(axis=1))
    model = make("cnn", "log", 0, epochs=2, filters=(4,), dense=(8,), progress=False)
    model.fit(X[:30], y[:30], X[30:], y[30:])
    with pytest.raises(DataError, match="keeps its shape"):
        model.set_params(filters=(8,))
    copy = model.clone()
    np.testing.assert_allclose(copy.predict(X), model.predict(X), rtol=1e-6)
    assert copy.transfer("conv", epochs=1, seed=5) == ["conv1"]
    assert copy.epochs == 1 and copy.seed == 5 and model.epochs == 2
    assert all(layer.trainable for layer in model.model.layers)  # the source is untouched


# --- the recipe's steps ----------------------------------------------------------------
def test_distinct_keeps_each_point_once():
    X = np.array([[2.0], [1.0], [2.0], [0.0], [1.0]])
    assert core.distinct(X).tolist() == [0, 1, 3]                  # file order
    assert core.distinct(X, in_file_order=False).tolist() == [3, 1, 0]  # by value


def test_target_and_residual_column():
    features = FeatureSet([Feature("a", "architecture", "onehot", ("x", "y")),
                           Feature("est", "derived", "none")], "t")
    assert core.resolve_target("auto", features, "est") == "residual"
    assert core.resolve_target("auto", features, None) == "log"
    assert core.residual_column(features, "residual", "est") == 2  # after a's 2 columns
    assert core.residual_column(features, "log", "est") is None
    with pytest.raises(DataError, match="--target residual"):
        core.resolve_target("residual", features, "missing")


def test_inputs_reorder_columns_for_a_transferred_model():
    features = FeatureSet([Feature("a", "architecture", "none"),
                           Feature("b", "workload", "none")], "t")
    frame = pd.DataFrame({"a": [1.0, 2.0], "b": [3.0, 4.0]})
    inputs = core.Inputs(features, None, np.array([1, 0]))
    assert inputs.matrix(frame, "t").tolist() == [[3.0, 1.0], [4.0, 2.0]]
    assert inputs.used.names == ["b", "a"]


def test_train_explore_and_bench_see_the_same_matrix(tmp_path):
    """The k-means reference data through ml.train's Dataset, an Explorer's inputs and
    bench/models.py's Kernel: one matrix, and the same points kept once."""
    from ml.exploration import Explorer
    from ml.explore import ExploreConfig
    from ml.train import Dataset, TrainConfig

    sys.path.insert(0, str(ROOT / "bench"))
    import models as bench_models

    data = Dataset(TrainConfig(tabular=KMEANS_DATA, spec=KMEANS_SPEC, features="raw"))
    explorer = Explorer(ExploreConfig(spec=KMEANS_SPEC, out=tmp_path / "e", features="raw",
                                      model="rf", start=10, step=10, max=20))
    frame = data.table.frame
    np.testing.assert_array_equal(explorer.inputs.matrix(frame, "t"), data.X)
    kernel = bench_models.Kernel("kmeans", 0, "raw")
    np.testing.assert_array_equal(kernel.X, data.X)
    pool = frame["eval_id"].to_numpy() <= bench_models.POOL_LAST_EVAL
    kept_in_pool = [i for i in data.keep if pool[i]]
    assert sorted(kernel.pool.tolist()) == kept_in_pool


def test_fit_reports_seconds_and_keeps_a_models_own():
    X = np.arange(20, dtype=np.float32).reshape(10, 2)
    y = np.exp(X[:, 0] / 10)
    history = core.fit(make("lr", "log", 0), X, y, None, None)
    assert history["epochs"] == 0 and history["seconds"] >= 0


# --- the exploration's parts -----------------------------------------------------------
def test_stopping_rule():
    from ml.exploration import StoppingRule

    rule = StoppingRule(target_mape=1.0, patience=2, max=100)

    def rounds(*mapes):
        return [{"validation_mape_pct": m} for m in mapes]
    assert rule.reason([], 0) is None
    assert rule.reason(rounds(9, 5, 6), 30) is None
    assert "not improved for 2" in rule.reason(rounds(9, 5, 6, 5.5), 40)
    assert "<= target 1%" in rule.reason(rounds(9, 0.9), 20)
    assert rule.reason(rounds(9, 8), 100).startswith("--max 100 simulations spent; target")


def test_exploration_state_persists_and_refuses_other_settings(tmp_path):
    from ml.exploration import ExplorationState

    state = ExplorationState(tmp_path, {"step": 6}, ["a"])
    state.rounds.append({"round": 0, "points": 6})
    state.save()
    again = ExplorationState(tmp_path, {"step": 6}, ["a"])
    assert again.rounds == [{"round": 0, "points": 6}] and again.simulations() == 6
    with pytest.raises(DataError, match=r"other settings \(step=6\)"):
        ExplorationState(tmp_path, {"step": 4}, ["a"])
    assert json.loads((tmp_path / "state.json").read_text())["settings"] == {"step": 6}
