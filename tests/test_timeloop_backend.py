"""timeloop backend: parsing on recorded real Timeloop v3.0.3 outputs, rendered inputs,
finding the binary, process handling with stand-in executables, and live runs of the real
``timeloop-model`` where it is installed (``$TIMELOOP`` or PATH; skipped, with the reason,
elsewhere)."""
from __future__ import annotations

import math
import os
import stat
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import yaml

from conftest import ROOT
from driver.errors import EvaluationFailed
from driver.families import backend_class, family_class
from driver.families.accelerator import SETTINGS_SCHEMA
from driver.families.accelerator.arch import PRESETS, Accelerator
from driver.families.accelerator.backends import timeloop
from driver.families.accelerator.generate import generate
from driver.families.accelerator.layers import DIMS, layer
from driver.families.accelerator.schedule import LEVELS, Schedule, check_text, violations

FIXTURES = ROOT / "tests" / "fixtures" / "timeloop"
HYPHENATED = ("data-spaces", "cluster-size", "read-write", "multiple-buffering",
              "min-utilization", "num-ports")
FAST_LAYERS = ("fc1000", "res5_1x1_2048_512", "res5_proj_1024_2048_s2")  # < 1 s each


def text(*parts: str) -> str:
    return FIXTURES.joinpath(*parts).read_text()


def fixture_design(name: str):
    design = yaml.safe_load(text(name, "design.yaml"))
    lay = layer(design["layer"])
    return PRESETS[design["preset"]], lay, check_text(design["schedule"], lay, name)


def schedule_of(rows: dict[str, list[int]], order: str = "RSPQCKN") -> Schedule:
    """A schedule from per-level factor rows (DIMS order; absent levels all 1)."""
    return Schedule(tuple(tuple(rows.get(lv, [1] * len(DIMS))) for lv in LEVELS), (order,) * 5)


# ------------------------------------------------------------------ parse_stats

def test_parse_recorded_stats_without_ert():
    got = timeloop.parse_stats(text("run_valid_noERT", "timeloop-model.stats.txt"))
    assert got["cycles"] == 451584
    assert got["energy_uj"] == pytest.approx(645.41)
    assert got["utilization"] == pytest.approx(1.00)


def test_parse_recorded_stats_with_ert_same_cycles():
    got = timeloop.parse_stats(text("run_valid_withERT", "timeloop-model.stats.txt"))
    assert got["cycles"] == 451584 and got["energy_uj"] == pytest.approx(1545.46)


def test_utilization_is_exact_not_the_rounded_summary():
    stats = text("rendered_valid", "timeloop-model.stats.txt")
    assert "Utilization: 0.02" in stats  # the summary's two decimals
    got = timeloop.parse_stats(stats)
    # 51380224 computes on 1024 MACs in 3211264 cycles: 16 of 1024 MACs busy.
    assert got["utilization"] == 16 / 1024
    assert got["cycles"] == 3211264 and got["energy_uj"] == pytest.approx(869.51)


@pytest.mark.parametrize("bad", ["", "garbage \x00\x01 not simulator output\n",
                                 "Summary Stats\n-------------\nCycles: 12\n"])
def test_unusable_stats_are_garbage(bad):
    with pytest.raises(EvaluationFailed) as err:
        timeloop.parse_stats(bad)
    assert err.value.kind == "garbage"


def test_truncated_stats_are_garbage():
    stats = text("run_valid_noERT", "timeloop-model.stats.txt")
    with pytest.raises(EvaluationFailed):
        timeloop.parse_stats(stats[:stats.index("Energy: 645")])


# ------------------------------------------------------------------ parse_error

@pytest.mark.parametrize("name, label", [
    ("run_overflow_globalbuffer", "capacity:global"),
    ("rendered_capacity_accum", "capacity:accum"),
    ("rendered_spatial_macs", "spatial:macs"),    # MAC mesh Y: a PE's MACs
    ("rendered_spatial_pes", "spatial:pes"),      # MAC mesh X: the PEs
    # "Arithmetic instances" (X times Y) does not say which axis; run() refines it.
    ("run_overflow_spatial_pe", "spatial:macs"),
    ("rendered_spatial_pes_instances", "spatial:macs"),
    ("run_underscore_keys", None),                     # an input error, not a verdict
    ("crosscheck_exercises_ref_mapping_as_is", None),  # an assertion (exit 134)
])
def test_parse_recorded_errors(name, label):
    assert timeloop.parse_error(text(name, "stderr.txt")) == label


def test_error_line_is_timeloops_error():
    line = timeloop.error_line(text("run_overflow_globalbuffer", "stderr.txt"))
    assert line == ("ERROR: couldn't map level GlobalBuffer: mapped tile size 416000 exceeds "
                    "buffer capacity 65536")
    assert "Assertion" in timeloop.error_line(text("crosscheck_exercises_ref_mapping_as_is",
                                                   "stderr.txt"))


@pytest.mark.parametrize("name, want", [("rendered_capacity_accum", ["capacity:accum"]),
                                        ("rendered_spatial_macs", ["spatial:macs"]),
                                        ("rendered_spatial_pes", ["spatial:pes"]),
                                        ("rendered_spatial_pes_instances", ["spatial:pes"]),
                                        ("rendered_valid", [])])
def test_recorded_designs_are_what_the_family_says(name, want):
    assert violations(*fixture_design(name)) == want


# ------------------------------------------------------------------ rendering

def rendered(accel: Accelerator, name: str = "res2_3x3_64", kind: str = "valid", i: int = 0):
    lay = layer(name)
    schedule, _ = generate(accel, lay, kind, i, 0)
    files = timeloop.render(accel, lay, schedule)
    return lay, schedule, {k: yaml.safe_load(v) for k, v in files.items()}, files


def arch_levels(arch: dict) -> dict[str, dict]:
    local = arch["architecture"]["subtree"][0]["local"]
    return {node["name"].split("[")[0]: node for node in local}


def test_render_gives_three_yaml_files_with_hyphenated_keys():
    _, _, loaded, files = rendered(PRESETS["simba_final"])
    assert set(files) == set(timeloop.FILES)
    joined = "".join(files.values())
    for key in HYPHENATED:
        assert key in joined and key.replace("-", "_") not in joined
    assert "constraints" not in joined  # explicit mappings only (FACTS.md)
    assert set(loaded["arch.yaml"]) == {"architecture"}
    assert set(loaded["mapping.yaml"]) == {"mapping"}


@pytest.mark.parametrize("accel", [*PRESETS.values(), Accelerator(4, 4096, 1.5, 8, 2, 16),
                                   Accelerator(64, 256, 1.5, 20, 5, 40.5)],
                         ids=[*PRESETS, "mpp1024_odd", "mpp4"])
def test_rendered_architecture_is_the_family_model(accel):
    _, _, loaded, _ = rendered(accel, "fc1000")
    nodes = arch_levels(loaded["arch.yaml"])
    assert list(nodes) == [*timeloop.LEVEL_NAMES.values(), "mac"]  # outer to inner
    for level, name in timeloop.LEVEL_NAMES.items():
        a = nodes[name]["attributes"]
        assert a["datawidth"] == 8
        assert a["read_bandwidth"] == a["write_bandwidth"] == accel.words_per_cycle(level)
        assert nodes[name]["name"] == f"{name}[1..{accel.instances(level)}]"
        assert (a["meshX"], a["meshY"]) == (accel.instances(level), 1)
        if level == "dram":
            assert "depth" not in a  # unbounded
        else:
            assert a["depth"] * a["width"] // 8 == accel.capacity_words(level)
    mac = nodes["mac"]
    assert mac["name"] == f"mac[1..{accel.macs}]"
    assert (mac["attributes"]["meshX"], mac["attributes"]["meshY"]) == (accel.pes,
                                                                        accel.macs_per_pe)


def test_rendered_problem_is_the_layer():
    for name in ("res3_3x3_128_s2", "conv1", "fc1000"):
        lay, _, loaded, _ = rendered(PRESETS["arch0"], name)
        inst = loaded["problem.yaml"]["problem"]["instance"]
        assert {d: inst[d] for d in "RSPQCN"} == {d: getattr(lay, d) for d in "RSPQCN"}
        assert inst["M"] == lay.K and inst["Wstride"] == inst["Hstride"] == lay.stride
        spaces = loaded["problem.yaml"]["problem"]["shape"]["data-spaces"]
        inputs = next(s for s in spaces if s["name"] == "Inputs")["projection"]
        assert [["R", "Wdilation"], ["P", "Wstride"]] in inputs  # R slides along P


def test_rendered_mapping_is_the_schedule():
    accel = PRESETS["simba_large"]
    _, schedule, loaded, _ = rendered(accel, "res2_3x3_64", "any", 3)
    found = {(d["target"], d["type"]): d for d in loaded["mapping.yaml"]["mapping"]}
    tl = {d: ("M" if d == "K" else d) for d in DIMS}
    expect = {"macs": ("PEAccuBuffer", "spatial"), "pes": ("GlobalBuffer", "spatial"),
              **{lv: (timeloop.LEVEL_NAMES[lv], "temporal")
                 for lv in ("accum", "weight", "input", "global", "dram")}}
    for level, key in expect.items():
        d = found[key]
        factors = dict(f.split("=") for f in d["factors"].split())
        assert {k: int(v) for k, v in factors.items()} == {
            tl[k]: v for k, v in schedule.at(level).items()}, level
        if key[1] == "temporal":  # innermost first on both sides
            assert d["permutation"] == "".join(tl[c] for c in schedule.order(level))
    assert found[("GlobalBuffer", "spatial")]["split"] == 7  # every PE loop on mesh X
    assert found[("PEAccuBuffer", "spatial")]["split"] == 0  # every MAC loop on mesh Y
    keeps = {d["target"]: set(d["keep"]) for d in loaded["mapping.yaml"]["mapping"]
             if d["type"] == "datatype"}
    assert keeps == {"DRAM": {"Weights", "Inputs", "Outputs"},
                     "GlobalBuffer": {"Inputs", "Outputs"}, "PEInputBuffer": {"Inputs"},
                     "PEWeightBuffer": {"Weights"}, "PEAccuBuffer": {"Outputs"}}


@pytest.mark.parametrize("name", ["rendered_valid", "rendered_capacity_accum",
                                  "rendered_spatial_macs", "rendered_spatial_pes"])
def test_recorded_inputs_are_what_render_gives_now(name):
    """The fixtures' outputs were produced from these inputs: they must still be ours."""
    files = timeloop.render(*fixture_design(name))
    for file, body in files.items():
        assert yaml.safe_load(body) == yaml.safe_load(text(name, file)), file


def test_fan_out_of_one_has_no_spatial_directive():
    accel = Accelerator(1, 64, 1, 1, 1, 1)  # one PE: the global buffer does not fan out
    lay = layer("fc1000")
    schedule = schedule_of({"macs": [1, 1, 1, 1, 8, 8, 1], "dram": [1, 1, 1, 1, 256, 125, 1]})
    mapping = yaml.safe_load(timeloop.render(accel, lay, schedule)["mapping.yaml"])["mapping"]
    assert not any(d["target"] == "GlobalBuffer" and d["type"] == "spatial" for d in mapping)


# ------------------------------------------------------------------ finding the binary

def stand_in(path: Path, body: str) -> Path:
    """An executable shell script standing in for timeloop-model."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def settings(**extra) -> dict:
    out = {k: v["default"] for k, v in SETTINGS_SCHEMA.items() if "default" in v}
    return {**out, "timeloop": "timeloop-model", **extra}


def spec_with(tmp_path: Path, **extra) -> dict:
    return {"parameters": [{"name": "schedule", "values": [0, 1]}],
            "backend": {"name": "timeloop", "settings": settings(**extra)}}


def test_binary_missing_leaves_the_spec_loadable_and_says_so_in_one_line(tmp_path,
                                                                         monkeypatch):
    monkeypatch.delenv("TIMELOOP", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    spec = spec_with(tmp_path)
    timeloop.Backend.complete_settings(spec["backend"]["settings"], "study.yaml", tmp_path)  # models and answers need no binary
    message = timeloop.Backend.unavailable_reason(spec["backend"]["settings"])
    assert message and "\n" not in message
    for needle in ("timeloop-model not found", "$TIMELOOP", "PATH"):
        assert needle in message


def test_run_without_timeloop_is_refused_in_one_line(tmp_path):
    import os
    import subprocess

    from conftest import PYTHON, ROOT, SHIPPED_SPECS

    path = next(p for p in SHIPPED_SPECS if p.name == "accelerators_timeloop.yaml")
    env = {**os.environ, "TIMELOOP": "", "PATH": "/usr/bin:/bin"}
    proc = subprocess.run([PYTHON, "-m", "driver.study", "run", str(path), "-o",
                           str(tmp_path / "run")], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.count("\n") == 1 and "timeloop-model not found" in proc.stderr
    assert not (tmp_path / "run" / "evaluations.jsonl").exists()


def test_binary_from_timeloop_env_folder_file_and_path(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    binary = stand_in(tmp_path / "install" / "bin" / "timeloop-model", "exit 0\n")
    monkeypatch.setenv("TIMELOOP", str(tmp_path / "install"))
    assert timeloop.find_binary(settings()) == (str(binary), "$TIMELOOP")
    monkeypatch.setenv("TIMELOOP", str(binary))
    assert timeloop.find_binary(settings())[0] == str(binary)
    monkeypatch.delenv("TIMELOOP")
    monkeypatch.setenv("PATH", str(binary.parent))
    assert timeloop.find_binary(settings()) == (str(binary), "PATH")
    spec = spec_with(tmp_path)
    timeloop.Backend.complete_settings(spec["backend"]["settings"], "s.yaml", tmp_path)
    assert spec["backend"]["settings"]["timeloop"] == str(binary)
    assert timeloop.Backend.unavailable_reason(spec["backend"]["settings"]) is None


def test_binary_as_path_relative_to_the_spec(tmp_path, monkeypatch):
    monkeypatch.delenv("TIMELOOP", raising=False)
    binary = stand_in(tmp_path / "tools" / "tl", "exit 0\n")
    spec = spec_with(tmp_path, timeloop="tools/tl")
    timeloop.Backend.complete_settings(spec["backend"]["settings"], "s.yaml", tmp_path)
    assert spec["backend"]["settings"]["timeloop"] == str(binary)
    missing = spec_with(tmp_path, timeloop="./nope")
    timeloop.Backend.complete_settings(missing["backend"]["settings"], "s.yaml", tmp_path)
    assert "nope" in timeloop.Backend.unavailable_reason(missing["backend"]["settings"])


def test_backend_declares_the_contract():
    cls = backend_class("timeloop")
    assert cls is timeloop.Backend and cls.family == "accelerator" and not cls.in_process
    assert cls.response_names == ("cycles", "energy_uj", "utilization", "valid")
    assert cls.objectives == ("cycles", "energy_uj") and cls.response_kinds == {"valid": "binary"}
    props = family_class(cls.family).settings_schema(cls)["properties"]
    assert set(props) == set(SETTINGS_SCHEMA) | {"timeloop"}
    assert props["timeloop"]["default"] == "timeloop-model"


# ------------------------------------------------------------------ process handling

def small_design():
    accel, lay = PRESETS["simba_final"], layer("fc1000")
    return accel, lay, generate(accel, lay, "valid", 0, 0)[0]


@pytest.mark.parametrize("body, kind, needle", [
    ("echo 'timeloop-model: x.cpp:1: f: Assertion failed.' >&2; kill -ABRT $$\n",
     "crash", "Assertion"),
    ("echo 'ERROR: key not found: data-spaces, at line: 0' >&2; exit 1\n", "error",
     "key not found"),
    ("exit 0\n", "garbage", "wrote no timeloop-model.stats.txt"),
    ("echo 'garbage' > timeloop-model.stats.txt; exit 0\n", "garbage", "Summary Stats"),
])
def test_failures_that_are_not_verdicts_raise(tmp_path, body, kind, needle):
    binary = stand_in(tmp_path / "bin" / "tl", body)
    work = tmp_path / "work"
    work.mkdir()
    with pytest.raises(EvaluationFailed) as err:
        timeloop.run(str(binary), *small_design(), work, 10)
    assert err.value.kind == kind and needle in err.value.reason
    assert "\n" not in err.value.reason


def test_timeout_raises(tmp_path):
    binary = stand_in(tmp_path / "bin" / "tl", "sleep 30\n")
    with pytest.raises(EvaluationFailed) as err:
        timeloop.run(str(binary), *small_design(), tmp_path, 0.5)
    assert err.value.kind == "timeout"


def test_run_passes_the_three_files_as_arguments(tmp_path):
    stats = FIXTURES / "run_valid_noERT" / "timeloop-model.stats.txt"
    binary = stand_in(tmp_path / "bin" / "tl",
                      f'echo "$@" > args.txt; cp {stats} timeloop-model.stats.txt\n')
    work = tmp_path / "work"
    work.mkdir()
    out = timeloop.run(str(binary), *small_design(), work, 10)
    assert (work / "args.txt").read_text().split() == list(timeloop.FILES)
    assert out == {"cycles": 451584.0, "energy_uj": 645.41, "utilization": 1.0, "valid": 1.0,
                   "note": ""}
    for name in timeloop.FILES:
        yaml.safe_load((work / name).read_text())


def test_spatial_factors_on_a_fan_out_of_one_are_invalid_without_running(tmp_path):
    accel = Accelerator(1, 64, 1, 1, 1, 1)
    lay = layer("fc1000")
    schedule = schedule_of({"pes": [1, 1, 1, 1, 2, 1, 1], "dram": [1, 1, 1, 1, 1024, 1000, 1]})
    out = timeloop.run("/nonexistent/timeloop-model", accel, lay, schedule, tmp_path, 10)
    assert out["valid"] == 0.0 and out["note"].startswith("spatial:pes")
    assert math.isnan(out["cycles"]) and violations(accel, lay, schedule) == ["spatial:pes"]


# ------------------------------------------------------------------ live: real Timeloop

def live_binary() -> str:
    found, _ = timeloop.find_binary(settings())
    if found is None:
        pytest.skip(f"timeloop cannot run here: {timeloop.missing_reason(settings())}")
    return found


def live_run(binary, accel, lay, schedule, tmp_path: Path, tag: str):
    work = tmp_path / tag
    work.mkdir()
    return timeloop.run(binary, accel, lay, schedule, work, 60)


def label(out: dict) -> str | None:
    return None if out["valid"] else ":".join(out["note"].split(":", 2)[:2])


@pytest.mark.parametrize("preset, name", [("simba_final", "fc1000"),
                                          ("arch1", "res5_1x1_2048_512")])
def test_live_valid_schedule(tmp_path, preset, name):
    binary = live_binary()
    accel, lay = PRESETS[preset], layer(name)
    schedule, broken = generate(accel, lay, "valid", 1, 0)
    out = live_run(binary, accel, lay, schedule, tmp_path, "v")
    assert broken == [] and out["valid"] == 1.0 and out["note"] == ""
    used = schedule.spatial("macs") * schedule.spatial("pes")
    assert math.isfinite(out["cycles"]) and out["cycles"] >= lay.macs / used
    assert out["energy_uj"] > 0 and 0 < out["utilization"] <= used / accel.macs + 1e-12


@pytest.mark.parametrize("i", range(3))
def test_live_invalid_schedule_names_its_level(tmp_path, i):
    binary = live_binary()
    accel, lay = PRESETS["simba_final"], layer("res5_1x1_2048_512")
    schedule, broken = generate(accel, lay, "invalid", i, 0)
    out = live_run(binary, accel, lay, schedule, tmp_path, "i")
    assert len(broken) == 1 and out["valid"] == 0.0 and label(out) == broken[0]
    assert "ERROR: couldn't map level" in out["note"]
    assert all(math.isnan(out[k]) for k in ("cycles", "energy_uj", "utilization"))


def test_live_agrees_with_the_family_on_generated_schedules(tmp_path):
    binary = live_binary()
    jobs = [(p, n, k, i) for p in ("simba_final", "arch1") for n in FAST_LAYERS
            for k, i in (("valid", 0), ("invalid", 0), ("invalid", 1), ("any", 0), ("any", 1))]

    def one(job):
        p, n, k, i = job
        accel, lay = PRESETS[p], layer(n)
        schedule, broken = generate(accel, lay, k, i, 0)
        return job, broken, live_run(binary, accel, lay, schedule, tmp_path, "-".join(map(str, job)))

    with ThreadPoolExecutor(max(2, min(8, os.cpu_count() or 1))) as pool:
        results = list(pool.map(one, jobs))
    assert len(results) == 30
    for job, broken, out in results:
        assert (out["valid"] == 1.0) == (not broken), (job, broken, out["note"])
        if broken:
            assert label(out) in broken, (job, broken, out["note"])


def test_live_spatial_fan_outs_are_checked_per_axis(tmp_path):
    """Up to each fan-out is accepted, one factor of 2 above is refused, and using half
    the PEs does not lend their MACs to the others (a 1-D mesh would accept that)."""
    binary = live_binary()
    accel, lay = PRESETS["simba_final"], layer("res2_1x1_64_64")  # 16 PEs x 64 MACs
    cases = {  # DIMS order R S P Q C K N
        "full": ({"macs": [1, 1, 1, 1, 64, 1, 1], "pes": [1, 1, 1, 1, 1, 16, 1],
                  "dram": [1, 1, 56, 56, 1, 4, 1]}, None),
        "pes_over": ({"macs": [1, 1, 1, 1, 16, 1, 1], "pes": [1, 1, 1, 1, 1, 32, 1],
                      "dram": [1, 1, 56, 56, 4, 2, 1]}, "spatial:pes"),
        "pes_over_product": ({"macs": [1, 1, 1, 1, 64, 1, 1], "pes": [1, 1, 1, 1, 1, 32, 1],
                              "dram": [1, 1, 56, 56, 1, 2, 1]}, "spatial:pes"),
        "macs_over": ({"macs": [1, 1, 1, 1, 64, 2, 1], "pes": [1, 1, 1, 1, 1, 8, 1],
                       "dram": [1, 1, 56, 56, 1, 4, 1]}, "spatial:macs"),
    }
    for tag, (rows, want) in cases.items():
        schedule = schedule_of(rows)
        out = live_run(binary, accel, lay, schedule, tmp_path, tag)
        assert label(out) == want, (tag, out["note"])
        assert violations(accel, lay, schedule) == ([want] if want else []), tag


def test_live_capacities_are_exact(tmp_path):
    """A tile of exactly a buffer's words fits, twice that does not, and the capacity
    Timeloop reports is the family's (also for a size that is not whole rows)."""
    binary = live_binary()
    accel, lay = PRESETS["simba_final"], layer("res2_3x3_64")  # input buffer: 8192 words
    # 32 channels x 16 x 16 pixels (a 14 x 14 output tile of a 3 x 3 filter): 8192 words.
    fits = schedule_of({"input": [3, 3, 14, 14, 32, 1, 1], "dram": [1, 1, 4, 4, 2, 64, 1]})
    over = schedule_of({"input": [3, 3, 14, 14, 64, 1, 1], "dram": [1, 1, 4, 4, 1, 64, 1]})
    assert live_run(binary, accel, lay, fits, tmp_path, "fits")["valid"] == 1.0
    out = live_run(binary, accel, lay, over, tmp_path, "over")
    assert label(out) == "capacity:input" and out["note"].endswith("capacity 8192")
    odd = Accelerator(4, 4096, 1.5, 8, 2, 16)  # 1536-word accumulators, 1024 words/cycle
    assert odd.capacity_words("accum") % odd.words_per_cycle("accum")
    over = schedule_of({"accum": [1, 1, 1, 1, 1, 2048, 1], "dram": [1, 1, 7, 7, 512, 1, 1]})
    out = live_run(binary, odd, layer("res5_1x1_512_2048"), over, tmp_path, "odd")
    assert out["note"].endswith("capacity 1536") and label(out) == "capacity:accum"


def test_live_evaluate_through_the_backend(tmp_path, monkeypatch):
    binary = live_binary()
    backend = timeloop.Backend(settings(timeloop=binary, layer="fc1000"), timeout_s=60)
    out = backend.evaluate({"schedule": 2, "preset": "arch0"}, tmp_path)
    assert out["valid"] == 1.0 and out["cycles"] > 0 and out["note"] == ""
    backend = timeloop.Backend(settings(timeloop=binary, layer="fc1000",
                                        schedule_kind="invalid"), timeout_s=60)
    out = backend.evaluate({"schedule": 0}, tmp_path)
    assert out["valid"] == 0.0 and "family:" not in out["note"]  # both say invalid
