"""Workload-aware features from one profiling run per workload point."""
from __future__ import annotations

import gzip
import json
import subprocess

import numpy as np
import pandas as pd
import pytest

from conftest import PYTHON, ROOT
from driver.spec import load_spec
from ml.data import read_table

KMEANS_SPEC = ROOT / "dakota_inputs" / "kmeans.yaml"


@pytest.fixture(scope="module")
def small_kmeans(tmp_path_factory, native_built):
    """Real k-means evaluations at the three smallest workload sizes (fast to profile)."""
    lines = gzip.open(ROOT / "data" / "reference" / "kmeans.tabular.dat.gz", "rt").read().splitlines()
    header = lines[0].lstrip("%").split()
    column = header.index("objects")
    rows = [line for line in lines[1:] if float(line.split()[column]) <= 500][:400]
    path = tmp_path_factory.mktemp("data") / "kmeans_small.dat"
    path.write_text("\n".join([lines[0]] + rows) + "\n")
    return path


@pytest.fixture
def profiles(tmp_path, monkeypatch):
    monkeypatch.setenv("CYCLECAST_PROFILES", str(tmp_path / "profiles"))
    return tmp_path / "profiles"


def test_estimated_l1_misses_equal_the_simulated_ones(small_kmeans, profiles, tmp_path):
    from driver.families.cache.backends import qemu_riscv
    from driver.families.cache.derived import add_derived

    spec = load_spec(KMEANS_SPEC)
    frame = read_table(small_kmeans, "cycles").frame.iloc[::5].reset_index(drop=True)  # 80 points
    backend = qemu_riscv.Backend(spec.settings, timeout_s=120)
    names = list(spec.names)
    simulated = []
    for number, row in frame.iterrows():  # simulated now, as the profiles are
        work = tmp_path / str(number)
        work.mkdir()
        simulated.append(backend.evaluate({n: int(row[n]) for n in names}, work))
    simulated = pd.DataFrame(simulated)
    derived = add_derived(frame, spec)
    # Exact, not approximate: an L1 sees the whole stream, and LRU's stack property gives
    # the misses of every associativity from one pass (per set count and line size).
    assert np.array_equal(np.round(2 ** derived["est_l1d_misses"] - 1), simulated["l1d_misses"])
    assert np.array_equal(np.round(2 ** derived["est_l1i_misses"] - 1), simulated["l1i_misses"])
    assert np.array_equal(np.round(2 ** derived["est_instructions"]), simulated["instructions"])
    # Write-backs too: a dirty bit per associativity on the same stacks.
    assert np.array_equal(np.round(2 ** derived["est_l1d_writebacks"] - 1),
                          simulated["l1d_writebacks"])
    # The L2 is an estimate, within its bounds, and it must order the points.
    l2_writebacks = np.round(2 ** derived["est_l2_writebacks"] - 1)
    assert (l2_writebacks <= simulated["l1d_writebacks"]).all()
    rank = pd.Series(derived["est_cycles"]).corr(np.log2(simulated["cycles"]), method="spearman")
    assert rank > 0.9


def test_profiles_are_cached_per_workload_point(small_kmeans, profiles):
    from driver.families.cache.derived import add_derived

    frame = read_table(small_kmeans, "cycles").frame
    spec = load_spec(KMEANS_SPEC)
    add_derived(frame, spec)
    runs = (profiles / "runs.log").read_text().splitlines()
    assert len(runs) == frame["objects"].nunique() == 3
    add_derived(frame.iloc[::-1], spec)  # every design point again: no new profiling run
    assert (profiles / "runs.log").read_text().splitlines() == runs


def test_model_with_derived_features_refuses_input_without_them(small_kmeans, profiles,
                                                                 tmp_path):
    out = tmp_path / "xgb_derived"
    proc = subprocess.run([PYTHON, "-m", "ml.train", str(small_kmeans), "--spec",
                           str(KMEANS_SPEC), "--features", "both", "--model", "xgb",
                           "--out", str(out), "--quiet"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    meta = json.loads((out / "bundle.json").read_text())
    assert meta["feature_mode"] == "both"
    assert [f["name"] for f in meta["features"] if f["role"] == "derived"][0] == "est_l1i_sets"
    points = tmp_path / "points.csv"
    read_table(small_kmeans, "cycles").frame.head(5).to_csv(points, index=False)
    proc = subprocess.run([PYTHON, "-m", "ml.predict", str(out), "--points", str(points)],
                          capture_output=True, text=True)
    assert proc.returncode == 2 and "uses derived features" in proc.stderr
    assert not (out / "predictions_points.csv").exists()
    proc = subprocess.run([PYTHON, "-m", "ml.predict", str(out), "--points", str(points),
                           "--spec", str(KMEANS_SPEC), "--out", str(tmp_path / "p.csv")],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    predicted = pd.read_csv(tmp_path / "p.csv")["predicted_cycles"]
    actual = read_table(small_kmeans, "cycles").frame.head(5)["cycles"]
    assert (np.abs(predicted - actual) / actual).mean() < 0.25


def test_gem5_study_gets_the_same_profile_features_without_gem5(profiles):
    """The features come from the program under QEMU, whatever simulator labels the points:
    a gem5 spec (gem5 absent here) gets exactly the embedded backend's."""
    from driver.families.cache.derived import add_derived
    from ml.features import load_spec_features

    _, gem5 = load_spec_features(ROOT / "dakota_inputs" / "gem5_matmul.yaml", "both")
    _, qemu = load_spec_features(ROOT / "dakota_inputs" / "matmul.yaml", "both")
    points = pd.DataFrame([{"l1d_size_kib": 4, "l1d_ways": 2, "l1i_size_kib": 8, "l1i_ways": 2,
                            "l2_size_kib": 64, "l2_ways": 4, "line_bytes": 64, "n": 32},
                           {"l1d_size_kib": 32, "l1d_ways": 8, "l1i_size_kib": 1, "l1i_ways": 1,
                            "l2_size_kib": 1, "l2_ways": 2, "line_bytes": 16, "n": 48}])
    pd.testing.assert_frame_equal(add_derived(points, gem5), add_derived(points, qemu))
    assert len((profiles / "runs.log").read_text().splitlines()) == 2  # one per size, shared


def test_default_features_and_residual_target(small_kmeans, profiles, tmp_path):
    """With a spec whose program can be profiled, ml.train defaults to both feature sets and
    fits the correction to the profile's estimate; without a spec, raw features and logs."""
    from ml import bundle

    out = tmp_path / "default"
    proc = subprocess.run([PYTHON, "-m", "ml.train", str(small_kmeans), "--spec",
                           str(KMEANS_SPEC), "--model", "rf", "--out", str(out), "--quiet"],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    meta = json.loads((out / "bundle.json").read_text())
    assert (meta["feature_mode"], meta["target"], meta["model"]) == ("both", "residual",
                                                                      "rf-residual")
    loaded = bundle.load(out).model
    frame = add_est(read_table(small_kmeans, "cycles").frame)
    X = bundle.load(out).features.matrix(frame, "t")
    estimate = 2 ** frame["est_cycles"].to_numpy()
    # The model is the estimate times a learned ratio.
    assert np.allclose(loaded.predict(X), loaded.inner.predict(X) * estimate)
    split = json.loads((out / "report.json").read_text())["metrics"]["test"]["mape_pct"]
    assert split < 5  # the estimate alone is ~6% off on this slice; the correction helps

    plain = tmp_path / "nospec"
    proc = subprocess.run([PYTHON, "-m", "ml.train", str(small_kmeans), "--model", "rf",
                           "--response", "cycles", "--out", str(plain), "--quiet"],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    meta = json.loads((plain / "bundle.json").read_text())
    assert (meta["feature_mode"], meta["target"]) == ("raw", "log")

    bad = subprocess.run([PYTHON, "-m", "ml.train", str(small_kmeans), "--spec",
                          str(KMEANS_SPEC), "--features", "raw", "--target", "residual",
                          "--out", str(tmp_path / "bad")], capture_output=True, text=True)
    assert bad.returncode == 2
    assert "--target residual: the model needs the family's analytic estimate" in bad.stderr


def add_est(frame):
    from driver.families.cache.derived import add_derived

    return add_derived(frame, load_spec(KMEANS_SPEC))


def test_profile_estimate_backend_equals_the_derived_estimate(small_kmeans):
    """The analytic backend answers, per point, exactly the family's est_cycles feature."""
    from driver.families import backend_class

    spec = load_spec(KMEANS_SPEC)
    settings = {k: v for k, v in spec.settings.items() if k != "programs"}
    frame = read_table(small_kmeans, "cycles").frame.head(60)
    derived = add_est(frame)
    backend = backend_class("profile_estimate")(settings)
    names = list(spec.names)
    for row, est in zip(frame[names].to_dict("records"), derived["est_cycles"], strict=True):
        point = {k: int(v) for k, v in row.items()}
        assert backend.evaluate(point, ROOT)["cycles"] == pytest.approx(2 ** est, rel=1e-9)


def test_l2_behind_l1d_estimate(small_kmeans, profiles, tmp_path):
    """l2_estimate: behind_l1d is accepted by the spec, brings the L2 estimate closer to the
    simulated misses than the whole-stream rule, and the profile_estimate backend (which
    profiles only each point's L1D) answers the same cycles as the features."""
    import yaml

    from driver.families import backend_class
    from driver.families.cache.derived import add_derived

    text = yaml.safe_load(KMEANS_SPEC.read_text())
    text["backend"]["settings"]["l2_estimate"] = "behind_l1d"
    path = tmp_path / "kmeans_behind.yaml"
    path.write_text(yaml.safe_dump(text))
    spec = load_spec(path)
    frame = read_table(small_kmeans, "cycles").frame
    behind = add_derived(frame, spec)
    whole = add_derived(frame, load_spec(KMEANS_SPEC))
    small = (frame["l2_size_kib"] <= 2 * frame["l1d_size_kib"]).to_numpy()
    true = frame["l2_misses"].to_numpy(dtype=float)

    def error(derived):
        est = 2 ** derived["est_l2_misses"].to_numpy() - 1
        return np.mean(np.abs(est[small] - true[small]) / true[small])

    assert error(behind) < 0.5 * error(whole)
    assert ((profiles / "runs.log").read_text().count("l2behind1.2.4.8.16.32") == 3)

    settings = {k: v for k, v in spec.settings.items() if k != "programs"}
    backend = backend_class("profile_estimate")(settings)
    names = list(spec.names)
    for row, est in zip(frame[names].head(20).to_dict("records"), behind["est_cycles"],
                        strict=False):
        point = {k: int(v) for k, v in row.items()}
        assert backend.evaluate(point, ROOT)["cycles"] == pytest.approx(2 ** est, rel=1e-9)
