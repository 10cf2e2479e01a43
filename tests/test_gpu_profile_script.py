"""bench/gpu_profile.py, the script prepared for a lent GPU machine, run here on JAX's CPU:
real inference timed, one record per point with the protocol, a point that cannot run is
one failure with its reason and the others go on."""
from __future__ import annotations

import importlib.util
import json
import subprocess
from pathlib import Path

from conftest import PYTHON, ROOT
from driver.families.cnn.gpu_analysis import jax_environment

FIXTURES = Path(__file__).parent / "fixtures" / "cnn"


def test_profiles_points_and_records_failures_on_jax_cpu(tmp_path):
    from driver.families.cnn import runtime

    runtime.tensorflow(1)
    spec = importlib.util.spec_from_file_location("record_hlo", FIXTURES / "record_hlo.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    tiny = tmp_path / "tiny.keras"
    module.tiny_net().save(tiny)  # 16 x 16 images: below any Keras application's smallest
    out = tmp_path / "gpu.json"
    proc = subprocess.run([PYTHON, str(ROOT / "bench" / "gpu_profile.py"), "--out", str(out),
                           "--platform", "cpu", "--networks", "NoSuchNet", "--model",
                           f"tiny={tiny}", "--resolutions", "16", "--batches", "1", "2",
                           "--warmups", "1", "--repeats", "3", "--min-sample-seconds",
                           "0.001"],
                          capture_output=True, text=True, timeout=600, env=jax_environment())
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(out.read_text())
    assert result["platform"] == "cpu" and "block_until_ready" in result["protocol"]
    points = result["points"]
    assert [(p["network"], p["batch_size"]) for p in points] == [("tiny", 1), ("tiny", 2)]
    assert all(0 < p["seconds"] < 1 and p["samples"] == 3 and p["spread"] >= 0
               for p in points)
    assert [(f["network"], f["kind"]) for f in result["failures"]] == \
        [("NoSuchNet", "build"), ("NoSuchNet", "build")]
    assert "AttributeError" in result["failures"][0]["reason"]
