"""The surrogate contract, one suite over every registered model and every target it
supports (ml.models.REGISTRY, targets_for): fit on a small seeded synthetic data set,
predict, beat the trivial predictor, survive a bundle round trip; plus the residual
target, the CNN's warm start, the classifier registry and bundle errors.

The data: 300 points (150 train, 50 validation, 100 test), 4 features: x0, x1, x2 uniform
in [0, 1] and, in column 3, log2 of an analytic estimate of the objective,
1 + 2 x1 + 2 x1 x2 (a nonlinear function of the raw features). The objective is
estimate x (1 + 0.3 (x0 - 0.5)) x (1 + 1% noise), positive, in [1.7, 37]; the class
label is x0 + x1 > 1.
"""
from __future__ import annotations

import json
import subprocess
import sys
from types import SimpleNamespace

import numpy as np
import pytest

from conftest import small_spec, write_spec
from ml import bundle
from ml.errors import DataError
from ml.features import Feature, FeatureSet
from ml.metrics import classification_metrics, mape
from ml.models import (
    BASELINES,
    CLASSIFIERS,
    MODEL_NAMES,
    REGISTRY,
    TASKS,
    make,
    targets_for,
)

ESTIMATE_COLUMN = 3
TRAIN, VAL, TEST = slice(0, 150), slice(150, 200), slice(200, 300)
# A tiny CNN (seconds on 2 cores) and fewer XGBoost rounds (2,000 take seconds on a busy
# machine); the other models keep their benchmarked hyperparameters.
CNN_OPTIONS = {"epochs": 30, "patience": 30, "batch_size": 32, "filters": (8, 16),
               "dense": (32, 16), "progress": False}
OPTIONS = {"cnn": CNN_OPTIONS, "xgb": {"n_estimators": 300}}
CASES = [(name, target) for name in REGISTRY for task in TASKS
         for target in targets_for(name, task)]
RESIDUAL_NAMES = [name for name, target in CASES if target == "residual"]


def options(name: str) -> dict:
    return OPTIONS.get(name, {})


def case_id(case) -> str:
    return "-".join(case)


@pytest.fixture(scope="module")
def data() -> SimpleNamespace:
    rng = np.random.default_rng(7)
    n = 300
    raw = rng.uniform(0, 1, (n, 3))
    log2_estimate = 1 + 2 * raw[:, 1] + 2 * raw[:, 1] * raw[:, 2]
    y = (np.exp2(log2_estimate) * (1 + 0.3 * (raw[:, 0] - 0.5))
         * (1 + 0.01 * rng.standard_normal(n)))
    X = np.column_stack([raw, log2_estimate]).astype(np.float32)
    labels = (raw[:, 0] + raw[:, 1] > 1).astype(float)
    features = FeatureSet([Feature(f"x{i}", "architecture", "none") for i in range(3)]
                          + [Feature("log2_estimate", "unknown", "none")], "synthetic")
    return SimpleNamespace(X=X, y=y, labels=labels, features=features)


def response(data, target: str) -> np.ndarray:
    return data.labels if target == "class" else data.y


@pytest.fixture(scope="module")
def fitted(data):
    """fitted(name, target): the model trained on the training split (once per module)."""
    cache = {}

    def get(name: str, target: str):
        if (name, target) not in cache:
            model = make(name, target, 0, residual_column=ESTIMATE_COLUMN, **options(name))
            y = response(data, target)
            model.fit(data.X[TRAIN], y[TRAIN], data.X[VAL], y[VAL])
            cache[name, target] = model
        return cache[name, target]

    return get


def assert_one_line_error(excinfo, text: str) -> None:
    message = str(excinfo.value)
    assert "\n" not in message and text in message, message


# --- the registry --------------------------------------------------------------------
def test_registry_lists_every_model_and_keeps_the_benchmark_order():
    assert BASELINES[:6] == ("llr", "svr", "rf", "knn", "dt", "xgb")
    assert BASELINES[6:] == ("lr", "mlp")
    assert MODEL_NAMES == ("cnn",) + BASELINES and set(REGISTRY) == set(MODEL_NAMES)
    assert targets_for("cnn") == ("log", "residual")
    assert targets_for("cnn", "classification") == ()
    for name in BASELINES:
        assert targets_for(name, "regression") == ("log", "real", "residual")
    for name in CLASSIFIERS:
        assert targets_for(name, "classification") == ("class",)
    with pytest.raises(DataError) as excinfo:
        targets_for("nope")
    assert_one_line_error(excinfo, "unknown model 'nope'")
    with pytest.raises(DataError):
        targets_for("rf", "ranking")


def test_importing_the_registry_imports_no_learning_library():
    code = ("import sys, ml.models, ml.bundle, ml.metrics; "
            "print(sorted({m.split('.')[0] for m in sys.modules} & "
            "{'tensorflow', 'keras', 'sklearn', 'xgboost'}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "[]"


def test_cnn_has_no_classifier():
    with pytest.raises(DataError) as excinfo:
        make("cnn", "class", 0)
    assert_one_line_error(excinfo, "classifiers: " + ", ".join(CLASSIFIERS))


def test_unknown_names_and_targets_are_one_line_errors():
    for args, text in ((("nope", "log", 0), "unknown model 'nope'"),
                       (("rf", "squared", 0), "unknown target 'squared'"),
                       (("rf", "residual", 0), "needs residual_column")):
        with pytest.raises(DataError) as excinfo:
            make(*args)
        assert_one_line_error(excinfo, text)
    with pytest.raises(DataError) as excinfo:
        make("rf", "log", 0, no_such_option=1)
    assert_one_line_error(excinfo, "no_such_option")


# --- the contract, per (model, target) -------------------------------------------------
@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_predictions_have_the_contract_shape(case, data, fitted):
    name, target = case
    model = fitted(name, target)
    assert model.task == ("classification" if target == "class" else "regression")
    assert model.label == (name if target == "log" else f"{name}-{target}")
    pred = model.predict(data.X[TEST])
    assert pred.shape == (100,) and pred.dtype == float and np.isfinite(pred).all()
    if target in ("log", "residual"):  # ln-space fits: positive by construction
        assert (pred > 0).all()
    # A real target may go negative (a linear fit of a convex objective), so no sign check.
    proba = model.predict_proba(data.X[TEST])
    if target == "class":
        assert set(np.unique(pred)) <= {0.0, 1.0}
        if proba is not None:
            assert proba.shape == (100,) and ((proba >= 0) & (proba <= 1)).all()
    else:
        assert proba is None


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_model_beats_the_trivial_predictor(case, data, fitted):
    name, target = case
    model = fitted(name, target)
    true = response(data, target)[TEST]
    pred = model.predict(data.X[TEST])
    if target == "class":
        scores = classification_metrics(true, pred)
        best_constant = max(np.mean(true == label) for label in (0.0, 1.0)) * 100
        assert scores["accuracy_pct"] > best_constant, scores
    else:
        mean_predictor = mape(true, np.full(len(true), data.y[TRAIN].mean()))
        assert mape(true, pred) < mean_predictor


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_bundle_round_trip_predicts_identically(case, data, fitted, tmp_path):
    name, target = case
    model = fitted(name, target)
    bundle.save(tmp_path / "model", model, data.features, {"seed": 0})
    meta = json.loads((tmp_path / "model" / bundle.BUNDLE).read_text())
    assert (meta["model"], meta["family"], meta["target"], meta["task"]) == (
        model.label, name, target, model.task)
    loaded = bundle.load(tmp_path / "model")
    assert (loaded.model.label, loaded.model.task) == (model.label, model.task)
    assert loaded.features.names == data.features.names
    # Identical up to the last bit or so: a forest on 2 threads sums its trees in any order.
    np.testing.assert_allclose(loaded.model.predict(data.X), model.predict(data.X), rtol=1e-12)
    proba = model.predict_proba(data.X)
    if proba is not None:
        np.testing.assert_allclose(loaded.model.predict_proba(data.X), proba, rtol=1e-12)


# --- the residual target --------------------------------------------------------------
@pytest.mark.parametrize("name", RESIDUAL_NAMES)
def test_residual_scales_the_estimate_and_beats_the_model_without_it(name, data, fitted):
    model = fitted(name, "residual")
    X = data.X[TEST]
    estimate = np.exp2(X[:, ESTIMATE_COLUMN].astype(float))
    np.testing.assert_allclose(model.predict(X), model.inner.predict(X) * estimate, rtol=1e-12)
    # The same model, log target, on the raw features only: it must learn the estimate.
    plain = make(name, "log", 0, **options(name))
    raw = [c for c in range(X.shape[1]) if c != ESTIMATE_COLUMN]
    plain.fit(data.X[TRAIN][:, raw], data.y[TRAIN], data.X[VAL][:, raw], data.y[VAL])
    without = mape(data.y[TEST], plain.predict(X[:, raw]))
    assert mape(data.y[TEST], model.predict(X)) < without


# --- warm start ------------------------------------------------------------------------
def test_cnn_warm_start_continues_from_the_trained_weights(data, fitted, tmp_path):
    bundle.save(tmp_path / "cnn", fitted("cnn", "log"), data.features, {"seed": 0})
    warm = bundle.load(tmp_path / "cnn").model  # what ml.explore does between rounds
    x_mean = warm.x_mean.copy()
    assert warm.warm_start(epochs=3, progress=False) is warm
    # New points (the test split): their own input means must not replace the old ones.
    new, check = slice(200, 260), slice(260, 300)
    history = warm.fit(data.X[new], data.y[new], data.X[check], data.y[check],
                       keep_scalers=True)
    np.testing.assert_array_equal(warm.x_mean, x_mean)
    fresh = make("cnn", "log", 0, **{**CNN_OPTIONS, "epochs": 3})
    fresh_history = fresh.fit(data.X[new], data.y[new], data.X[check], data.y[check])
    assert history["epochs"] == 3
    assert history["val_mape_pct"][0] < fresh_history["val_mape_pct"][0] / 2, (
        history["val_mape_pct"], fresh_history["val_mape_pct"])


# --- the cross-fitted CNN ensemble -----------------------------------------------------
def test_cnn_ensemble_cross_fits_averages_and_round_trips(data, tmp_path):
    """members=3: three networks, each stopped on its own third of training + validation
    points; the prediction is their geometric mean, the spread their disagreement; a bundle
    round trip predicts the same; it is a residual model like any other."""
    model = make("cnn", "residual", 0, residual_column=ESTIMATE_COLUMN, members=3,
                 **{**CNN_OPTIONS, "epochs": 8})
    history = model.fit(data.X[TRAIN], data.y[TRAIN], data.X[VAL], data.y[VAL])
    networks = model.inner.networks
    assert len(networks) == 3 and len(history["members"]) == 3
    assert history["epochs"] == sum(m["epochs"] for m in history["members"])
    X = data.X[TEST]
    logs = np.stack([np.log(n.predict(X)) for n in networks])
    estimate = np.exp2(X[:, ESTIMATE_COLUMN].astype(float))
    np.testing.assert_allclose(model.predict(X), np.exp(logs.mean(axis=0)) * estimate,
                               rtol=1e-6)
    spread = model.predict_spread(X)
    assert spread.shape == (len(X),) and (spread > 0).all()
    mean_predictor = mape(data.y[TEST], np.full(len(X), data.y[TRAIN].mean()))
    assert mape(data.y[TEST], model.predict(X)) < mean_predictor
    bundle.save(tmp_path / "ensemble", model, data.features, {"seed": 0})
    loaded = bundle.load(tmp_path / "ensemble").model
    np.testing.assert_allclose(loaded.predict(X), model.predict(X), rtol=1e-6)
    assert len(loaded.inner.networks) == 3


def test_cnn_ensemble_needs_two_members_and_enough_points(data):
    with pytest.raises(DataError, match="at least 2 members"):
        make("cnn", "log", 0, members=1.5)
    model = make("cnn", "log", 0, members=4, **CNN_OPTIONS)
    with pytest.raises(DataError, match="cannot be cut into 4 folds"):
        model.fit(data.X[:5], data.y[:5], None, None)


# --- classifiers -----------------------------------------------------------------------
@pytest.mark.parametrize("name", CLASSIFIERS)
def test_classifier_with_a_single_class_predicts_it(name, data, tmp_path):
    model = make(name, "class", 0)
    model.fit(data.X[TRAIN], np.ones(150), None, None)
    np.testing.assert_array_equal(model.predict(data.X[TEST]), np.ones(100))
    np.testing.assert_array_equal(model.predict_proba(data.X[TEST]), np.ones(100))
    bundle.save(tmp_path / "model", model, data.features, {})
    np.testing.assert_array_equal(bundle.load(tmp_path / "model").model.predict(data.X),
                                  np.ones(300))


def test_classifier_keeps_the_label_values(data):
    labels = np.where(data.labels > 0, 7.0, 3.0)  # any integers, not only 0/1
    model = make("dt", "class", 0)
    model.fit(data.X[TRAIN], labels[TRAIN], None, None)
    pred = model.predict(data.X[TEST])
    assert set(np.unique(pred)) == {3.0, 7.0}
    assert np.mean(pred == labels[TEST]) > 0.8
    proba = model.predict_proba(data.X[TEST])
    np.testing.assert_array_equal(proba > 0.5, pred == 7.0)  # of the largest label
    with pytest.raises(DataError) as excinfo:
        model.fit(data.X[TRAIN], labels[TRAIN] + 0.5, None, None)
    assert_one_line_error(excinfo, "must be integers")


def test_classification_metrics_golden_values():
    scores = classification_metrics(np.array([1, 1, 1, 0, 0, 0, 0, 0]),
                                    np.array([1, 0, 0, 0, 0, 0, 0, 1]))
    assert scores == {"points": 8, "accuracy_pct": 62.5,
                      "balanced_accuracy_pct": pytest.approx((1 / 3 + 4 / 5) / 2 * 100),
                      "true_positive": 1, "false_positive": 1, "true_negative": 4,
                      "false_negative": 2}
    multi = classification_metrics(np.array([2, 2, 5]), np.array([2, 5, 5]))
    assert multi["confusion"] == {"2->2": 1, "2->5": 1, "5->5": 1}
    assert multi["accuracy_pct"] == pytest.approx(200 / 3)


# --- bundles ---------------------------------------------------------------------------
def test_spec_hash_includes_the_parameter_type(tmp_path):
    from driver.resolved import ResolvedSpec
    from driver.spec import load_spec

    spec = load_spec(write_spec(tmp_path / "s.yaml", small_spec()))
    real = spec.evolve(parameters=tuple(p.evolve(kind="real") if p.name == "n" else p
                                        for p in spec.parameters))
    assert bundle.spec_hash(spec) != bundle.spec_hash(real)
    again = ResolvedSpec.from_json(json.loads(json.dumps(spec.to_json())))
    assert bundle.spec_hash(spec) == bundle.spec_hash(again)


@pytest.mark.parametrize("target", ["log", "residual"])
def test_bundle_of_the_previous_layout_loads(target, data, fitted, tmp_path):
    """bundle.json as written before the registry: no task, the family by name."""
    model = fitted("dt", target)
    bundle.save(tmp_path / "old", model, data.features, {})
    path = tmp_path / "old" / bundle.BUNDLE
    meta = json.loads(path.read_text())
    del meta["task"]
    expected = {"file", "name", "target", "seed"} | (
        {"residual_column"} if target == "residual" else set())
    assert set(meta["state"]) == expected
    path.write_text(json.dumps(meta))
    loaded = bundle.load(tmp_path / "old").model
    assert loaded.label == model.label
    np.testing.assert_allclose(loaded.predict(data.X), model.predict(data.X), rtol=1e-12)


def corrupt_file(meta, directory):
    (directory / "model.joblib").write_bytes(b"not a joblib file")


def unknown_family(meta, directory):
    meta["state"]["name"] = "nope"


def missing_state(meta, directory):
    del meta["state"]


def state_not_an_object(meta, directory):
    meta["state"] = [1, 2]


def state_without_seed(meta, directory):
    del meta["state"]["seed"]


@pytest.mark.parametrize("corrupt", [corrupt_file, unknown_family, missing_state,
                                     state_not_an_object, state_without_seed],
                         ids=lambda f: f.__name__)
def test_corrupt_state_is_a_one_line_data_error(corrupt, data, fitted, tmp_path):
    directory = tmp_path / "model"
    bundle.save(directory, fitted("dt", "log"), data.features, {})
    meta = json.loads((directory / bundle.BUNDLE).read_text())
    corrupt(meta, directory)
    (directory / bundle.BUNDLE).write_text(json.dumps(meta))
    with pytest.raises(DataError) as excinfo:
        bundle.load(directory)
    assert_one_line_error(excinfo, "cannot load the model (corrupt or from another version)")
