"""bench/gpu_profile.py, the script prepared for a lent GPU machine, run here on JAX's CPU:
real inference timed, one record per point with the protocol, a point that cannot run is
one failure with its reason and the others go on."""
from __future__ import annotations

import json
import subprocess

from conftest import PYTHON, ROOT
from driver.families.cnn.gpu_analysis import jax_environment


def test_profiles_points_and_records_failures_on_jax_cpu(tmp_path):
    out = tmp_path / "gpu.json"
    proc = subprocess.run([PYTHON, str(ROOT / "bench" / "gpu_profile.py"), "--out", str(out),
                           "--platform", "cpu", "--networks", "MobileNetV3Small", "NoSuchNet",
                           "--resolutions", "32", "--batches", "1", "2", "--warmups", "1",
                           "--repeats", "3", "--min-sample-seconds", "0.001"],
                          capture_output=True, text=True, timeout=600, env=jax_environment())
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(out.read_text())
    assert result["platform"] == "cpu" and "block_until_ready" in result["protocol"]
    points = result["points"]
    assert [(p["network"], p["batch_size"]) for p in points] == \
        [("MobileNetV3Small", 1), ("MobileNetV3Small", 2)]
    assert all(0 < p["seconds"] < 1 and p["samples"] == 3 and p["spread"] >= 0
               for p in points)
    assert [(f["network"], f["kind"]) for f in result["failures"]] == \
        [("NoSuchNet", "build"), ("NoSuchNet", "build")]
    assert "AttributeError" in result["failures"][0]["reason"]
