"""The zigzag backend: ZigZag's cost model on one explicit schedule, in-process.

Hand-checkable cases use fc1000 (C2048 K1000) on simba_final with every loop at DRAM,
C innermost (the outputs stay in the accumulation buffer), and a few MACs unrolled over K:
per cycle the MACs need one input word (broadcast) and one weight word each from DRAM,
which moves 8 words per cycle. Timeloop v3.0.3 gives the same cycles (512000, 288000).
"""
from __future__ import annotations

import math

import pytest

from driver.errors import EvaluationFailed
from driver.families.accelerator import arch
from driver.families.accelerator.backends import zigzag as zb
from driver.families.accelerator.generate import generate
from driver.families.accelerator.layers import DIMS, RESNET50
from driver.families.accelerator.schedule import LEVELS, TEMPORAL, Schedule, violations

pytestmark = pytest.mark.skipif(zb.Backend.unavailable_reason({}) is not None,
                                reason=str(zb.Backend.unavailable_reason({})))

SIMBA = arch.PRESETS["simba_final"]  # 16 PEs x 64 MACs
FC = RESNET50["fc1000"]


def schedule(layer, at: dict[str, dict[str, int]], orders: dict[str, str] | None = None):
    """A schedule with the factors ``at`` (level -> dim -> factor), the rest at DRAM;
    loop orders ``orders`` (level -> innermost-first), else C innermost."""
    rest = dict(zip(DIMS, layer.bounds(), strict=True))
    rows = []
    for level in LEVELS:
        row = at.get(level, {})
        rows.append(tuple(row.get(d, 1) for d in DIMS))
        for d, f in row.items():
            rest[d] //= f
    rows[LEVELS.index("dram")] = tuple(rest[d] for d in DIMS)
    orders = orders or {}
    return Schedule(tuple(rows), tuple(orders.get(lv, "CKRSPQN") for lv in TEMPORAL))


def settings_for(s: Schedule, layer=FC, preset="simba_final") -> dict:
    return {"preset": preset, "layer": layer.name, "schedule_kind": "valid",
            "schedule_seed": 0, "mapping": "inline.yaml", "mapping_schedule": s.to_text()}


def test_compute_bound_is_the_macs_over_the_macs_used():
    s = schedule(FC, {"macs": {"K": 4}})  # 4 weights + 1 input per cycle: under 8
    assert violations(SIMBA, FC, s) == []
    out = zb.score(SIMBA, FC, s)
    assert out["cycles"] == pytest.approx(FC.macs / 4, rel=1e-5)
    assert out["utilization"] == pytest.approx(4 / SIMBA.macs, rel=1e-5)
    # golden values (the cycles' excess is ZigZag's start-up load and final drain)
    assert out["cycles"] == pytest.approx(512001.125, rel=1e-9)
    assert out["energy_uj"] == pytest.approx(175.27074913506763, rel=1e-6)


@pytest.mark.parametrize("spatial", [{"macs": {"K": 8}},
                                     {"macs": {"K": 8}, "pes": {"C": 16}}])
def test_dram_bound_is_the_dram_reads_over_its_bandwidth(spatial):
    s = schedule(FC, spatial)
    k_used = spatial["macs"]["K"]
    weights = FC.C * FC.K  # each read once
    inputs = FC.C * (FC.K // k_used)  # the input vector once per K step
    cycles = (weights + inputs) / arch.DRAM_WORDS_PER_CYCLE
    assert cycles > FC.macs / math.prod(spatial[lv][d] for lv in spatial for d in spatial[lv])
    assert zb.score(SIMBA, FC, s)["cycles"] == pytest.approx(cycles, rel=1e-5)


def test_a_generated_schedule_golden():
    layer = RESNET50["res2_3x3_64"]
    s, broken = generate(SIMBA, layer, "valid", 3)
    assert broken == []
    out = zb.score(SIMBA, layer, s)
    # Timeloop v3.0.3 on the same schedule: 1204224 cycles (compute-bound), 0.09375
    assert out["cycles"] == pytest.approx(1210564.578125, rel=1e-9)
    assert out["energy_uj"] == pytest.approx(269.83712746216924, rel=1e-6)
    assert out["utilization"] == pytest.approx(0.09325896531258214, rel=1e-6)


def test_loops_go_to_the_memory_holding_them():
    s = schedule(FC, {"accum": {"C": 2}, "weight": {"K": 5}, "input": {"C": 4},
                      "global": {"K": 2}})
    loops = zb.temporal_loops(s)
    assert loops["W"] == [[("C", 2), ("K", 5)], [("C", 4), ("K", 2), ("C", 256), ("K", 100)]]
    assert loops["I"] == [[("C", 2), ("K", 5), ("C", 4)], [("K", 2)], [("C", 256), ("K", 100)]]
    assert loops["O"] == [[("C", 2)], [("K", 5), ("C", 4), ("K", 2)], [("C", 256), ("K", 100)]]


def test_input_tiles_as_timeloop_counts_them():
    layer = RESNET50["res3_proj_256_512_s2"]  # 1x1, stride 2
    s = schedule(layer, {"macs": {"P": 7}, "accum": {"P": 2}, "pes": {"P": 2, "K": 8}})
    # 7 MACs' windows at different offsets; 2 PEs' windows too, the K8 ones multicast
    assert zb.input_fanout(layer, s) == [7.0, 2.0]
    layer = RESNET50["res4_3x3_256_s2"]  # 3x3, stride 2
    s = schedule(layer, {"weight": {"Q": 14}, "global": {"S": 3}},
                 {"global": "SCKRPQN"})
    # the PE's window: 27 rows; S moves it one row: 27 + 1 + 1 of 3 x 27 rows fetched
    assert zb.input_window_refetch(layer, s)[0] == pytest.approx(29 / 81)
    s = schedule(layer, {"weight": {"Q": 14}, "global": {"S": 3, "K": 4}},
                 {"global": "KSCRPQN"})
    assert zb.input_window_refetch(layer, s)[0] == 1.0  # K innermost: no sweep


def test_invalid_is_valid_0_without_zigzag(monkeypatch):
    def boom(*args):
        raise AssertionError("ZigZag called for an invalid schedule")

    monkeypatch.setattr(zb, "evaluation", boom)
    settings = {"preset": "simba_final", "layer": "res2_3x3_64", "schedule_kind": "invalid",
                "schedule_seed": 0}
    out = zb.Backend(settings).evaluate({"schedule": 1}, None)
    assert out["valid"] == 0.0 and out["note"].startswith("invalid: ")
    assert all(math.isnan(out[k]) for k in ("cycles", "energy_uj", "utilization"))


def test_evaluate_is_deterministic():
    s, _ = generate(SIMBA, RESNET50["res3_3x3_128"], "valid", 5)
    backend = zb.Backend(settings_for(s, RESNET50["res3_3x3_128"]))
    first = backend.evaluate({}, None)
    assert first["valid"] == 1.0
    zb._core.cache_clear()
    zb._layer_node.cache_clear()
    zb._spatial.cache_clear()
    assert backend.evaluate({}, None) == first
    assert backend.evaluate({}, None) == first


def test_a_zigzag_failure_is_an_evaluation_failure(monkeypatch):
    def broken(*args):
        raise ZeroDivisionError("division by zero")

    monkeypatch.setattr(zb, "evaluation", broken)
    backend = zb.Backend(settings_for(schedule(FC, {"macs": {"K": 4}})))
    with pytest.raises(EvaluationFailed, match="ZigZag: ZeroDivisionError"):
        backend.evaluate({}, None)


def test_unavailable_names_what_is_missing(monkeypatch):
    import importlib.util

    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name: None if name == "six" else object())
    assert "six" in zb.Backend.unavailable_reason({})
