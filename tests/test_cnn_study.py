"""A CNN profiling study end to end: real Dakota, real networks timed and analysed once
each (the analysis cache then serves the family's derived features without compiling
again)."""
from __future__ import annotations

import json
import math
import os
import subprocess

from conftest import PYTHON, ROOT
from driver.spec import load_spec
from ml.data import read_frame

SPEC = ROOT / "dakota_inputs" / "cnn_basic.yaml"


def test_profiling_study_runs_and_analyses_each_point_once(tmp_path):
    cache = tmp_path / "cache"
    env = {**os.environ, "CYCLECAST_CNN_ANALYSIS": str(cache)}
    proc = subprocess.run([PYTHON, "-m", "driver.study", "run", str(SPEC), "-o",
                           str(tmp_path / "run"), "-q"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    frame = read_frame(tmp_path / "run" / "tabular.dat")
    assert len(frame) == 4 and set(frame["network"]) == {"MobileNet", "MobileNetV3Small"}
    assert (frame["seconds"] > 0).all() and (frame["seconds"] < 1).all()
    clock = frame["cycles"] / frame["seconds"]  # one clock, derived
    assert clock.max() / clock.min() - 1 < 1e-9 and 5e8 < clock.min() < 6e9
    records = [json.loads(line) for line in
               (tmp_path / "run" / "evaluations.jsonl").read_text().splitlines()]
    assert all("samples of" in r["note"] and "spread" in r["note"] for r in records)
    assert len((cache / "runs.log").read_text().splitlines()) == 4
    # the family's features come from the study's analyses: nothing compiled again
    os.environ["CYCLECAST_CNN_ANALYSIS"] = str(cache)
    try:
        family = load_spec(SPEC).family
        out = family.add_derived(frame)
    finally:
        del os.environ["CYCLECAST_CNN_ANALYSIS"]
    assert len((cache / "runs.log").read_text().splitlines()) == 4
    estimate = out[family.estimate_column("seconds")]
    assert all(math.isfinite(v) for v in estimate)
    # more pixels, more work: the counted MACs grow with the resolution
    for _, rows in out.groupby("network"):
        rows = rows.sort_values("resolution")
        assert rows["hlo_total_macs"].is_monotonic_increasing
