"""Bad input to the ml commands (``python -m ml.train``, ``ml.predict``, ``ml.explore``,
``ml.demo``), through the real commands on a real finished study and a real bundle: exit 2,
one line naming the file or option and what is allowed, no traceback, nothing written."""
from __future__ import annotations

import pytest
import yaml

from conftest import assert_one_line_error, run_module, small_spec, tree, write_spec

TRAIN_OPTIONS = [
    ("--epochs", "-3", "must be >= 1"), ("--train-size", "-5", "must be >= 2"),
    ("--train-size", "0", "must be >= 2"), ("--batch-size", "0", "must be >= 1"),
    ("--learning-rate", "0", "must be > 0"), ("--dropout", "1.5", "must be < 1"),
    ("--patience", "-1", "must be >= 0"), ("--filters", "a,b", "comma-separated positive"),
    ("--kernel-size", "0", "must be >= 1"), ("--dense", "0", "comma-separated positive"),
    ("--weight-decay", "-1", "must be >= 0"), ("--members", "0", "must be >= 1"), ("--seed", "x", "invalid int value: 'x'"),
    ("--model", "gbm", "invalid choice: 'gbm'"), ("--split", "50/50", "TRAIN/VALIDATION/TEST"),
    ("--features", "magic", "allowed: auto, raw"), ("--response", "watts", "no response column"),
    ("--hold-out", "n", "expected COLUMN=VALUE"), ("--hold-out", "n=17", "no point"),
    ("--target", "cubic", "invalid choice: 'cubic'"),
]


@pytest.mark.parametrize("option, value, text", TRAIN_OPTIONS,
                         ids=[f"{o}={v}" for o, v, _ in TRAIN_OPTIONS])
def test_train_option_out_of_range(finished_study, tmp_path, option, value, text):
    out = tmp_path / "model"
    proc = run_module("ml.train", str(finished_study / "tabular.dat"), "--model", "rf",
                      option, value, "--out", str(out), "--quiet")
    assert_one_line_error(proc, option if option not in ("--response",) else "watts", text)
    assert not out.exists()


def _tabular(tmp_path, name, content: bytes):
    path = tmp_path / name
    path.write_bytes(content)
    return path


@pytest.mark.parametrize("make, text", [
    (lambda d: d / "missing.dat", "cannot read: No such file"),
    (lambda d: _tabular(d, "empty.dat", b""), "empty file"),
    (lambda d: _tabular(d, "latin1.dat", b"%eval_id interface n cycles\n1 I 16 9\xe9\n"),
     "not UTF-8 text"),
    (lambda d: _tabular(d, "ragged.dat", b"%eval_id interface n cycles\n1 I 16\n"),
     "line 2: 3 values for 4 columns"),
    (lambda d: _tabular(d, "header.dat", b"1 2 3\n4 5 6\n"), "no header line"),
    (lambda d: _tabular(d, "bad.gz", b"not gzip"), "cannot read"),
], ids=["missing", "empty", "not-utf8", "ragged", "no-header", "not-gzip"])
def test_train_unreadable_tabular(tmp_path, make, text):
    path = make(tmp_path)
    proc = run_module("ml.train", str(path), "--response", "cycles", "--model", "rf",
                      "--out", str(tmp_path / "model"))
    assert_one_line_error(proc, str(path), text)
    assert not (tmp_path / "model").exists()


def test_train_with_a_spec_lacking_a_parameter_of_the_data(finished_study, tmp_path):
    """The spec is valid (L2 fixed at its default) but the data vary the L2: a model of
    the subset would merge different designs."""
    spec = small_spec()
    spec["parameters"] = [p for p in spec["parameters"] if p["name"] != "l2_size_kib"]
    spec_file = write_spec(tmp_path / "subset.yaml", spec)
    proc = run_module("ml.train", str(finished_study / "tabular.dat"), "--spec",
                      str(spec_file), "--model", "rf", "--out", str(tmp_path / "m"))
    assert_one_line_error(proc, "variables l2_size_kib are not parameters of",
                          "pass the study's own spec")
    assert not (tmp_path / "m").exists()


@pytest.mark.parametrize("out, text", [
    ("afile", "File exists"), ("/proc/cyclecast-model", "No such file or directory"),
], ids=["a-file", "in-proc"])
def test_train_output_that_cannot_be_written(finished_study, tmp_path, out, text):
    (tmp_path / "afile").write_text("keep\n")
    target = tmp_path / out if not out.startswith("/") else out
    proc = run_module("ml.train", str(finished_study / "tabular.dat"), "--model", "rf",
                      "--out", str(target), "--quiet")
    assert_one_line_error(proc, str(target), text)
    assert (tmp_path / "afile").read_text() == "keep\n"


def test_train_from_with_members(finished_study, rf_bundle, tmp_path):
    proc = run_module("ml.train", str(finished_study / "tabular.dat"), "--from",
                      str(rf_bundle), "--members", "3", "--out", str(tmp_path / "m"))
    assert_one_line_error(proc, "--members", "the transferred network is one CNN")
    assert not (tmp_path / "m").exists()


def test_train_from_with_an_architecture_option(finished_study, rf_bundle, tmp_path):
    proc = run_module("ml.train", str(finished_study / "tabular.dat"), "--from",
                      str(rf_bundle), "--filters", "16,16", "--out", str(tmp_path / "m"))
    assert_one_line_error(proc, "--filters", "the network's shape is the source model's")


def test_train_from_something_that_is_no_bundle(finished_study, tmp_path):
    proc = run_module("ml.train", str(finished_study / "tabular.dat"), "--from",
                      str(tmp_path), "--out", str(tmp_path / "m"))
    assert_one_line_error(proc, str(tmp_path), "not a model bundle (no bundle.json)")


# --- ml.predict --------------------------------------------------------------------------

POINT_HEADER = "l1d_size_kib,l1d_ways,l2_size_kib,line_bytes,n\n"


@pytest.fixture(scope="module")
def spec_file(finished_study):
    return str(finished_study.parent / "study.yaml")


@pytest.mark.parametrize("rows, texts", [
    ("3,2,4,16,16\n", ["row 2: not a design of", "impossible L1D geometry: 3 KiB"]),
    ("4,2,4,16,64\n", ["n = 64: the model was trained on n in 16..32", "--extrapolate"]),
    ("big,2,4,16,16\n", ["row 2: l1d_size_kib = 'big' is not a number"]),
], ids=["impossible-design", "outside-trained-range", "not-a-number"])
def test_predict_points_outside_the_model(rf_bundle, spec_file, tmp_path, rows, texts):
    points = tmp_path / "points.csv"
    points.write_text(POINT_HEADER + rows)
    out = tmp_path / "p.csv"
    proc = run_module("ml.predict", str(rf_bundle), "--points", str(points), "--spec",
                      spec_file, "--out", str(out))
    assert_one_line_error(proc, str(points), *texts)
    assert not out.exists()


def test_predict_points_missing_a_column(rf_bundle, spec_file, tmp_path):
    points = tmp_path / "points.csv"
    points.write_text("l1d_size_kib,l1d_ways\n4,2\n")
    proc = run_module("ml.predict", str(rf_bundle), "--points", str(points), "--spec",
                      spec_file, "--out", str(tmp_path / "p.csv"))
    assert_one_line_error(proc, "no column 'l2_size_kib'")


def test_predict_a_spec_wider_than_the_model(rf_bundle, tmp_path):
    spec = small_spec()
    spec["parameters"][0]["values"] = [1, 4, 32, 64]
    proc = run_module("ml.predict", str(rf_bundle), "--all", "--spec",
                      str(write_spec(tmp_path / "wide.yaml", spec)), "--out",
                      str(tmp_path / "p.csv"))
    assert_one_line_error(proc, "l1d_size_kib = 64: the model was trained on l1d_size_kib "
                          "in 1..32")
    assert not (tmp_path / "p.csv").exists()


PREDICT_OPTIONS = [
    ("--top", "-3", "must be >= 0"), ("--verify", "-1", "must be >= 0"),
    ("--chunk", "0", "must be >= 1"), ("--max-points", "0", "must be >= 1"),
    ("--max-points", "10", "more than --max-points 10"),
    ("--where", "n", "n must be one of [16, 24, 32]"), ("--where", "zz=3", "no parameter 'zz'"),
    ("--budget", "watts=3", "not a cost axis"), ("--budget", "total_cache_kib=x",
                                                 "'x' is not a number"),
    ("--cost", "watts", "not a cost axis"),
]


@pytest.mark.parametrize("option, value, text", PREDICT_OPTIONS,
                         ids=[f"{o}={v}" for o, v, _ in PREDICT_OPTIONS])
def test_predict_option_out_of_range(rf_bundle, spec_file, tmp_path, option, value, text):
    out = tmp_path / "p.csv"
    proc = run_module("ml.predict", str(rf_bundle), "--all", "--spec", spec_file, option,
                      value, "--out", str(out))
    assert_one_line_error(proc, option, text)
    assert not out.exists()


@pytest.mark.parametrize("out, text", [
    ("p.xlsx", "allowed file endings: .csv, .parquet"), (".", "is a directory"),
    ("/proc/cyclecast.csv", "cannot write"),
], ids=["unknown-ending", "a-directory", "in-proc"])
def test_predict_output_that_cannot_be_written(rf_bundle, spec_file, tmp_path, out, text):
    target = out if out.startswith("/") else str(tmp_path / out)
    before = tree(rf_bundle)
    proc = run_module("ml.predict", str(rf_bundle), "--all", "--spec", spec_file,
                      "--out", target)
    assert_one_line_error(proc, text)
    assert tree(rf_bundle) == before


@pytest.mark.parametrize("content, text", [
    (None, "not a model bundle (no bundle.json)"),
    ("{", "corrupt bundle description"),
    ("{}", "cannot load the model"),
], ids=["no-bundle", "truncated", "empty-object"])
def test_predict_with_a_damaged_bundle(tmp_path, spec_file, content, text):
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    if content is not None:
        (bundle / "bundle.json").write_text(content)
    proc = run_module("ml.predict", str(bundle), "--all", "--spec", spec_file)
    assert_one_line_error(proc, str(bundle), text)


def test_predict_needs_the_spec_of_derived_features(rf_bundle, tmp_path):
    points = tmp_path / "points.csv"
    points.write_text(POINT_HEADER + "4,2,4,16,16\n")
    proc = run_module("ml.predict", str(rf_bundle), "--points", str(points))
    assert_one_line_error(proc, "the model uses derived features: pass --spec")


# --- ml.explore and ml.demo --------------------------------------------------------------

@pytest.mark.parametrize("option, value, text", [
    ("--start", "0", "must be >= 1"), ("--step", "-1", "must be >= 1"),
    ("--max", "0", "must be >= 1"), ("--target-mape", "-1", "must be > 0"),
    ("--candidates", "0", "must be >= 1"), ("--epochs", "-1", "must be >= 1"),
    ("--strategy", "psychic", "invalid choice: 'psychic'"),
], ids=["start", "step", "max", "target-mape", "candidates", "epochs", "strategy"])
def test_explore_option_out_of_range(spec_file, tmp_path, option, value, text):
    proc = run_module("ml.explore", spec_file, option, value, "--out", str(tmp_path / "x"))
    assert_one_line_error(proc, option, text)
    assert not (tmp_path / "x").exists()


def test_explore_more_points_than_the_space(spec_file, tmp_path):
    proc = run_module("ml.explore", spec_file, "--start", "200", "--out", str(tmp_path / "x"))
    assert_one_line_error(proc, "--start 200", "has only 108 points")


def test_explore_with_a_bad_spec(tmp_path):
    spec = tmp_path / "bad.yaml"
    spec.write_text(yaml.safe_dump(small_spec()) + "study: again\n")
    proc = run_module("ml.explore", str(spec), "--out", str(tmp_path / "x"))
    assert_one_line_error(proc, str(spec), "given twice")


@pytest.mark.parametrize("args, text", [
    (["--scale", "huge"], "invalid choice: 'huge'"), (["--epochs", "0"], "must be >= 1"),
], ids=["scale", "epochs"])
def test_demo_usage_errors(args, text):
    assert_one_line_error(run_module("ml.demo", *args), text)
