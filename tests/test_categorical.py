"""A categorical parameter end to end: the kernel itself as a Dakota string design set, one
study over two kernels, a model trained on it, whole-space answers for one kernel, and the
bundle's round trip."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from conftest import run_module, write_spec
from driver.tabular import read_tabular

SPEC = {
    "study": "two_kernels_small",
    "parameters": [
        {"name": "l1d_size_kib", "role": "architecture", "values": [1, 4, 32]},
        {"name": "l1d_ways", "role": "architecture", "values": [1, 2]},
        {"name": "l2_size_kib", "role": "architecture", "values": [4, 64]},
        {"name": "line_bytes", "role": "architecture", "values": [16, 64]},
        {"name": "kernel", "role": "workload", "values": ["matmul", "kmeans"]},
        {"name": "size", "role": "workload", "values": [100, 128]},
    ],
    "backend": {"name": "qemu_riscv", "settings": {"args": ["{size}"]}},
    "sampling": {"method": "lhs", "samples": 48, "seed": 5},
    "execution": {"concurrency": 2, "timeout_s": 60},
}
ARCHITECTURES = 3 * 2 * 2 * 2


@pytest.fixture(scope="module")
def study(tmp_path_factory, native_built):
    root = tmp_path_factory.mktemp("categorical")
    spec_file = write_spec(root / "two.yaml", SPEC)
    proc = run_module("driver.study", "run", str(spec_file), "-o", str(root / "run"), "-q")
    assert proc.returncode == 0, proc.stderr[-3000:]
    return spec_file, root / "run"


def test_study_runs_each_point_with_its_kernel(study):
    _, run = study
    deck = (run / "study.in").read_text()
    assert "string = 1" in deck and "set_values = 'kmeans' 'matmul'" in deck
    columns, rows = read_tabular(run / "tabular.dat")
    assert "kernel" in columns and len(rows) == 48
    assert {r["kernel"] for r in rows} == {"kmeans", "matmul"}
    by = {(r["kernel"], r["size"]): [] for r in rows}
    for r in rows:
        by[(r["kernel"], r["size"])].append(r["instructions"])
    # Each kernel's instruction count depends on its size only, and the kernels differ.
    for counts in by.values():
        assert len(set(counts)) == 1
    assert by[("matmul", 128.0)][0] > 10 * by[("kmeans", 128.0)][0]
    records = [json.loads(line) for line in (run / "evaluations.jsonl").read_text().splitlines()]
    assert all(isinstance(r["point"]["kernel"], str) for r in records)
    assert all(isinstance(r["point"]["size"], int) for r in records)


def test_train_predict_where_and_round_trip(study, tmp_path):
    spec_file, run = study
    out = tmp_path / "rf"
    # No --spec: the run directory's resolved spec names the objective and the features.
    proc = run_module("ml.train", str(run / "tabular.dat"), "--model", "rf", "--out", str(out),
                      "--quiet")
    assert proc.returncode == 0, proc.stderr[-3000:]
    meta = json.loads((out / "bundle.json").read_text())
    assert meta["response"] == "cycles" and meta["feature_mode"] == "both"
    assert meta["target"] == "residual"
    kernel = next(f for f in meta["features"] if f["name"] == "kernel")
    assert kernel == {"name": "kernel", "role": "workload", "transform": "onehot",
                      "categories": ["kmeans", "matmul"]}

    answers = tmp_path / "matmul.csv"
    proc = run_module("ml.predict", str(out), "--spec", str(spec_file), "--all", "--where",
                      "kernel=matmul", "--where", "size=128", "--top", "3", "--out",
                      str(answers), "--quiet")
    assert proc.returncode == 0, proc.stderr[-3000:]
    frame = pd.read_csv(answers)
    assert len(frame) == ARCHITECTURES and set(frame["kernel"]) == {"matmul"}
    assert (frame["size"] == 128).all() and (frame["predicted_cycles"] > 0).all()
    assert "best design within each total_cache_kib budget" in proc.stdout
    assert len(pd.read_csv(tmp_path / "matmul_top3.csv")) == 3

    # The bundle predicts what it predicted before it was saved, for both kernels.
    from ml import bundle
    from ml.features import add_derived, load

    loaded = bundle.load(out)
    held = pd.read_csv(out / "predictions.csv")
    spec = load(run / "spec.resolved.json")
    test_rows = pd.DataFrame(read_tabular(run / "tabular.dat")[1])
    X = loaded.features.matrix(add_derived(test_rows, spec), "t")
    assert X.shape[1] == len(loaded.features.columns) == len(held.columns) - 3
    predicted = loaded.model.predict(X)
    assert np.isfinite(predicted).all() and (predicted > 0).all()
    mape = np.mean(np.abs(predicted - test_rows["cycles"]) / test_rows["cycles"]) * 100
    assert mape < 25, mape  # a forest on 48 points, scored mostly on its own training data

    bad = run_module("ml.predict", str(out), "--spec", str(spec_file), "--all", "--where",
                     "kernel=nw", "--quiet")
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1
    assert "kernel must be one of ['kmeans', 'matmul']" in bad.stderr
