"""`make demo`'s job (python -m ml.demo) end to end at a tiny scale: real simulations, an
exploration per kernel, transfer from k-means to matmul, whole-space answers verified."""
from __future__ import annotations

import re

import pandas as pd

from conftest import run_module


def test_demo_runs_the_whole_path(tmp_path, native_built):
    out = tmp_path / "demo"
    proc = run_module("ml.demo", "--scale", "tiny", "--epochs", "3", "--out", str(out),
                      timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = (out / "summary.md").read_text()
    for kernel, simulations in (("kmeans", 50), ("matmul", 40)):
        assert re.search(rf"## {kernel}\n\n- {simulations} simulations in 2 rounds", summary)
        assert (out / kernel / "learning_curve.png").stat().st_size > 0
    assert len(re.findall(r"held-out MAPE \(1,000 reference points\): CNN [0-9.]+%, random "
                          r"forest on the same simulations [0-9.]+%", summary)) == 2
    bundle = (out / "matmul" / "model" / "bundle.json").read_text()
    assert "exploration_round" in bundle
    verified = pd.read_csv(out / "matmul_space_verify3.csv")
    assert len(verified) == 3 and verified["simulated_cycles"].gt(0).all()
    assert (verified["n"] == 128).all()
    assert (out / "matmul_space_pareto.png").stat().st_size > 0
    # The accelerator section: a ZigZag study, a model, one layer's best schedules verified.
    assert re.search(r"## Accelerator: layer res4_1x1_256_1024 on simba_final\n\n- study: "
                     r"`dakota_inputs/demo_accelerator.yaml`, 150 schedules", summary)
    assert re.search(r"schedule comparison accuracy [0-9.]+%", summary)
    accel = pd.read_csv(out / "accelerator" / "space_verify3.csv")
    assert len(accel) == 3 and accel["simulated_cycles"].gt(0).all()
    assert (accel["layer"] == "res4_1x1_256_1024").all()
