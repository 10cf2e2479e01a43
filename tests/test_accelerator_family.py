"""The accelerator family's data and code: layers, presets, the schedule generator, the
validity check and the features, without any evaluator."""
from __future__ import annotations

import math

import pytest

from driver.errors import SpecError
from driver.families.accelerator import arch, design, features, generate, layers, schedule
from driver.families.accelerator.schedule import LEVELS, Schedule, violations

LAYERS = ("conv1", "res2_3x3_64", "res3_3x3_128_s2", "res5_1x1_2048_512", "fc1000")
ACCELS = (*arch.PRESETS.values(), arch.generated()[0], arch.generated()[-1])


def test_resnet50_has_24_distinct_layers_and_their_macs():
    assert len(layers.RESNET50) == 24
    shapes = {lay.bounds() + (lay.stride,) for lay in layers.RESNET50.values()}
    assert len(shapes) == 24
    assert [lay.kind for lay in layers.RESNET50.values()].count("fc") == 1
    # conv1: 7x7x3 -> 64 channels at 112x112 (118 M MACs); the classifier 2048 x 1000.
    assert layers.layer("conv1").macs == 7 * 7 * 3 * 64 * 112 * 112
    assert layers.layer("fc1000").macs == 2048 * 1000
    total = sum(lay.macs for lay in layers.RESNET50.values())
    assert 1e9 < total < 4.1e9  # each distinct layer once: under ResNet-50's 4.1 GMACs


def test_presets_are_hongs_table_1_and_the_grid_has_2304_designs():
    final = arch.PRESETS["simba_final"]
    assert (final.pes, final.macs, final.macs_per_pe) == (16, 1024, 64)
    assert final.capacity_words("global") == 64 * 1024
    assert arch.PRESETS["arch1"].macs_per_pe == 256
    grid = arch.generated()
    assert len(grid) == 2304 and len(set(grid)) == 2304
    assert all(not a.problems() for a in grid)
    assert arch.Accelerator(16, 1000, 3, 32, 8, 64).problems()[0].startswith("macs (1000)")


def _product(sch: Schedule, d: int) -> int:
    return math.prod(row[d] for row in sch.factors)


@pytest.mark.parametrize("kind", generate.KINDS)
@pytest.mark.parametrize("name", LAYERS)
def test_generated_factors_multiply_to_the_bounds(kind, name):
    layer = layers.layer(name)
    for accel in ACCELS:
        for i in range(8):
            sch, broken = generate.generate(accel, layer, kind, i)
            assert tuple(_product(sch, d) for d in range(7)) == layer.bounds()
            assert all(sorted(order) == sorted(layers.DIMS) for order in sch.permutations)
            assert broken == violations(accel, layer, sch)


@pytest.mark.parametrize("name", LAYERS)
def test_valid_schedules_fit_and_invalid_break_exactly_their_constraint(name):
    layer = layers.layer(name)
    labels = set()
    for accel in ACCELS:
        for i in range(10):
            sch, broken = generate.generate(accel, layer, "valid", i)
            assert broken == [] and violations(accel, layer, sch) == []
            for level in schedule.BUFFERS:
                assert schedule.words_held(sch, layer, level) <= accel.capacity_words(level)
            assert sch.spatial("macs") <= accel.macs_per_pe and sch.spatial("pes") <= accel.pes
            bad, broken = generate.generate(accel, layer, "invalid", i)
            assert len(broken) == 1  # one constraint, and the checker finds just that one
            kind, level = broken[0].split(":")
            if kind == "capacity":
                assert schedule.words_held(bad, layer, level) > accel.capacity_words(level)
            else:
                assert bad.spatial(level) > generate_fanout(accel, level)
            labels.add(kind)
    assert labels == {"capacity", "spatial"}


def generate_fanout(accel, level):
    return accel.macs_per_pe if level == "macs" else accel.pes


def test_the_fast_fit_check_agrees_with_the_reference_check():
    for accel in ACCELS:
        limits = generate._limits(accel)
        for name in LAYERS:
            layer = layers.layer(name)
            for i in range(20):
                sch, broken = generate.generate(accel, layer, "any", i)
                rows = [list(r) for r in sch.factors]
                assert generate._fits(limits, layer.stride, rows) == (broken == [])


def test_generation_is_deterministic_and_ids_differ():
    accel, layer = arch.PRESETS["arch0"], layers.layer("res3_3x3_128")
    first = [generate.generate(accel, layer, "valid", i)[0] for i in range(20)]
    again = [generate.generate(accel, layer, "valid", i)[0] for i in range(20)]
    assert first == again and len(set(first)) == 20
    other_seed = generate.generate(accel, layer, "valid", 0, seed=1)[0]
    assert other_seed != first[0]
    with pytest.raises(ValueError, match="allowed: valid, invalid, any"):
        generate.generate(accel, layer, "good", 0)


def _timeloop_valid_mapping() -> Schedule:
    """The recorded valid Timeloop mapping of res2a_branch2b (shared/timeloop/recorded/
    inputs/mapping_valid.yaml) in this family's levels; its M4 across weight buffers goes
    to the MAC fan-out (this family has no such level)."""
    text = {"factors": {"macs": "R1 S1 P1 Q1 C4 K4 N1", "accum": "R1 S1 P7 Q4 C1 K1 N1",
                        "weight": "R3 S3 P1 Q1 C1 K1 N1", "input": "R1 S1 P1 Q1 C4 K1 N1",
                        "pes": "R1 S1 P1 Q1 C4 K4 N1", "global": "R1 S1 P8 Q1 C1 K4 N1",
                        "dram": "R1 S1 P1 Q14 C1 K1 N1"},
            "permutations": {lv: "NCKRSPQ" for lv in schedule.TEMPORAL}}
    return schedule.check_text(text, layers.layer("res2_3x3_64"), "mapping.yaml")


def test_tiles_match_timeloop_on_its_recorded_mapping():
    sch, layer = _timeloop_valid_mapping(), layers.layer("res2_3x3_64")
    # Timeloop's GlobalBuffer tile for this mapping: Inputs 64x58x6 + Outputs 64x56x4.
    tile = sch.tile("global")
    assert schedule.footprint("I", tile, 1) == 22272
    assert schedule.footprint("O", tile, 1) == 14336
    assert schedule.words_held(sch, layer, "global") == 36608
    assert violations(arch.PRESETS["simba_final"], layer, sch) == []
    # The DRAM Q14 loop moved into the global buffer: Timeloop's 416,000-word tile.
    rows = [list(r) for r in sch.factors]
    rows[LEVELS.index("dram")][3], rows[LEVELS.index("global")][3] = 1, 14
    overflow = Schedule(tuple(map(tuple, rows)), sch.permutations)
    assert schedule.words_held(overflow, layer, "global") == 416000
    small = arch.Accelerator(16, 1024, 3, 32, 8, 64)
    assert violations(small, layer, overflow) == ["capacity:global"]


def test_mapping_text_round_trips_and_bad_mappings_are_one_line():
    sch, layer = _timeloop_valid_mapping(), layers.layer("res2_3x3_64")
    assert schedule.check_text(sch.to_text(), layer, "m.yaml") == sch
    text = sch.to_text()
    text["factors"]["dram"] = "R1 S1 P1 Q7 C1 K1 N1"
    with pytest.raises(SpecError, match=r"^m.yaml: factors of Q do not multiply"):
        schedule.check_text(text, layer, "m.yaml")
    text = sch.to_text()
    text["permutations"]["global"] = "NCKRSP"
    with pytest.raises(SpecError, match=r"^m.yaml: permutations.global: a permutation"):
        schedule.check_text(text, layer, "m.yaml")


def test_design_of_a_point_uses_preset_fields_and_settings():
    settings = {"layer": "res2_3x3_64", "schedule_kind": "valid", "schedule_seed": 0,
                "accelerator": arch.PRESETS["arch0"].as_dict()}
    accel, layer, _, broken = design({"preset": "arch1", "layer": "fc1000", "schedule": 3},
                                     settings)
    assert accel == arch.PRESETS["arch1"] and layer.name == "fc1000" and broken == []
    accel, layer, _, _ = design({"pes": 4, "schedule": 1}, settings)
    assert accel.pes == 4 and accel.macs == arch.PRESETS["arch0"].macs
    assert layer.name == "res2_3x3_64"
    _, _, _, broken = design({"schedule": 1, "schedule_kind": "invalid"}, settings)
    assert len(broken) == 1


def test_features_are_finite_and_the_estimate_bounds_compute():
    names = features.SCHEDULE_FEATURES + features.COSA
    assert len(set(names)) == len(names) == 92 + 39
    for accel in ACCELS[:3]:
        for name in LAYERS:
            layer = layers.layer(name)
            sch, _ = generate.generate(accel, layer, "valid", 5)
            f = features.features(accel, layer, sch)
            assert list(f) == list(names) or set(f) == set(names)
            assert all(math.isfinite(v) for v in f.values())
            used = sch.spatial("macs") * sch.spatial("pes")
            assert 2 ** f["compute_cycles"] == pytest.approx(layer.macs / used)
            assert f["est_cycles"] >= f["compute_cycles"] - 1e-9
            assert f["mac_share"] == pytest.approx(used / accel.macs)
            assert f["pe_share"] <= 1 and f["pe_mac_share"] <= 1  # valid: fits the fan-outs
            assert 0 < f["util_global_I"] + f["util_global_O"] <= 1


def _at_dram_except(layer, at):
    rest = dict(zip(layers.DIMS, layer.bounds(), strict=True))
    rows = []
    for level in LEVELS:
        row = at.get(level, {})
        rows.append(tuple(row.get(d, 1) for d in layers.DIMS))
        for d, f in row.items():
            rest[d] //= f
    rows[LEVELS.index("dram")] = tuple(rest[d] for d in layers.DIMS)
    return Schedule(tuple(rows), tuple("CKRSPQN" for _ in schedule.TEMPORAL))


@pytest.mark.parametrize(("at", "cycles", "bound"), [
    # fc1000 on simba_final, every loop at DRAM, C innermost: K4 across a PE's MACs needs 4
    # weights + 1 input per cycle (under DRAM's 8): compute-bound, MACs / 4.
    ({"macs": {"K": 4}}, 2048 * 1000 / 4, "compute"),
    # K8: 8 weights + 1 input per cycle: DRAM-bound, (2,048,000 + 256,000) / 8 (Timeloop
    # v3.0.3 gives 288,000 for both; tests/test_zigzag_backend.py).
    ({"macs": {"K": 8}}, (2048 * 1000 + 2048 * 1000 / 8) / 8, "dram"),
    ({"macs": {"K": 8}, "pes": {"C": 16}}, (2048 * 1000 + 2048 * 1000 / 8) / 8, "dram"),
])
def test_the_throughput_estimate_on_hand_checkable_schedules(at, cycles, bound):
    fc, simba = layers.layer("fc1000"), arch.PRESETS["simba_final"]
    sch = _at_dram_except(fc, at)
    assert violations(simba, fc, sch) == []
    f = features.features(simba, fc, sch)
    assert 2 ** f["est_cycles"] == pytest.approx(cycles, rel=1e-9)
    dram = 2 ** f["bw_cycles_dram"] - 1
    assert (dram == pytest.approx(cycles, rel=1e-9)) == (bound == "dram")
