"""Derived features of a CNN design point: the dynamic code analysis (:mod:`.analysis`) of
its network at its resolution and batch size, and a roofline estimate of its runtime.

Counts enter as log2(1 + count); names start with ``hlo_`` (and ``ptx_`` for the program XLA
compiles for a described H200 GPU, when the settings ask for it: ``gpu_analysis``). The
estimate (``est_seconds``, log2 of seconds) sums over the program's kernels the larger of
its compute time (each kind of work at its own rate) and its memory time (bytes at one
bandwidth), plus a fixed cost per kernel: the rates are the family settings' ``roofline``
(defaults fit on this kind of machine, one core: :data:`ROOFLINE`), so a model learns the
correction.
"""
from __future__ import annotations

from typing import Any, Callable, Mapping

import numpy as np
import pandas as pd

from .hlo import COUNTS
from .ptx import CLASSES

TYPE_CHECKING = False  # annotations only
if TYPE_CHECKING:
    from ...resolved import ResolvedSpec

COUNT_FEATURES = tuple(f"hlo_{name}" for name in COUNTS) + (
    "hlo_total_macs", "hlo_kernel_bytes", "hlo_parameter_bytes", "hlo_kernels",
    "hlo_fusions", "hlo_fused_instructions", "hlo_intensity")
ESTIMATE = "est_seconds"
DERIVED = COUNT_FEATURES + (ESTIMATE,)
#: The GPU program's counts (:mod:`.ptx`, compiled for a described H200), as features.
PTX_COUNTS = CLASSES + ("instructions", "global_load_bytes", "global_store_bytes",
                        "shared_bytes", "loop_instructions", "loops", "launches", "threads",
                        "library_calls", "convolution_calls", "gemm_calls")
PTX_FEATURES = tuple(f"ptx_{name}" for name in PTX_COUNTS) + ("ptx_library_macs",)
GPU_ESTIMATE = "est_gpu_seconds"
GPU_DERIVED = PTX_FEATURES + (GPU_ESTIMATE,)
#: Nominal H200 rates (NVIDIA's data sheet; not fitted: no GPU was measured): thread
#: instructions per second (132 SMs x 128 lanes x 1.98 GHz), FP32 MACs per second (67
#: TFLOPS), HBM3e bytes per second, and a kernel launch's and a library call's cost.
GPU_RATES = {"thread_instructions": 3.35e13, "fp32_macs": 3.35e13, "bytes_per_s": 4.8e12,
             "launch_seconds": 3e-6, "library_call_seconds": 5e-6}
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


def gpu_estimate_seconds(result: dict) -> float:
    """A roofline of the GPU program at :data:`GPU_RATES` (nominal, not fitted): per kernel
    launch the larger of its instructions' and its global memory traffic's time plus the
    launch cost, and the library calls' MACs at the FP32 rate plus their call cost."""
    total = 0.0
    for launch in result["launches"]:
        if "threads" not in launch:
            total += GPU_RATES["library_call_seconds"]
            continue
        total += max(launch["instructions"] / GPU_RATES["thread_instructions"],
                     launch.get("global_bytes", 0) / GPU_RATES["bytes_per_s"])
        total += GPU_RATES["launch_seconds"]
    hlo_totals = result["hlo_totals"]
    library_macs = sum(hlo_totals[name] for name in MACS[:3])  # cuDNN's convolutions
    return total + library_macs / GPU_RATES["fp32_macs"]


def gpu_row_features(result: dict) -> dict[str, float]:
    totals = result["totals"]
    out = {f"ptx_{name}": np.log2(1 + totals[name]) for name in PTX_COUNTS}
    hlo_totals = result["hlo_totals"]
    out["ptx_library_macs"] = np.log2(1 + sum(hlo_totals[name] for name in MACS))
    out[GPU_ESTIMATE] = np.log2(gpu_estimate_seconds(result))
    return out


def add_derived(frame: pd.DataFrame, spec: ResolvedSpec,
                point_of: Callable[[Mapping[str, Any]], tuple[str, int, int]]) -> pd.DataFrame:
    """``frame`` with :data:`DERIVED` (and :data:`GPU_DERIVED` when the settings ask for
    the GPU program's analysis), one analysis per distinct (network, resolution, batch
    size); ``point_of(row)`` gives a row's (network, resolution, batch_size)."""
    from . import analysis, gpu_analysis, runtime

    settings = spec.settings
    users = settings.get("models", {})
    gpu = settings.get("gpu_analysis", False)
    keys = [point_of(row) for row in frame.to_dict("records")]
    values = {}
    # every missing GPU analysis in one process
    gpu_results = gpu_analysis.gpu_analyses(list(dict.fromkeys(keys)), users) if gpu else {}
    for point in dict.fromkeys(keys):
        found = analysis.cached(*point, users)
        if found is None:
            runtime.tensorflow(settings.get("threads", 1))
            found = analysis.analysis(*point, users)
        values[point] = row_features(found, settings.get("roofline", {}))
        if gpu:
            result = gpu_results[point]
            if isinstance(result, BaseException):
                raise result
            values[point].update(gpu_row_features(result))
    out = frame.copy()
    for name in DERIVED + (GPU_DERIVED if gpu else ()):
        out[name] = np.array([values[k][name] for k in keys], dtype=float)
    return out
