"""Surrogate models: parsing, training, save/load, transfer, prediction, bad input.

Trains on a committed slice of real reference data (data/reference/, simulated by
cyclecast's own pipeline) with few epochs, so the whole file stays in seconds."""
from __future__ import annotations

import gzip
import json
import subprocess

import numpy as np
import pytest

from conftest import PYTHON, ROOT
from ml import metrics
from ml.data import read_table

KMEANS = ROOT / "data" / "reference" / "kmeans.tabular.dat.gz"
KMEANS_SPEC = ROOT / "dakota_inputs" / "kmeans.yaml"
MATMUL_SPEC = ROOT / "dakota_inputs" / "matmul.yaml"


def ml(*args, cwd=None):
    return subprocess.run([PYTHON, "-m", *args], capture_output=True, text=True, cwd=cwd,
                          timeout=600)


@pytest.fixture(scope="module")
def kmeans_slice(tmp_path_factory):
    """The first 700 real k-means evaluations as a plain Dakota tabular file."""
    lines = gzip.open(KMEANS, "rt").read().splitlines()
    path = tmp_path_factory.mktemp("data") / "kmeans_700.dat"
    path.write_text("\n".join(lines[:701]) + "\n")
    return path


@pytest.fixture(scope="module")
def as_matmul(kmeans_slice, tmp_path_factory):
    """The same slice relabelled as matmul (workload column renamed): transfer tests need a
    second feature set that lines up by role; the values are not physics here."""
    text = kmeans_slice.read_text().splitlines()
    header = text[0].replace(" objects ", " n ")
    rows = [" ".join(cells[:9] + [str(16 + int(float(cells[9])) % 241)] + cells[10:])
            for cells in (line.split() for line in text[1:301])]
    path = tmp_path_factory.mktemp("data") / "matmul_like.dat"
    path.write_text("\n".join([header] + rows) + "\n")
    return path


# --- parsing -----------------------------------------------------------------------------

def test_tabular_formats_and_failed_rows(tmp_path):
    annotated = tmp_path / "a.dat"
    annotated.write_text("%eval_id interface x y cycles\n1 NO_ID 1 2 100\n2 NO_ID 2 2 nan\n"
                         "3 NO_ID 4 2 FAIL\n4 NO_ID 8 2 400\n")
    table = read_table(annotated, "cycles")
    assert table.failed == 2 and list(table.frame["cycles"]) == [100, 400]
    custom = tmp_path / "c.dat"  # custom-annotated: header without eval_id/interface
    custom.write_text("%x y cycles\n1 2 100\n2 2 nan\n")
    assert read_table(custom, "cycles").columns == ["x", "y", "cycles"] and read_table(custom, "cycles").failed == 1
    csv = tmp_path / "p.csv"
    csv.write_text("x,y,cycles\n1,2,100\n2,2,\n4,2,300\n")
    table = read_table(csv, "cycles")
    assert table.failed == 1 and list(table.frame["x"]) == [1, 4]


def test_reference_data_parses(kmeans_slice):
    table = read_table(kmeans_slice, "cycles")
    assert len(table.frame) == 700 and table.failed == 0
    assert (table.frame["cycles"] > table.frame["instructions"]).all()


# --- metrics -------------------------------------------------------------------------------

def test_metrics_golden_values():
    true = np.array([100.0, 200.0, 400.0, 800.0])
    pred = np.array([110.0, 180.0, 400.0, 880.0])
    assert metrics.mape(true, pred) == pytest.approx(7.5)
    assert metrics.within(true, pred, 10) == pytest.approx(100.0)
    assert metrics.within(true, pred, 5) == pytest.approx(25.0)
    assert metrics.pairwise_accuracy(true, pred) == pytest.approx(100.0)
    assert metrics.pairwise_accuracy(true, pred[::-1]) == pytest.approx(0.0)
    ln = np.abs(np.log(pred) - np.log(true)) / np.log(true)
    assert metrics.ln_loss(true, pred) == pytest.approx(ln.mean() * 100)
    assert metrics.r2(true, true) == pytest.approx(1.0)


# --- training ------------------------------------------------------------------------------

def train(tabular, out, *extra):
    proc = ml("ml.train", str(tabular), "--spec", str(KMEANS_SPEC), "--out", str(out),
              "--quiet", "--features", "raw", *extra)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads((out / "report.json").read_text())


def test_forest_on_real_slice_beats_mean_predictor(kmeans_slice, tmp_path):
    report = train(kmeans_slice, tmp_path / "rf", "--model", "rf", "--seed", "3")
    test = report["metrics"]["test"]
    frame = read_table(kmeans_slice, "cycles").frame
    splits = json.loads((tmp_path / "rf" / "splits.json").read_text())
    train_cycles = frame["cycles"].to_numpy()[splits["train"]]
    test_cycles = frame["cycles"].to_numpy()[splits["test"]]
    mean_predictor = metrics.mape(test_cycles, np.full(len(test_cycles),
                                                       np.exp(np.log(train_cycles).mean())))
    # Stated margin: at most a tenth of the mean predictor's error.
    assert test["mape_pct"] < 0.1 * mean_predictor, (test["mape_pct"], mean_predictor)
    unique = 700 - report["samples"]["duplicates_dropped"]  # random sampling repeats points
    assert report["samples"]["train"] == len(splits["train"]) == round(0.54 * unique)
    for name in ("parity.png", "errors.png", "predictions.csv", "bundle.json"):
        assert (tmp_path / "rf" / name).stat().st_size > 0


@pytest.fixture(scope="module")
def cnn_bundle(kmeans_slice, tmp_path_factory):
    out = tmp_path_factory.mktemp("cnn") / "kmeans_cnn"
    train(kmeans_slice, out, "--model", "cnn", "--epochs", "15", "--patience", "15",
          "--seed", "1")
    return out


def test_cnn_bundle_save_load_identical_predictions(cnn_bundle):
    import pandas as pd

    from ml import bundle

    report = json.loads((cnn_bundle / "report.json").read_text())
    assert report["epochs"] == 15
    assert report["metrics"]["test"]["points"] == report["samples"]["test"] >= 205
    meta = json.loads((cnn_bundle / "bundle.json").read_text())
    assert meta["features"][-1] == {"name": "objects", "role": "workload", "transform": "log2"}
    assert meta["seed"] == 1 and "keras" in meta["versions"] and meta["spec_hash"]
    loaded = bundle.load(cnn_bundle)
    # predictions.csv holds the test points as the trained model saw them (log2 applied)
    # and its predictions; the reloaded model must give the same numbers.
    saved = pd.read_csv(cnn_bundle / "predictions.csv")
    X = saved[[f["name"] for f in meta["features"]]].to_numpy(dtype=np.float32)
    again = loaded.model.predict(X)
    assert np.allclose(again, saved["predicted_cycles"].to_numpy(), rtol=1e-6, atol=0)
    for name in ("learning_curve.png", "history.json", "model.keras"):
        assert (cnn_bundle / name).exists()


def test_transfer_freezes_exactly_the_conv_layers(cnn_bundle, as_matmul, tmp_path):
    from ml import bundle
    from ml.models.cnn import conv_layers

    out = tmp_path / "matmul_from_kmeans"
    proc = ml("ml.train", str(as_matmul), "--spec", str(MATMUL_SPEC), "--from", str(cnn_bundle),
              "--freeze", "conv", "--epochs", "5", "--patience", "5", "--out", str(out),
              "--quiet", "--features", "raw")
    assert proc.returncode == 0, proc.stderr[-3000:]
    source, target = bundle.load(cnn_bundle).model.model, bundle.load(out).model.model
    for a, b in zip(conv_layers(source), conv_layers(target), strict=True):
        for wa, wb in zip(a.get_weights(), b.get_weights(), strict=True):
            assert np.array_equal(wa, wb)  # bit-identical
    head = [layer for layer in source.layers if layer.name.startswith("dense")]
    changed = [not np.array_equal(layer.get_weights()[0], target.get_layer(layer.name).get_weights()[0])
               for layer in head]
    assert all(changed)
    record = json.loads((out / "report.json").read_text())["transfer"]
    assert record["frozen_layers"] == ["conv1", "conv2"]
    meta = json.loads((out / "bundle.json").read_text())
    assert [f["name"] for f in meta["features"]][-1] == "n"  # workload lined up by position

    warm = tmp_path / "warm"
    proc = ml("ml.train", str(as_matmul), "--spec", str(MATMUL_SPEC), "--from", str(cnn_bundle),
              "--freeze", "none", "--epochs", "3", "--patience", "3", "--out", str(warm), "--quiet",
              "--features", "raw")
    assert proc.returncode == 0, proc.stderr[-3000:]
    moved = bundle.load(warm).model.model
    assert not np.array_equal(conv_layers(source)[0].get_weights()[0],
                              conv_layers(moved)[0].get_weights()[0])


def test_predict_whole_space_and_top(cnn_bundle, tmp_path):
    import pandas as pd
    import yaml

    spec = yaml.safe_load(KMEANS_SPEC.read_text())
    for p in spec["parameters"]:  # a small space, same features
        p["values"] = p["values"][:2]
    small = tmp_path / "small.yaml"
    small.write_text(yaml.safe_dump(spec))
    out = tmp_path / "all.csv"
    proc = ml("ml.predict", str(cnn_bundle), "--spec", str(small), "--all", "--top", "3",
              "--chunk", "50", "--out", str(out), "--quiet")
    assert proc.returncode == 0, proc.stderr[-2000:]
    frame = pd.read_csv(out)
    assert len(frame) == 2 ** 8 and len(frame.drop_duplicates()) == 256
    top = pd.read_csv(tmp_path / "all_top3.csv")
    for objects, group in frame.groupby("objects"):
        best = group.nsmallest(3, "predicted_cycles")["predicted_cycles"].to_numpy()
        assert np.allclose(top[top["objects"] == objects]["predicted_cycles"].to_numpy(), best)


# --- bad input -----------------------------------------------------------------------------

def assert_one_line(proc, text):
    assert proc.returncode == 2, proc.stdout + proc.stderr
    lines = [line for line in proc.stderr.splitlines()
             if line.startswith("ml.")]  # TensorFlow may print its own start-up notes
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert text in lines[0], lines[0]


@pytest.mark.parametrize("content,text", [
    ("", "empty file"),
    ("%eval_id interface x cycles\n", "no rows"),
    ("%eval_id interface x cycles\n1 NO_ID 1 nan\n2 NO_ID 2 FAIL\n", "all 2 rows failed"),
    ("%eval_id interface x instructions\n1 NO_ID 1 5\n", "no response column 'cycles'"),
    ("%eval_id interface x cycles\n1 NO_ID 1 5\n2 NO_ID 2 -3\n3 NO_ID 3 0\n4 NO_ID 4 7\n",
     "non-positive values"),
])
def test_bad_tabular(tmp_path, content, text):
    bad = tmp_path / "bad.dat"
    bad.write_text(content)
    out = tmp_path / "out"
    proc = ml("ml.train", str(bad), "--model", "rf", "--response", "cycles", "--out", str(out))
    assert_one_line(proc, text)
    assert not out.exists()


def test_bundle_of_another_feature_set_is_refused(cnn_bundle, tmp_path):
    out = tmp_path / "pred.csv"
    proc = ml("ml.predict", str(cnn_bundle), "--spec", str(MATMUL_SPEC), "--all", "--out", str(out))
    assert_one_line(proc, "do not match the spec's")
    assert not out.exists()
    spec = tmp_path / "other.yaml"
    spec.write_text("study: other\nparameters:\n"
                    "  - {name: freq_mhz, role: architecture, values: [500, 1000]}\n"
                    "  - {name: n, role: workload, values: [16, 32]}\n"
                    "backend: {name: qemu_riscv, settings: {kernel: matmul}}\n")
    data = tmp_path / "other.dat"
    data.write_text("%eval_id interface freq_mhz n cycles\n" +
                    "".join(f"{i} NO_ID {500 * (1 + i % 2)} {16 * (1 + i % 2)} {1000 + i}\n"
                            for i in range(1, 21)))
    proc = ml("ml.train", str(data), "--spec", str(spec), "--from", str(cnn_bundle),
              "--out", str(tmp_path / "t"), "--features", "raw")
    assert_one_line(proc, "architecture parameter 'l1d_size_kib' of the source model")


def test_corrupt_model_file(cnn_bundle, tmp_path):
    import shutil

    broken = tmp_path / "broken"
    shutil.copytree(cnn_bundle, broken)
    (broken / "model.keras").write_bytes(b"not a keras archive")
    before = sorted(p.name for p in broken.iterdir())
    proc = ml("ml.predict", str(broken), "--spec", str(KMEANS_SPEC), "--all")
    assert_one_line(proc, "cannot load the model")
    assert sorted(p.name for p in broken.iterdir()) == before


# --- a 0/1 response: a classifier, scored by accuracy --------------------------------------

def test_binary_response_is_learned_by_a_classifier(kmeans_slice, tmp_path):
    """A 0/1 column (here: whether the design runs within the slice's median cycles at its
    workload size) is learned as classes, reported as accuracy, and predicted as 0/1."""
    import pandas as pd

    frame = read_table(kmeans_slice, "cycles").frame
    median = frame.groupby("objects")["cycles"].transform("median")
    variables = list(frame.columns[2:frame.columns.get_loc("cycles")])
    labelled = frame[variables].assign(fast=(frame["cycles"] <= median).astype(int))
    data = tmp_path / "fast.csv"
    labelled.to_csv(data, index=False)
    out = tmp_path / "clf"
    proc = ml("ml.train", str(data), "--response", "fast", "--out", str(out), "--quiet")
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads((out / "report.json").read_text())
    assert report["model"] == "rf-class" and report["target"] == "class"
    test = report["metrics"]["test"]
    majority = max(labelled["fast"].mean(), 1 - labelled["fast"].mean()) * 100
    assert test["accuracy_pct"] > majority + 10, (test, majority)
    assert "mape_pct" not in test
    points = tmp_path / "points.csv"
    labelled.head(20).to_csv(points, index=False)
    proc = ml("ml.predict", str(out), "--points", str(points), "--out", str(tmp_path / "p.csv"))
    assert proc.returncode == 0, proc.stderr[-3000:]
    predicted = pd.read_csv(tmp_path / "p.csv")["predicted_fast"]
    assert set(predicted.unique()) <= {0, 1}


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_prediction_writer_leaves_nothing_half_written(tmp_path, suffix):
    """A prediction run that fails after writing some rows leaves the earlier output as it
    was and no .tmp file; one that completes replaces it."""
    import pandas as pd

    from ml.predict import Writer

    out = tmp_path / f"predictions{suffix}"
    out.write_text("earlier")
    frame = pd.DataFrame({"l1d_size_kib": [1, 2], "cycles": [10.0, 20.0]})
    with pytest.raises(RuntimeError):
        with Writer(out) as writer:
            writer.write(frame)
            raise RuntimeError("the model failed on the next chunk")
    assert out.read_text() == "earlier"
    assert sorted(p.name for p in tmp_path.iterdir()) == [out.name]
    with Writer(out) as writer:
        writer.write(frame)
        writer.write(frame)
    read = pd.read_parquet(out) if suffix == ".parquet" else pd.read_csv(out)
    assert read["cycles"].tolist() == [10.0, 20.0, 10.0, 20.0]
    assert sorted(p.name for p in tmp_path.iterdir()) == [out.name]
