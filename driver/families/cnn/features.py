"""Derived features of a CNN design point: the dynamic code analysis (:mod:`.analysis`) of
its network at its resolution and batch size, and a roofline estimate of its runtime.

Counts enter as log2(1 + count); names start with ``hlo_``. The estimate (``est_seconds``,
log2 of seconds) sums over the program's kernels the larger of its compute time (each kind
of work at its own rate) and its memory time (bytes at one bandwidth), plus a fixed cost
per kernel: the rates are the family settings' ``roofline`` (defaults fit on this kind of
machine, one core: :data:`ROOFLINE`), so a model learns the correction.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from .hlo import COUNTS

COUNT_FEATURES = tuple(f"hlo_{name}" for name in COUNTS) + (
    "hlo_total_macs", "hlo_kernel_bytes", "hlo_parameter_bytes", "hlo_kernels",
    "hlo_fusions", "hlo_fused_instructions", "hlo_intensity")
ESTIMATE = "est_seconds"
DERIVED = COUNT_FEATURES + (ESTIMATE,)
MACS = ("conv_dense_macs", "conv_depthwise_macs", "conv_grouped_macs", "dot_macs")
#: The roofline's rates (per second, one core) and per-kernel cost (seconds): rounded from
#: a least-squares fit (non-negative, relative error) of seconds on the HLO totals of
#: cnn_cpu.yaml's 136 points (bench/results/cnn.md; bench/cnn.py refits them per fold).
ROOFLINE = {"conv_dense_macs": 3.5e10, "conv_depthwise_macs": 3.5e9,
            "conv_grouped_macs": 1.0e10, "dot_macs": 3.5e10, "elementwise_ops": 7.0e9,
            "transcendental_ops": 1.0e9, "reduce_ops": 7.0e9, "movement_elements": 2.0e10,
            "other_elements": 7.0e9, "bytes_per_s": 2.0e10, "kernel_seconds": 2.5e-5}


def estimate_seconds(kernels: list[dict], rates: dict) -> float:
    """The roofline estimate of one program (its kernels as :func:`.hlo.analyse` gives)."""
    rates = {**ROOFLINE, **rates}
    total = 0.0
    for kernel in kernels:
        compute = sum(kernel.get(name, 0.0) / rates[name] for name in COUNTS)
        total += max(compute, kernel["bytes"] / rates["bytes_per_s"]) + rates["kernel_seconds"]
    return total


def row_features(result: dict, rates: dict) -> dict[str, float]:
    totals = result["totals"]
    macs = sum(totals[name] for name in MACS)
    out = {f"hlo_{name}": np.log2(1 + totals[name]) for name in COUNTS}
    out.update(hlo_total_macs=np.log2(1 + macs),
               hlo_kernel_bytes=np.log2(1 + totals["kernel_bytes"]),
               hlo_parameter_bytes=np.log2(1 + totals["parameter_bytes"]),
               hlo_kernels=np.log2(1 + totals["kernels"]),
               hlo_fusions=np.log2(1 + totals["fusions"]),
               hlo_fused_instructions=np.log2(1 + totals["fused_instructions"]),
               hlo_intensity=np.log2((1 + macs) / (1 + totals["kernel_bytes"])))
    out[ESTIMATE] = np.log2(estimate_seconds(result["kernels"], rates))
    return out


def add_derived(frame: pd.DataFrame, spec: dict, point_of) -> pd.DataFrame:
    """``frame`` with :data:`DERIVED`, one analysis per distinct (network, resolution,
    batch size); ``point_of(row)`` gives a row's (network, resolution, batch_size)."""
    from . import analysis, runtime

    settings = spec["backend"]["settings"]
    users = settings.get("models", {})
    keys = [point_of(row) for row in frame.to_dict("records")]
    values = {}
    for point in dict.fromkeys(keys):
        found = analysis.cached(*point, users)
        if found is None:
            runtime.tensorflow(settings.get("threads", 1))
            found = analysis.analysis(*point, users)
        values[point] = row_features(found, settings.get("roofline", {}))
    out = frame.copy()
    for name in DERIVED:
        out[name] = np.array([values[k][name] for k in keys], dtype=float)
    return out
