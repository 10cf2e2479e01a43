"""The GPU program's analysis (driver/families/cnn/ptx.py, gpu_compile.py, gpu_analysis.py):
PTX kernels counted per launched thread on a dump XLA really produced for a described H200,
the same counts from a live compile here (no GPU), cached once per point, the features and
estimate the family derives from them, and a failure as one line."""
from __future__ import annotations

import importlib.util
import math
from pathlib import Path

import pandas as pd
import pytest

from conftest import write_spec
from driver.errors import EvaluationFailed
from driver.families.cnn import analysis, features, gpu_analysis, hlo, ptx
from driver.spec import load_spec

FIXTURES = Path(__file__).parent / "fixtures" / "cnn"
DUMP = FIXTURES / "tiny_net_h200"  # record_ptx.py: tiny_net compiled for the H200
# tiny_net by hand (record_hlo.py): the 3x3x3 -> 8 and the 1x1 8 -> 16 convolutions (cuDNN
# keeps the 1x1 one a convolution), the 3x3 depthwise one over 8 channels.
CONV_MACS = {"conv_dense_macs": 16 * 16 * 8 * 27 + 16 * 16 * 16 * 8,
             "conv_depthwise_macs": 16 * 16 * 8 * 9}


def test_recorded_dump_counts_each_kernel_per_active_thread():
    found = ptx.analyse_dump(DUMP)
    totals = found["totals"]
    kernels = [launch for launch in found["launches"] if "threads" in launch]
    by_name = {launch["name"]: launch for launch in kernels}
    # The bounds checks: the weight transposes move the kernels' elements, one per thread,
    # and the bias + ReLU fusion runs once per element of the 16 x 16 x 8 activation.
    assert by_name["wrapped_transpose"]["threads"] == 3 * 3 * 3 * 8  # of 2 x 128 launched
    assert by_name["wrapped_transpose_1"]["threads"] == 3 * 3 * 8
    assert by_name["loop_add_fusion"]["threads"] == 16 * 16 * 8
    assert totals["launches"] == len(kernels) == 6
    assert totals["threads"] == sum(k["threads"] for k in kernels)
    assert totals["instructions"] == sum(k["instructions"] for k in kernels)
    text = (DUMP / "tiny_net.sm_9.0a_gpu_after_optimizations.txt").read_text()
    assert totals["convolution_calls"] == totals["library_calls"] == \
        text.count('custom_call_target="__cudnn$conv') == 3
    assert sum(totals[c] for c in ptx.CLASSES) == totals["instructions"]
    assert totals["loops"] == 1 and 0 < totals["loop_instructions"] < totals["instructions"]
    assert totals == pytest.approx({**totals, "instructions": 133104, "fp32": 32448,
                                    "global_load_bytes": 43904, "shuffle": 5504})


def test_gpu_hlo_counts_cudnn_convolutions_as_their_macs():
    totals = hlo.analyse((DUMP / "tiny_net.sm_9.0a_gpu_after_optimizations.txt")
                         .read_text())["totals"]
    assert {k: totals[k] for k in CONV_MACS} == CONV_MACS
    assert totals["transcendental_ops"] == 16 * 16 * 16 + 10  # sigmoid, softmax's exp


PTX = """
.version 8.8
.target sm_90a
.visible .entry k(
    .param .u64 .ptr .align 16 k_param_0
)
.reqntid 128, 1, 1
{
    .reg .pred  %p<3>;
    mov.u32     %r1, %ctaid.x;
    setp.gt.u32     %p1, %r1, 99;
    @%p1 bra    $L__BB0_3;
    ld.global.nc.v4.b32     {%r2, %r3, %r4, %r5}, [%rd1];
$L__BB0_2:
    fma.rn.f32  %r6, %r7, %r8, %r6;
    add.s32     %r9, %r9, 1;
    setp.lt.u32     %p2, %r9, 64;
    @%p2 bra    $L__BB0_2;
    st.global.b32   [%rd2], %r6;
    ex2.approx.ftz.f32 %r10, %r6;
$L__BB0_3:
    ret;
}
"""


def test_ptx_guard_loop_classes_and_bytes():
    kernel = ptx.parse_ptx(PTX)["k"]
    counts = kernel["counts"]
    assert kernel["guard_last"] == 99  # threads past index 99 exit at once
    assert counts["loops"] == 1 and counts["loop_instructions"] == 4
    assert (counts["fp32"], counts["integer"], counts["special"]) == (1, 1, 1)
    assert counts["global_load_bytes"] == 16 and counts["global_store_bytes"] == 4
    assert counts["branch"] == 3 and counts["compare_select"] == 2
    thunks = "001: kCustomKernel [source | sink] k grid: [2, 1, 1] threads: [128, 1, 1]\n"
    totals = ptx.analyse([PTX], thunks)["totals"]
    assert totals["threads"] == 100 and totals["instructions"] == 100 * counts["instructions"]
    with pytest.raises(ValueError, match="kernel other is launched but not in the PTX"):
        ptx.analyse([PTX], thunks.replace(" k ", " other "))


@pytest.fixture(scope="module")
def tiny_keras(tmp_path_factory):
    from driver.families.cnn import runtime

    runtime.tensorflow(1)
    spec = importlib.util.spec_from_file_location("record_hlo", FIXTURES / "record_hlo.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    path = tmp_path_factory.mktemp("user") / "tiny.keras"
    module.tiny_net().save(path)
    return path


def test_live_compile_for_the_h200_reproduces_the_recorded_counts(tmp_path, tiny_keras,
                                                                   monkeypatch):
    """XLA compiles the network for the described H200 here, with no GPU; the analysis is
    the recorded one, and is cached: the family's features read it without compiling."""
    monkeypatch.setenv("CYCLECAST_CNN_ANALYSIS", str(tmp_path / "cache"))
    broken = tmp_path / "broken.keras"
    broken.write_bytes(b"not a zip")
    users = {"tiny": str(tiny_keras), "broken": str(broken)}
    # Two points in one process: the one that cannot be built fails alone, in one line.
    both = gpu_analysis.gpu_analyses([("broken", 16, 1), ("tiny", 16, 1)], users)
    assert isinstance(both["broken", 16, 1], EvaluationFailed)
    assert str(both["broken", 16, 1]).startswith("broken at 16 px, batch 1: GPU compile "
                                                 "failed: ")
    found = gpu_analysis.gpu_analysis("tiny", 16, 1, users)  # from the cache now
    assert found == both["tiny", 16, 1]
    assert found["totals"] == ptx.analyse_dump(DUMP)["totals"]
    assert {k: found["hlo_totals"][k] for k in CONV_MACS} == CONV_MACS
    assert found["device"].startswith("NVIDIA H200") and found["analysis_seconds"] > 0
    assert found["compile_seconds"] > 0 and found["startup_seconds"] > 0

    spec = {"study": "gpu_t",
            "parameters": [{"name": "network", "type": "categorical", "role": "workload",
                            "values": ["tiny"]},
                           {"name": "resolution", "role": "workload", "values": [16]}],
            "backend": {"name": "keras_profile",
                        "settings": {"models": {"tiny": users["tiny"]},
                                     "gpu_analysis": True}},
            "sampling": {"method": "grid"}}
    loaded = load_spec(write_spec(tmp_path / "s.yaml", spec))
    family = loaded.family
    assert family.derived_sets()["ptx"] == features.GPU_DERIVED
    frame = family.add_derived(pd.DataFrame({"network": ["tiny"], "resolution": [16]}))
    row = frame.iloc[0]
    assert all(math.isfinite(row[name]) for name in family.derived_names())
    assert row["ptx_launches"] == math.log2(1 + 6)
    estimate = 2 ** row[features.GPU_ESTIMATE]
    # 6 launches and 3 library calls at their nominal costs, plus the work: microseconds
    assert 6 * 3e-6 + 3 * 5e-6 < estimate < 1e-3
    log = (tmp_path / "cache" / analysis.RUNS_LOG).read_text().splitlines()
    assert sum("gpu-h200" in line for line in log) == 1  # one compile, then the cache


def test_a_network_that_does_not_compile_fails_in_one_line(tmp_path, monkeypatch):
    monkeypatch.setenv("CYCLECAST_CNN_ANALYSIS", str(tmp_path / "cache"))
    broken = tmp_path / "broken.keras"
    broken.write_bytes(b"not a zip")
    with pytest.raises(EvaluationFailed, match=r"broken at 16 px, batch 1: GPU compile "
                       r"failed: \w+") as err:
        gpu_analysis.gpu_analysis("broken", 16, 1, {"broken": str(broken)})
    assert err.value.kind == "build" and "\n" not in str(err.value)


def test_cache_keys_keep_the_whole_network_name_and_file(tmp_path):
    """Two user networks whose names differ after a "-v" (and whose files differ) never
    share a cached GPU analysis."""
    first, second = tmp_path / "a.keras", tmp_path / "b.keras"
    first.write_bytes(b"one")
    second.write_bytes(b"two")
    one = gpu_analysis.key("net-v2", 16, 1, {"net-v2": str(first)})
    two = gpu_analysis.key("net-v3", 16, 1, {"net-v3": str(second)})
    assert one != two and one.startswith("net-v2-") and two.startswith("net-v3-")
    assert gpu_analysis.key("MobileNetV2", 224, 1, {}).startswith("MobileNetV2-r224-b1-gpu")
