"""Incremental and active sampling (ml.explore) and whole-space answers (ml.predict) on a
small real study: every simulation is a real matmul under QEMU driven by Dakota."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import time

import numpy as np
import pandas as pd
import pytest

from conftest import PYTHON, ROOT, run_module, small_spec, write_spec
from driver import records

SPACE = 3 * 3 * 2 * 2 * 3  # small_spec's points


def explore(spec_file, out, *extra, timeout=600, env=None):
    return subprocess.run([PYTHON, "-m", "ml.explore", str(spec_file), "--out", str(out),
                           "--model", "rf", "--quiet", *extra], capture_output=True, text=True,
                          timeout=timeout, env=env, cwd=ROOT)


def distinct_points_and_runs(out):
    """(points over all rounds, counting each once; simulator runs over all rounds)."""
    seen, runs = set(), 0
    for directory in sorted((out / "rounds").glob("[0-9][0-9]")):
        for record in records.read_jsonl(directory / records.EVALUATIONS):
            if record["status"] != "reused":
                runs += 1
            seen.add(tuple(sorted(record["point"].items())))
    return seen, runs


@pytest.fixture
def spec_file(tmp_path, native_built):
    return write_spec(tmp_path / "tiny.yaml", small_spec())


@pytest.mark.parametrize("strategy", ["random", "active"])
def test_rounds_never_simulate_a_point_twice(spec_file, tmp_path, strategy):
    out = tmp_path / "explore"
    proc = explore(spec_file, out, "--start", "12", "--step", "8", "--max", "36",
                   "--patience", "99", "--strategy", strategy, "--candidates", "40")
    assert proc.returncode == 0, proc.stderr[-3000:]
    state = json.loads((out / "state.json").read_text())
    assert [r["points"] for r in state["rounds"]] == [12, 8, 8, 8]
    assert state["stopped"].startswith("--max 36")
    seen, runs = distinct_points_and_runs(out)
    # Dakota's LHS may repeat a point inside round 0: the memo answers it, nothing reruns.
    assert runs == len(seen) and len(seen) >= 12 + 3 * 8 - 2
    curve = pd.read_csv(out / "learning_curve.csv")
    assert curve["simulated_total"].tolist() == [12, 20, 28, 36]
    assert curve["prospective_mape_pct"].notna().sum() == 3  # rounds 1-3 score the old model
    assert (out / "learning_curve.png").stat().st_size > 0
    assert (out / "model" / "bundle.json").exists()


def test_stopping_rules(spec_file, tmp_path):
    from ml import explore as ex

    explorer = ex.Explorer(ex.parse_args([str(spec_file), "--out", str(tmp_path / "e"),
                                          "--patience", "2", "--target-mape", "1",
                                          "--max", "100", "--model", "rf", "--start", "10"]))

    def with_rounds(*mapes):
        explorer.state["rounds"] = [{"round": i, "points": 10, "validation_mape_pct": m}
                                    for i, m in enumerate(mapes)]
        return explorer.stop_reason()

    assert with_rounds(9, 8, 7) is None
    assert with_rounds(9, 5, 6) is None              # one round without improvement: go on
    assert "not improved for 2" in with_rounds(9, 5, 6, 5.5)
    assert "<= target 1%" in with_rounds(9, 0.9)
    assert "target 1% not met" in with_rounds(*[9 - i * 0.1 for i in range(10)])


def test_killed_exploration_resumes_without_resimulating(spec_file, tmp_path):
    out = tmp_path / "explore"
    args = [PYTHON, "-m", "ml.explore", str(spec_file), "--out", str(out), "--model", "rf",
            "--quiet", "--start", "10", "--step", "10", "--max", "40", "--patience", "99"]
    proc = subprocess.Popen(args, cwd=ROOT, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.time() + 300
    # Kill (with Dakota and the drivers) while round 1 or 2 is simulating.
    while time.time() < deadline:
        done = list((out / "rounds").glob("0[12]/evaluations.jsonl"))
        if done and records.read_jsonl(done[-1]):
            break
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    resumed = explore(spec_file, out, "--start", "10", "--step", "10", "--max", "40",
                      "--patience", "99")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    state = json.loads((out / "state.json").read_text())
    assert sum(r["points"] for r in state["rounds"]) == 40
    seen, runs = distinct_points_and_runs(out)
    assert runs == len(seen)  # nothing simulated twice across the kill


def test_resume_with_other_settings_is_refused_and_a_larger_max_goes_on(spec_file, tmp_path):
    out = tmp_path / "explore"
    assert explore(spec_file, out, "--start", "6", "--step", "6", "--max", "6").returncode == 0
    again = explore(spec_file, out, "--start", "6", "--step", "4", "--max", "12")
    assert again.returncode == 2 and "other settings (step=6)" in again.stderr
    # A directory whose model takes other features (an older cyclecast's) is refused.
    import shutil

    older = tmp_path / "older"
    shutil.copytree(out, older)
    bundle = json.loads((older / "model" / "bundle.json").read_text())
    kept = bundle["features"].pop()["name"]
    bundle["features"].append({"name": "est_retired", "role": "derived", "transform": "none"})
    (older / "model" / "bundle.json").write_text(json.dumps(bundle))
    refused = explore(spec_file, older, "--start", "6", "--step", "6", "--max", "12")
    assert refused.returncode == 2 and len(refused.stderr.strip().splitlines()) == 1
    assert (f"its model takes other features (here now: {kept}; there only: est_retired)"
            in refused.stderr)
    further = explore(spec_file, out, "--start", "6", "--step", "6", "--max", "12")
    assert further.returncode == 0, further.stderr[-2000:]
    state = json.loads((out / "state.json").read_text())
    assert [r["points"] for r in state["rounds"]] == [6, 6]


def test_bad_exploration_input(spec_file, tmp_path):
    too_many = explore(spec_file, tmp_path / "a", "--start", str(SPACE + 1), "--max", "999")
    assert too_many.returncode == 2
    assert f"the space of {spec_file} has only {SPACE} points" in too_many.stderr
    assert not (tmp_path / "a" / "rounds").exists()


def test_source_model_with_other_architecture_is_refused(spec_file, tmp_path):
    """A k-means CNN (7 cache parameters) cannot seed this 4-parameter study."""
    import gzip

    lines = gzip.open(ROOT / "data" / "reference" / "kmeans.tabular.dat.gz", "rt").read()
    data = tmp_path / "k.dat"
    data.write_text("\n".join(lines.splitlines()[:200]) + "\n")
    trained = run_module("ml.train", str(data), "--spec", str(ROOT / "dakota_inputs" /
                         "kmeans.yaml"), "--epochs", "2", "--out", str(tmp_path / "src"),
                         "--quiet", "--features", "raw")
    assert trained.returncode == 0, trained.stderr[-2000:]
    proc = subprocess.run([PYTHON, "-m", "ml.explore", str(spec_file), "--out",
                           str(tmp_path / "t"), "--from", str(tmp_path / "src"), "--quiet", "--start", "10",
                           "--features", "raw"], capture_output=True, text=True, cwd=ROOT,
                          timeout=300)
    assert proc.returncode == 2
    assert "parameter 'l1i_size_kib' of the source model is not an architecture parameter" \
        in proc.stderr


# --- whole-space answers ----------------------------------------------------------------

@pytest.fixture
def forest(spec_file, tmp_path):
    out = tmp_path / "explore"
    proc = explore(spec_file, out, "--start", "24", "--step", "12", "--max", "36")
    assert proc.returncode == 0, proc.stderr[-3000:]
    return out / "model"


def test_all_enumerates_the_product_with_answers(forest, spec_file, tmp_path):
    out = tmp_path / "all.csv"
    proc = run_module("ml.predict", str(forest), "--spec", str(spec_file), "--all", "--top",
                      "2", "--budget", "total_cache_kib=40", "--pareto", "--chunk", "17", "--out",
                      str(out), "--quiet")
    assert proc.returncode == 0, proc.stderr[-3000:]
    frame = pd.read_csv(out)
    names = [p["name"] for p in small_spec()["parameters"]]
    assert len(frame) == SPACE and len(frame[names].drop_duplicates()) == SPACE
    assert (frame["spread_ln"] >= 0).all()  # a forest tells its uncertainty
    assert np.allclose(frame["total_cache_kib"], frame["l1d_size_kib"] + 32
                       + frame["l2_size_kib"])  # L1I fixed at the backend default, 32 KiB
    top = pd.read_csv(tmp_path / "all_top2.csv")
    for n, group in frame[frame["total_cache_kib"] <= 40].groupby("n"):
        best = group.nsmallest(2, "predicted_cycles")["predicted_cycles"].to_numpy()
        assert np.allclose(top[top["n"] == n]["predicted_cycles"], best)
    front = pd.read_csv(tmp_path / "all_pareto.csv")
    for n, group in front.groupby("n"):
        ordered = group.sort_values("total_cache_kib")
        assert (np.diff(ordered["predicted_cycles"]) < 0).all()  # more cache, fewer cycles
        everything = frame[frame["n"] == n]
        for _, row in ordered.iterrows():  # nothing cheaper is as fast
            cheaper = everything[everything["total_cache_kib"] <= row["total_cache_kib"]]
            assert cheaper["predicted_cycles"].min() == pytest.approx(row["predicted_cycles"])
    assert (tmp_path / "all_pareto.png").stat().st_size > 0


def test_verify_resimulates_the_best_designs(forest, spec_file, tmp_path):
    from driver.families.cache.backends import qemu_riscv
    from driver.spec import load_spec

    out = tmp_path / "one.csv"
    proc = run_module("ml.predict", str(forest), "--spec", str(spec_file), "--all", "--where",
                      "n=32", "--verify", "2", "--out", str(out), "--quiet")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert len(pd.read_csv(out)) == SPACE // 3
    checked = pd.read_csv(tmp_path / "one_verify2.csv")
    assert len(checked) == 2 and "verified 2 design(s)" in proc.stdout
    spec = load_spec(spec_file)
    backend = qemu_riscv.Backend(spec.settings, timeout_s=60)
    for number, row in checked.iterrows():
        point = {name: int(row[name]) for name in spec.names}
        work = tmp_path / f"direct{number}"
        work.mkdir()
        assert backend.evaluate(point, work)["cycles"] == row["simulated_cycles"]
        assert row["error_pct"] == pytest.approx(
            (row["predicted_cycles"] - row["simulated_cycles"]) / row["simulated_cycles"] * 100)


def test_space_too_large_says_how_to_restrict(forest, spec_file):
    proc = run_module("ml.predict", str(forest), "--spec", str(spec_file), "--all",
                      "--max-points", "50", "--quiet")
    assert proc.returncode == 2
    assert f"the space has {SPACE} points (3 l1d_size_kib x 3 l1d_ways" in proc.stderr
    assert "--where NAME=VALUE" in proc.stderr
    bad = run_module("ml.predict", str(forest), "--spec", str(spec_file), "--all", "--where",
                     "n=17", "--quiet")
    assert bad.returncode == 2 and "n must be one of [16, 24, 32]" in bad.stderr


def test_pareto_front_golden():
    from ml.answers import pareto_front

    frame = pd.DataFrame({"kib": [8, 4, 16, 4, 32, 16], "predicted_cycles": [50, 90, 60, 80, 10, 40],
                          "w": [1, 1, 1, 1, 1, 2]})
    front = pareto_front(frame, "kib", "predicted_cycles", ["w"])
    assert front[["kib", "predicted_cycles", "w"]].values.tolist() == [
        [4, 80, 1], [8, 50, 1], [32, 10, 1], [16, 40, 2]]


def test_knee_golden():
    from ml.answers import knee

    # Cost doubles each step; cycles fall fast, then barely: the knee is at cost 8.
    front = pd.DataFrame({"kib": [1, 2, 4, 8, 16, 32, 64], "predicted_cycles":
                          [1000, 400, 150, 60, 55, 52, 50], "w": [1] * 7})
    assert knee(front, "kib", "predicted_cycles", ["w"])["kib"].tolist() == [8]
    # A front that only improves at the end (no point below the chord): its cheapest design.
    late = pd.DataFrame({"kib": [1, 2, 4, 8], "predicted_cycles": [100, 99, 98, 10]})
    assert knee(late, "kib", "predicted_cycles", [])["kib"].tolist() == [1]
