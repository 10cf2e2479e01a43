"""Accelerator studies end to end: a grid study over presets, layers and schedule ids
through real Dakota on the embedded ZigZag evaluator, invalid schedules as valid = 0 with
their reason, models trained on the family's features with the within-group comparison
accuracy, and the spec's range / grid forms."""
from __future__ import annotations

import json

import numpy as np
import pytest

from conftest import run_module, write_spec
from driver.errors import SpecError
from driver.spec import load_spec
from driver.tabular import read_tabular

SPEC = {
    "study": "accel_small",
    "parameters": [
        {"name": "preset", "role": "architecture", "values": ["simba_final", "arch1"]},
        {"name": "layer", "role": "workload", "values": ["res2_3x3_64", "fc1000"]},
        {"name": "schedule", "role": "architecture", "range": {"first": 0, "last": 29}},
    ],
    "backend": {"name": "zigzag", "settings": {"schedule_kind": "valid"}},
    "sampling": {"method": "grid"},
    "execution": {"concurrency": 2, "timeout_s": 60},
}


def test_range_and_grid_forms(tmp_path):
    spec = load_spec(write_spec(tmp_path / "s.yaml", SPEC))
    schedule = spec.parameter("schedule")
    assert schedule.values == tuple(range(30)) and schedule.kind == "integer"
    assert spec.total_evaluations == 2 * 2 * 30
    bad = {**SPEC, "parameters": [*SPEC["parameters"][:2],
                                  {"name": "schedule", "role": "workload",
                                   "range": {"first": 5, "last": 1}}]}
    with pytest.raises(SpecError, match=r"parameters\[2\]\.range: last \(1\) is below"):
        load_spec(write_spec(tmp_path / "b.yaml", bad))


def test_a_preset_and_its_fields_both_swept_is_one_line(tmp_path):
    bad = {**SPEC, "parameters": [*SPEC["parameters"],
                                  {"name": "pes", "role": "architecture", "values": [4, 16]}]}
    with pytest.raises(SpecError, match=r"preset and pes are both swept"):
        load_spec(write_spec(tmp_path / "b.yaml", bad))
    odd = {**SPEC, "parameters": [
        {"name": "pes", "role": "architecture", "values": [16, 48]},
        *SPEC["parameters"][1:]]}
    with pytest.raises(SpecError, match=r"macs \(1024\) must be a multiple of pes \(48\)"):
        load_spec(write_spec(tmp_path / "o.yaml", odd))


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    root = tmp_path_factory.mktemp("accel")
    spec_file = write_spec(root / "accel.yaml", SPEC)
    proc = run_module("driver.study", "run", str(spec_file), "-o", str(root / "run"), "-q")
    assert proc.returncode == 0, proc.stderr[-3000:]
    return spec_file, root / "run"


def test_grid_study_evaluates_every_combination_once(study):
    _, run = study
    assert "multidim_parameter_study" in (run / "study.in").read_text()
    columns, rows = read_tabular(run / "tabular.dat")
    assert columns[:5] == ["eval_id", "interface", "schedule", "layer", "preset"] or \
        {"schedule", "layer", "preset"} <= set(columns)
    points = {(r["preset"], r["layer"], int(r["schedule"])) for r in rows}
    assert len(rows) == len(points) == 120
    cycles = np.array([r["cycles"] for r in rows], dtype=float)
    assert np.isfinite(cycles).all() and all(r["valid"] == 1 for r in rows)
    # No schedule beats the compute bound of the MACs it uses; schedules differ.
    fc = [r for r in rows if r["layer"] == "fc1000" and r["preset"] == "arch1"]
    assert min(r["cycles"] for r in fc) >= 2048 * 1000 / 4096
    assert len({r["cycles"] for r in fc}) > 10


def test_invalid_schedules_are_valid_zero_with_the_reason(tmp_path):
    spec = {**SPEC, "study": "accel_invalid",
            "parameters": [*SPEC["parameters"][:2],
                           {"name": "schedule", "role": "architecture", "values": [0, 1, 2]}],
            "backend": {"name": "zigzag", "settings": {"schedule_kind": "invalid"}}}
    proc = run_module("driver.study", "run", str(write_spec(tmp_path / "i.yaml", spec)),
                      "-o", str(tmp_path / "run"), "-q")
    assert proc.returncode == 0, proc.stderr[-3000:]
    _, rows = read_tabular(tmp_path / "run" / "tabular.dat")
    assert len(rows) == 12 and all(r["valid"] == 0 for r in rows)
    records = [json.loads(line) for line in
               (tmp_path / "run" / "evaluations.jsonl").read_text().splitlines()]
    assert all(r["status"] == "ok" and r["note"].startswith("invalid: ") for r in records)
    assert {r["note"].split(": ")[1].split(":")[0] for r in records} <= {"capacity", "spatial"}


@pytest.mark.parametrize("features", ["cosa", "schedule"])
def test_models_learn_cycles_from_the_family_features(study, tmp_path, features):
    _, run = study
    out = tmp_path / features
    proc = run_module("ml.train", str(run / "tabular.dat"), "--model", "rf", "--features",
                      features, "--out", str(out), "--quiet")
    assert proc.returncode == 0, proc.stderr[-3000:]
    meta = json.loads((out / "bundle.json").read_text())
    names = [f["name"] for f in meta["features"]]
    assert "schedule" not in names  # an id names a schedule; the features describe it
    assert ("util_global_I" in names) == (features == "cosa")
    assert ("f_dram_K" in names) == (features == "schedule")
    report = json.loads((out / "report.json").read_text())
    val = report["metrics"]["val"] if "metrics" in report else report["val"]
    assert 50 <= val["group_pairwise_accuracy_pct"] <= 100


def test_an_unknown_feature_set_is_one_line(study, tmp_path):
    _, run = study
    proc = run_module("ml.train", str(run / "tabular.dat"), "--model", "rf", "--features",
                      "cosy", "--out", str(tmp_path / "x"), "--quiet")
    assert proc.returncode != 0
    assert proc.stderr.strip().splitlines() == [
        "ml.train: --features 'cosy': allowed: auto, raw, derived, both, schedule, cosa"] \
        or "allowed: auto, raw, derived, both, schedule, cosa" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_hold_out_tests_on_a_preset_never_trained_on(study, tmp_path):
    _, run = study
    out = tmp_path / "lopo"
    proc = run_module("ml.train", str(run / "tabular.dat"), "--model", "rf", "--features",
                      "cosa", "--hold-out", "preset=arch1", "--out", str(out), "--quiet")
    assert proc.returncode == 0, proc.stderr[-3000:]
    meta = json.loads((out / "bundle.json").read_text())
    assert meta["hold_out"] == ["preset=arch1"]
    split = json.loads((out / "splits.json").read_text())
    _, rows = read_tabular(run / "tabular.dat")
    presets = np.array([r["preset"] for r in rows])
    assert set(presets[split["test"]]) == {"arch1"} and len(split["test"]) == 60
    assert "arch1" not in set(presets[split["train"] + split["val"]])
    report = json.loads((out / "report.json").read_text())
    assert report["metrics"]["test"]["points"] == 60
    bad = run_module("ml.train", str(run / "tabular.dat"), "--model", "rf", "--hold-out",
                     "preset=arch9", "--out", str(tmp_path / "bad"), "--quiet")
    assert bad.returncode != 0 and "Traceback" not in bad.stderr
    assert bad.stderr.strip().count("\n") == 0 and "no point of" in bad.stderr


def test_the_summary_counts_invalid_schedules_apart_from_failures():
    from driver.resolved import Execution, Failure, Parameter, ResolvedSpec, Sampling
    from driver.tabular import summary

    spec = ResolvedSpec(
        study="s", objective="cycles", responses=("cycles", "valid"), backend_name="zigzag",
        settings={}, parameters=(Parameter("schedule", "integer", (0, 1, 2), "architecture"),
                                 Parameter("layer", "categorical", ("fc1000",), "workload")),
        sampling=Sampling("lhs", 3, 1), execution=Execution("python", 1, 1, 60.0),
        failure=Failure(), spec_path="s.yaml")
    rows = [{"eval_id": 1, "schedule": 0, "layer": "fc1000", "cycles": 5.0, "valid": 1.0},
            {"eval_id": 2, "schedule": 1, "layer": "fc1000", "cycles": float("nan"),
             "valid": 0.0},
            {"eval_id": 3, "schedule": 2, "layer": "fc1000", "cycles": float("nan"),
             "valid": float("nan")}]
    assert summary(spec, rows).splitlines()[0] == \
        "study s: 3 evaluations, 1 failed, 1 with valid = 0"
