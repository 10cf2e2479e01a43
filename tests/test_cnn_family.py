"""The CNN family and the keras_profile backend: the HLO analysis counts a network's work
exactly (on HLO XLA really produced, and on a live compile), spec-time checks are one line,
and evaluations time real networks, or fail as one recorded failure with its reason."""
from __future__ import annotations

import math
from pathlib import Path

import pytest

from conftest import write_spec
from driver.errors import EvaluationFailed, SpecError
from driver.families.cnn import analysis, features, hlo, networks
from driver.families.cnn.backends import keras_profile as kp
from driver.spec import load_spec

FIXTURE = Path(__file__).parent / "fixtures" / "cnn" / "tiny_net.hlo"
# tiny_net (fixtures/cnn/record_hlo.py) by hand: 16x16 outputs of a 3x3x3 -> 8 conv, a
# 3x3 depthwise over 8 channels, a 1x1 8 -> 16 conv (XLA makes it a dot), a 16 -> 10 dense.
MACS = {"conv_dense_macs": 16 * 16 * 8 * 27, "conv_depthwise_macs": 16 * 16 * 8 * 9,
        "dot_macs": 16 * 16 * 16 * 8 + 16 * 10}
SIGMOID_AND_SOFTMAX = 16 * 16 * 16 + 10          # transcendental: logistic, exp
MEAN_AND_SOFTMAX = 16 * 16 * 16 + 10 + 10        # reduced elements: mean, max, sum


def spec_dict(**settings) -> dict:
    return {"study": "cnn_t",
            "parameters": [{"name": "network", "type": "categorical", "role": "workload",
                            "values": ["MobileNetV3Small"]},
                           {"name": "resolution", "role": "workload", "values": [32]}],
            "backend": {"name": "keras_profile",
                        "settings": {"repeats": 5, "min_sample_seconds": 0.01, **settings}},
            "sampling": {"method": "grid"}}


def test_recorded_hlo_counts_the_work_exactly():
    found = hlo.analyse(FIXTURE.read_text())
    totals = found["totals"]
    for name, macs in MACS.items():
        assert totals[name] == macs
    assert totals["conv_grouped_macs"] == 0
    assert totals["transcendental_ops"] == SIGMOID_AND_SOFTMAX
    assert totals["reduce_ops"] == MEAN_AND_SOFTMAX
    assert totals["kernels"] == len(found["kernels"]) and totals["fusions"] >= 1
    assert sum(k["bytes"] for k in found["kernels"]) == totals["kernel_bytes"]
    # the weights and the input image are the program's parameters (float32)
    weights = (27 * 8 + 8) + (9 * 8 + 8) + (8 * 16 + 16) + (16 * 10 + 10)
    assert totals["parameter_bytes"] == 4 * (weights + 16 * 16 * 3)


def test_while_loops_count_their_body_times_the_trip_count():
    text = """HloModule m
%body (p: f32[8]) -> f32[8] {
  %p = f32[8]{0} parameter(0)
  ROOT %e = f32[8]{0} exponential(%p)
}
%cond (p: f32[8]) -> pred[] {
  %p = f32[8]{0} parameter(0)
  ROOT %c = pred[] constant(true)
}
ENTRY %main (a: f32[8]) -> f32[8] {
  %a = f32[8]{0} parameter(0)
  ROOT %w = f32[8]{0} while(%a), condition=%cond, body=%body, backend_config={"known_trip_count":{"n":"5"}}
}
"""
    assert hlo.analyse(text)["totals"]["transcendental_ops"] == 5 * 8
    with pytest.raises(ValueError, match="no ENTRY"):
        hlo.analyse("HloModule m\n")


def test_roofline_estimate_is_compute_or_memory_bound_per_kernel():
    rates = {"conv_dense_macs": 1e9, "bytes_per_s": 1e9, "kernel_seconds": 0.0}
    compute = [{"op": "convolution", "bytes": 10, "conv_dense_macs": 1e9}]
    memory = [{"op": "fusion", "bytes": 2e9, "elementwise_ops": 1}]
    assert features.estimate_seconds(compute, rates) == pytest.approx(1.0)
    assert features.estimate_seconds(memory, rates) == pytest.approx(2.0, rel=1e-6)


@pytest.mark.parametrize("change, text", [
    ({"values": ["NoSuchNet"]}, r"parameters.network: unknown network 'NoSuchNet'; allowed: "
                                r"ConvNeXtBase, .*MobileNetV2"),
])
def test_unknown_network_is_one_line(tmp_path, change, text):
    spec = spec_dict()
    spec["parameters"][0].update(change)
    with pytest.raises(SpecError, match=text) as err:
        load_spec(write_spec(tmp_path / "s.yaml", spec))
    assert "\n" not in str(err.value) and str(tmp_path / "s.yaml") in str(err.value)


def test_spec_time_checks_are_one_line(tmp_path):
    cases = [
        (lambda s: s["parameters"].__setitem__(0, {**s["parameters"][0],
                                                   "values": ["Xception"]}),
         r"parameters.resolution: 32 px is below Xception's smallest input, 71 px"),
        (lambda s: s["parameters"].append({"name": "threads", "role": "architecture",
                                           "values": [1, 2]}),
         r"parameters: threads cannot be swept .* set backend.settings.threads"),
        (lambda s: s["backend"]["settings"].update(models={"mine": "net.h5"}),
         r"backend.settings.models.mine: 'net.h5' is not a .keras file"),
        (lambda s: s["backend"]["settings"].update(models={"mine": "absent.keras"}),
         r"backend.settings.models.mine: cannot read .*absent.keras"),
        (lambda s: s["backend"]["settings"].update(device="tpu"),
         r"backend.settings.device: 'tpu' is not one of \['cpu', 'gpu'\]"),
    ]
    for change, text in cases:
        spec = spec_dict()
        change(spec)
        with pytest.raises(SpecError, match=text) as err:
            load_spec(write_spec(tmp_path / "s.yaml", spec))
        assert "\n" not in str(err.value)


@pytest.mark.skipif(Path("/dev/nvidia0").exists(), reason="a GPU is present here")
def test_gpu_is_refused_without_a_gpu(tmp_path):
    with pytest.raises(SpecError, match=r"backend.settings.device: 'gpu': no GPU on this "
                                        r"machine .*; allowed here: cpu"):
        load_spec(write_spec(tmp_path / "s.yaml", spec_dict(device="gpu")))


def test_catalogue_has_twenty_networks_of_many_families():
    assert len(networks.CATALOGUE) >= 20
    assert len({lineage for lineage, _ in networks.CATALOGUE.values()}) >= 10


@pytest.fixture(scope="module")
def user_model(tmp_path_factory):
    """A user's own network saved as .keras (the recorded fixture's tiny_net)."""
    import importlib.util

    from driver.families.cnn import runtime

    runtime.tensorflow(1)
    spec = importlib.util.spec_from_file_location("record_hlo", FIXTURE.with_name(
        "record_hlo.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    path = tmp_path_factory.mktemp("user") / "tiny.keras"
    module.tiny_net().save(path)
    return path


def test_a_users_keras_file_is_profiled_and_analysed(tmp_path, user_model, monkeypatch):
    monkeypatch.setenv("CYCLECAST_CNN_ANALYSIS", str(tmp_path / "cache"))
    spec = spec_dict(models={"tiny": str(user_model)})
    spec["parameters"][0]["values"] = ["tiny"]
    spec["parameters"][1]["values"] = [16]
    loaded = load_spec(write_spec(tmp_path / "s.yaml", spec))
    backend = kp.Backend(loaded.settings)
    out = backend.evaluate({"network": "tiny", "resolution": 16}, tmp_path)
    assert 0 < out["seconds"] < 1 and out["cycles"] > out["seconds"] * 1e8
    assert "cycles derived: CPU seconds x" in out["note"] and "spread" in out["note"]
    found = analysis.cached("tiny", 16, 1, loaded.settings["models"])
    assert {k: found["totals"][k] for k in MACS} == MACS  # the live compile, exactly
    assert found["compile_seconds"] > 0
    # the family reads the same analysis (no second compile) and derives finite features
    import pandas as pd

    family = loaded.family
    frame = family.add_derived(pd.DataFrame({"network": ["tiny"], "resolution": [16]}))
    assert all(math.isfinite(v) for v in frame[list(family.derived_names())].iloc[0])
    log = (tmp_path / "cache" / analysis.RUNS_LOG).read_text().splitlines()
    assert len(log) == 1
    # a fixed input shape elsewhere is refused at spec time
    spec["parameters"][1]["values"] = [32]
    with pytest.raises(SpecError, match=r"32 px: tiny .* takes only 16x16 images"):
        load_spec(write_spec(tmp_path / "s.yaml", spec))


def test_noisy_and_unbuildable_points_fail_with_their_reason(tmp_path, user_model):
    settings = load_spec(write_spec(tmp_path / "s.yaml", spec_dict(
        models={"tiny": str(user_model)}, max_spread=1e-9, analyse=False))
    ).settings
    backend = kp.Backend(settings)
    with pytest.raises(EvaluationFailed, match=r"timing too noisy: spread .* then .*") as err:
        backend.evaluate({"network": "tiny", "resolution": 16}, tmp_path)
    assert err.value.kind == "noisy"
    with pytest.raises(EvaluationFailed, match=r"Xception does not build at 32 px") as err:
        backend.evaluate({"network": "Xception", "resolution": 32}, tmp_path)
    assert err.value.kind == "build"
