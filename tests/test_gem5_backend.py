"""gem5 backend, tested against the real gem5 wherever it is found (``$GEM5`` or PATH;
``config: legacy`` finds se.py through ``$GEM5_ROOT``): ``make test`` and ``.ci/run`` point
both at the team's build beside the checkout (``../shared/gem5``), so there nothing here
skips; without gem5 (a user's machine) the ``test_real_gem5_*`` tests skip with the
backend's one-line reason.

- real gem5, both configurations (``stdlib``, ``legacy``), matmul at n = 16-24 (well under a
  second each): the design point and settings arrive in gem5's own ``config.ini``, results
  follow the point, and a failing point's reason is gem5's error line;
- statistics parsing on recorded real ``stats.txt`` files (``fixtures/gem5/SOURCES.md``),
  with golden values; rendered inputs; spec handling; finding gem5 and se.py;
- process handling (a crash, a hang and its grandchild, no or unusable stats) with a
  stand-in executable: the ``test_stand_in_*`` tests, the only ones that use one.
"""
from __future__ import annotations

import ast
import configparser
import math
import stat
import sys
import time
from pathlib import Path

import pytest

from conftest import ROOT, write_spec
from driver.errors import EvaluationFailed, SpecError
from driver.families import backend_class
from driver.families.cache.backends import gem5
from driver.spec import load_spec

FIXTURES = ROOT / "tests" / "fixtures" / "gem5"
SPEC = ROOT / "dakota_inputs" / "gem5_matmul.yaml"

# Values read off the recorded files (tests/fixtures/gem5/SOURCES.md): cyclecast's own
# kernels on the team's gem5 v24.0.0.1 build (tests/fixtures/gem5/record.py), both
# configurations, and two gem5 v25.1 runs of another project's GEMM.
GOLDEN = {
    "matmul16_stdlib": {
        "cycles": 146325, "instructions": 60439, "sim_seconds": 0.000146,
        "l1i_accesses": 77419, "l1i_misses": 471,
        "l1d_accesses": 15262, "l1d_misses": 1055,
        "l2_accesses": 1977, "l2_misses": 589,
        "sim_ticks": 146325000, "clock_ticks": 1000,
    },
    "matmul16_legacy": {
        "cycles": 277634, "instructions": 60103, "sim_seconds": 0.000278,
        "l1i_accesses": 77007, "l1i_misses": 461,
        "l1d_accesses": 15174, "l1d_misses": 1188,
        "l2_accesses": 1652, "l2_misses": 682,
        "sim_ticks": 277634000, "clock_ticks": 1000,
    },
    "kmeans200_stdlib": {
        "cycles": 806163, "instructions": 540603, "sim_seconds": 0.000806,
        "l1i_accesses": 621143, "l1i_misses": 473,
        "l1d_accesses": 137518, "l1d_misses": 612,
        "l2_accesses": 2209, "l2_misses": 587,
        "sim_ticks": 806163000, "clock_ticks": 1000,
    },
    "gemm32_stdlib_timing": {
        "cycles": 1106059, "instructions": 765273, "sim_seconds": 0.001106,
        "l1i_accesses": 801432, "l1i_misses": 615,
        "l1d_accesses": 231401, "l1d_misses": 558,
        "l2_accesses": 2041, "l2_misses": 1120,
        "sim_ticks": 1106059000, "clock_ticks": 1000,
    },
    "gemm64_stdlib_timing_roi": {
        "cycles": 2144059, "instructions": 1610397, "sim_seconds": 0.002144,
        "l1i_accesses": 1614690, "l1i_misses": 2,
        "l1d_accesses": 528386, "l1d_misses": 65,
        "l2_accesses": 564, "l2_misses": 2,
        "sim_ticks": 2144059000, "clock_ticks": 1000,
    },
}


def fixture_text(name: str) -> str:
    return (FIXTURES / name / "stats.txt").read_text()


def without(text: str, *needles: str) -> str:
    return "\n".join(line for line in text.splitlines() if not any(n in line for n in needles)) + "\n"


# ------------------------------------------------------------------ parse_stats: golden

@pytest.mark.parametrize("name", sorted(GOLDEN))
def test_parse_recorded_stats(name):
    got = gem5.parse_stats(fixture_text(name))
    want = GOLDEN[name]
    assert tuple(got) == gem5.Backend.response_names
    for key in gem5.Backend.response_names:
        assert got[key] == pytest.approx(want[key], rel=1e-9), key


@pytest.mark.parametrize("name", sorted(GOLDEN))
def test_cycles_agree_with_simticks_over_clock(name):
    want = GOLDEN[name]
    got = gem5.parse_stats(fixture_text(name))
    assert got["cycles"] == pytest.approx(want["sim_ticks"] / want["clock_ticks"], rel=1e-9)
    # simTicks / 1 THz tick rate is simSeconds (printed to 6 decimals)
    assert got["sim_seconds"] == pytest.approx(want["sim_ticks"] * 1e-12, abs=5e-7)


def test_roi_dump_uses_simticks_not_finaltick():
    text = fixture_text("gemm64_stdlib_timing_roi")
    assert "finalTick                                  2465938000" in text
    assert gem5.parse_stats(text)["cycles"] == 2144059  # reset at ROI begin


def test_only_the_first_dump_counts():
    a, b = fixture_text("gemm32_stdlib_timing"), fixture_text("gemm64_stdlib_timing_roi")
    assert gem5.parse_stats(a + b) == gem5.parse_stats(a)
    assert gem5.parse_stats(b + a)["cycles"] == GOLDEN["gemm64_stdlib_timing_roi"]["cycles"]


def test_missing_counters_are_nan_not_zero():
    text = without(fixture_text("gemm32_stdlib_timing"), "l2-cache-0.demand",
                   "l2-cache-0.overall", "simInsts")
    got = gem5.parse_stats(text)
    assert math.isnan(got["l2_misses"]) and math.isnan(got["l2_accesses"])
    # instructions fall back to the committed-instruction counter
    assert got["instructions"] == 765273
    assert got["l1d_misses"] == 558 and got["cycles"] == 1106059


def test_overall_counters_when_no_demand_counters():
    text = without(fixture_text("gemm32_stdlib_timing"), ".demand")
    got = gem5.parse_stats(text)
    assert got["l1d_misses"] == 558 and got["l2_misses"] == 1120  # overallMisses::total


def test_private_l1_shared_l2_object_names():
    # The hierarchy cyclecast configures (PrivateL1SharedL2CacheHierarchy) names its caches
    # l1icaches, l1dcaches, l2cache and its crossbar l2bus: the recorded file with its
    # object names substituted must give the same counters (and the bus must not count).
    text = (fixture_text("gemm32_stdlib_timing").replace("l1d-cache-0", "l1dcaches")
            .replace("l1i-cache-0", "l1icaches").replace("l2-cache-0", "l2cache")
            .replace("l2buses", "l2bus"))
    assert "board.cache_hierarchy.l2bus.pktCount::total" in text
    assert gem5.parse_stats(text) == gem5.parse_stats(fixture_text("gemm32_stdlib_timing"))


@pytest.mark.parametrize("text, why", [
    ("", "no statistics dump"),
    ("gem5 Simulator System.  https://www.gem5.org\npanic: out of memory\n", "no statistics"),
    ("\n---------- Begin Simulation Statistics ----------\nsimTicks 5\n", "truncated"),
])
def test_garbage_is_an_evaluation_failure(text, why):
    with pytest.raises(EvaluationFailed) as err:
        gem5.parse_stats(text)
    assert err.value.kind == "garbage" and why in err.value.reason


def test_missing_cycles_is_garbage():
    text = without(fixture_text("gemm32_stdlib_timing"), ".numCycles")
    with pytest.raises(EvaluationFailed) as err:
        gem5.parse_stats(text)
    assert err.value.kind == "garbage" and "numCycles" in err.value.reason


def test_cycles_disagreeing_with_simticks_is_garbage():
    text = fixture_text("gemm32_stdlib_timing").replace(
        "numCycles          1106059 ", "numCycles          9106059 ")
    with pytest.raises(EvaluationFailed) as err:
        gem5.parse_stats(text)
    assert err.value.kind == "garbage" and "disagrees" in err.value.reason


# -------------------------------------------------------- gem5's error line, recorded

# The ends of program.err of failed runs of the gem5 v24.0.0.1 build (the real runs of
# test_real_gem5_failure_names_gem5s_error_line), the evaluation's folder shortened.
FATAL_ERR = """\
src/mem/dram_interface.cc:690: warn: DRAM device capacity (8192 Mbytes) does not match the address range assigned (1024 Mbytes)
src/mem/cache/tags/indexing_policies/base.cc:64: fatal: fatal condition !isPowerOf2(numSets) occurred: # of sets must be non-zero and a power of 2
Memory Usage: 1192856 KBytes
"""
PYTHON_ERR = """\
ValueError: Memory interleaving size can not be smaller than board's cache line size.
Board's cache line size: 128
, This memory's interleaving size: 64

At:
  src/python/gem5/components/memory/memory.py(173): incorporate_memory
  src/python/gem5/simulate/simulator.py(722): run
  /w/gem5_config.py(43): <module>
  src/python/m5/main.py(669): main

"""


@pytest.mark.parametrize("text, line", [
    (FATAL_ERR, "fatal: fatal condition !isPowerOf2(numSets) occurred: # of sets must be "
                "non-zero and a power of 2"),
    (PYTHON_ERR, "ValueError: Memory interleaving size can not be smaller than board's "
                 "cache line size. Board's cache line size: 128 , This memory's "
                 "interleaving size: 64"),
    ("Script /w/se.py not found\nUsage\n=====\n  gem5.opt [gem5 options] script.py\n",
     "Script /w/se.py not found"),
    ("Traceback (most recent call last):\n  File \"se.py\", line 9\nKeyError: 'cpu'\n",
     "KeyError: 'cpu'"),
    ("gem5 started\nsomething else went wrong\nMemory Usage: 5 KBytes\n",
     "something else went wrong"),
    ("", ""),
], ids=["fatal", "python-exception", "no-script", "traceback", "other", "empty"])
def test_error_line_is_gem5s_error_not_a_frame(text, line):
    assert gem5.error_line(text) == line


# SYNTHETIC (not a recorded gem5 output): the statistic names the deprecated se.py
# configuration emits (system.cpu, system.cpu.[id]cache, system.l2, a CPU clock domain
# separate from the system clock), values invented, with a CPU clock other than the
# system's; the real legacy file is the fixture matmul16_legacy.
LEGACY_SYNTHETIC = """
---------- Begin Simulation Statistics ----------
simSeconds                                   0.000500                       # Number of seconds simulated (Second)
simTicks                                    500000000                       # Number of ticks simulated (Tick)
simInsts                                       300000                       # Number of instructions simulated (Count)
system.clk_domain.clock                          1000                       # Clock period in ticks (Tick)
system.cpu_clk_domain.clock                       500                       # Clock period in ticks (Tick)
system.cpu.numCycles                          1000000                       # Number of cpu cycles simulated (Cycle)
system.cpu.dcache.demandMisses::cpu.data          700                       # number of demand (read+write) misses (Count)
system.cpu.dcache.demandMisses::total             700                       # number of demand (read+write) misses (Count)
system.cpu.dcache.demandAccesses::total         90000                       # number of demand (read+write) accesses (Count)
system.cpu.icache.demandMisses::total             300                       # number of demand (read+write) misses (Count)
system.cpu.icache.demandAccesses::total        310000                       # number of demand (read+write) accesses (Count)
system.l2.demandMisses::total                     400                       # number of demand (read+write) misses (Count)
system.l2.demandAccesses::total                  1000                       # number of demand (read+write) accesses (Count)
system.tol2bus.pktCount::total                   2000                       # Packet count per connected requestor and responder (Count)
---------- End Simulation Statistics   ----------
"""


def test_legacy_statistic_names():
    got = gem5.parse_stats(LEGACY_SYNTHETIC)
    assert got["cycles"] == 1000000  # checked against simTicks / CPU clock (500 ticks)
    assert (got["l1d_accesses"], got["l1d_misses"]) == (90000, 700)
    assert (got["l1i_accesses"], got["l1i_misses"]) == (310000, 300)
    assert (got["l2_accesses"], got["l2_misses"]) == (1000, 400)
    assert got["instructions"] == 300000 and got["sim_seconds"] == 0.0005


def test_old_snake_case_names():
    text = (LEGACY_SYNTHETIC.replace("simTicks", "sim_ticks").replace("simInsts", "sim_insts")
            .replace("simSeconds", "sim_seconds").replace("demandMisses", "demand_misses")
            .replace("demandAccesses", "demand_accesses"))
    assert gem5.parse_stats(text) == gem5.parse_stats(LEGACY_SYNTHETIC)


# --------------------------------------------------------------------- spec and inputs

POINT = {"l1d_size_kib": 8, "l1d_ways": 2, "l1i_size_kib": 4, "l1i_ways": 1,
         "l2_size_kib": 128, "l2_ways": 4, "line_bytes": 32, "n": 64}


@pytest.fixture
def no_gem5(monkeypatch, tmp_path):
    monkeypatch.delenv("GEM5", raising=False)
    monkeypatch.delenv("GEM5_ROOT", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))


@pytest.fixture
def spec(no_gem5):
    return load_spec(SPEC)


def test_shipped_spec_loads(spec):
    assert spec.backend_name == "gem5"
    assert backend_class("gem5") is spec.backend_class is gem5.Backend
    s = spec.settings
    assert s["config"] == "stdlib" and s["clock_ghz"] == 1 and s["cache"] == {}
    assert s["program"].endswith("build/kernels/matmul") and s["args"] == ("{n}",)
    assert "gem5" not in s  # not found here, not recorded; rendering still works
    values = {p.name: p.values for p in spec.parameters}
    assert values["l1d_size_kib"] == values["l1i_size_kib"] == (1, 2, 4, 8, 16, 32)
    assert values["l1d_ways"] == values["l1i_ways"] == (1, 2, 4, 8)
    assert values["l2_size_kib"] == (1, 2, 4, 8, 16, 32, 64, 128, 256)
    assert values["l2_ways"] == (2, 4, 8) and values["line_bytes"] == (16, 32, 64)
    roles = {p.name: (p.role, p.unit) for p in spec.parameters}
    assert roles["n"] == ("workload", "elements") and roles["line_bytes"] == ("architecture", "B")
    assert spec.responses == gem5.Backend.response_names


def _call(node: ast.Call) -> tuple[str, dict]:
    name = node.func.attr if isinstance(node.func, ast.Attribute) else node.func.id
    return name, {k.arg: ast.literal_eval(k.value) for k in node.keywords
                  if isinstance(k.value, (ast.Constant, ast.List))}


def test_stdlib_script_carries_every_parameter(spec):
    settings = {**spec.settings, "program": "/opt/my kernels/mat'mul\"x"}
    text = gem5.stdlib_script(settings, POINT)
    tree = ast.parse(compile(text, "gem5_config.py", "exec", ast.PyCF_ONLY_AST))
    calls = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            name, kwargs = _call(node)
            calls.setdefault(name, {}).update(kwargs)
    assert calls["PrivateL1SharedL2CacheHierarchy"] == {
        "l1d_size": "8KiB", "l1d_assoc": 2, "l1i_size": "4KiB", "l1i_assoc": 1,
        "l2_size": "128KiB", "l2_assoc": 4}
    assert calls["SimpleBoard"] == {"clk_freq": "1GHz"}
    assert calls["SingleChannelDDR3_1600"] == {"size": "1024MiB"}
    assert calls["BinaryResource"] == {"local_path": "/opt/my kernels/mat'mul\"x"}
    assert calls["set_se_binary_workload"] == {"arguments": ["64"]}
    proc = [n for n in ast.walk(tree) if isinstance(n, ast.Call)
            and getattr(n.func, "id", "") == "SimpleProcessor"][0]
    assert {k.arg: ast.unparse(k.value) for k in proc.keywords} == {
        "cpu_type": "CPUTypes.TIMING", "isa": "ISA.RISCV", "num_cores": "1"}
    lines = [n for n in ast.walk(tree) if isinstance(n, ast.Assign)
             and ast.unparse(n.targets[0]) == "board.cache_line_size"]
    assert len(lines) == 1 and ast.literal_eval(lines[0].value) == 32
    assert "obtain_resource" not in calls  # local binary only: no network


def test_stdlib_script_follows_settings(spec):
    settings = {**spec.settings, "clock_ghz": 2.5, "memory": "DDR4_2400",
                "memory_mib": 512, "cache": {"l2_ways": 16}}
    point = {k: v for k, v in POINT.items() if k != "l2_ways"}  # unswept: fixed value
    text = gem5.stdlib_script(settings, point)
    assert 'clk_freq="2.5GHz"' in text and 'SingleChannelDDR4_2400(size="512MiB")' in text
    assert "l2_assoc=16" in text


def test_legacy_argument_list_carries_every_parameter(spec):
    settings = {**spec.settings, "config": "legacy", "gem5": "/g/gem5.opt"}
    argv = gem5.legacy_arguments(settings, POINT, "/g/configs/deprecated/example/se.py",
                                 Path("/w/m5out"))
    assert argv[:3] == ["/g/gem5.opt", "--outdir=/w/m5out",
                        "/g/configs/deprecated/example/se.py"]
    for option in ["--cpu-type=TimingSimpleCPU", "--caches", "--l2cache",
                   "--l1d_size=8KiB", "--l1d_assoc=2", "--l1i_size=4KiB", "--l1i_assoc=1",
                   "--l2_size=128KiB", "--l2_assoc=4", "--cacheline_size=32",
                   "--cpu-clock=1GHz", "--sys-clock=1GHz", "--mem-type=DDR3_1600_8x8",
                   f"--cmd={settings['program']}", "--options=64"]:
        assert option in argv
    assert argv.index("--l2cache") < argv.index("--l2_size=128KiB")


def test_legacy_refuses_arguments_se_py_would_split(spec):
    settings = {**spec.settings, "args": ["{n}", "two words"]}
    with pytest.raises(EvaluationFailed, match="whitespace"):
        gem5.legacy_arguments(settings, POINT, "/se.py", Path("/w"))


# ---------------------------------------------------------------------- missing gem5

MISSING = "set GEM5=/path/to/gem5.opt or backend.settings.gem5"


def test_missing_gem5_is_reported_in_one_line(spec, tmp_path):
    settings = spec.settings
    reason = gem5.Backend.unavailable_reason(settings)
    assert reason and MISSING in reason and "\n" not in reason
    with pytest.raises(SpecError) as err:
        gem5.check_runnable(settings, "gem5_matmul.yaml")
    message = str(err.value)
    assert message.startswith("gem5_matmul.yaml: backend.settings.gem5: gem5 not found")
    assert MISSING in message and "\n" not in message
    print(message)
    with pytest.raises(EvaluationFailed) as failed:
        gem5.Backend(settings).evaluate(POINT, tmp_path)
    assert failed.value.kind == "error" and MISSING in failed.value.reason


def test_explicit_gem5_path_must_exist(no_gem5, tmp_path):
    spec = load_spec(SPEC).to_json()
    raw = {"study": "g", "parameters": spec["parameters"],
           "backend": {"name": "gem5", "settings": {"kernel": "matmul",
                                                    "gem5": "no/such/gem5.opt"}}}
    with pytest.raises(SpecError, match=r"g\.yaml: backend\.settings\.gem5: no such file"):
        load_spec(write_spec(tmp_path / "g.yaml", raw))


def test_gem5_found_through_environment(no_gem5, monkeypatch, tmp_path):
    found = tmp_path / "bin" / "gem5.opt"  # only looked up, never run
    found.parent.mkdir()
    found.write_text("")
    found.chmod(0o755)
    monkeypatch.setenv("GEM5", str(found))
    assert load_spec(SPEC).settings["gem5"] == str(found)
    monkeypatch.delenv("GEM5")
    monkeypatch.setenv("PATH", str(found.parent))
    assert load_spec(SPEC).settings["gem5"] == str(found)


def test_se_py_found_through_gem5_root(no_gem5, monkeypatch, tmp_path):
    se_py = tmp_path / "gem5" / "configs" / "deprecated" / "example" / "se.py"
    se_py.parent.mkdir(parents=True)
    se_py.write_text("")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("GEM5_ROOT", "gem5")  # relative: gem5 runs in another folder
    assert gem5.find_se_py({}, None) == str(se_py)


# ------------------------------------------------------------- real gem5, both configs

CONFIGS = ("stdlib", "legacy")
#: small enough to simulate in well under a second (matmul n = 16: ~60 k instructions)
SMALL = {"l1d_size_kib": 4, "l1d_ways": 2, "l1i_size_kib": 4, "l1i_ways": 2,
         "l2_size_kib": 64, "l2_ways": 8, "line_bytes": 64, "n": 16}


@pytest.fixture
def real_gem5(request):
    """``make(config, **settings)``: a backend on the real gem5 (``$GEM5``/PATH, se.py
    through ``$GEM5_ROOT`` for ``config: legacy``) running the shipped spec's matmul.
    Skips, with the backend's one-line reason, where gem5 cannot run here."""
    settings = load_spec(SPEC).settings
    if gem5.find_gem5(settings)[0]:
        request.getfixturevalue("native_built")  # the matmul kernel gem5 will run

    def make(config: str, **more) -> gem5.Backend:
        full = {**settings, "config": config, **more}
        reason = gem5.Backend.unavailable_reason(full)
        if reason:
            pytest.skip(f"gem5 cannot run here: {reason}")
        return gem5.Backend(full, timeout_s=300)
    return make


def gem5_config(workdir: Path) -> configparser.ConfigParser:
    """The ``m5out/config.ini`` gem5 wrote: the system it really simulated."""
    ini = configparser.ConfigParser(interpolation=None)
    ini.read(workdir / gem5.OUTDIR / "config.ini")
    return ini


#: config -> config.ini section of (the system, L1D, L1I, L2, the CPU clock, the workload)
SECTIONS = {
    "stdlib": ("board", "board.cache_hierarchy.l1dcaches", "board.cache_hierarchy.l1icaches",
               "board.cache_hierarchy.l2cache", "board.clk_domain",
               "board.processor.cores.core.workload"),
    "legacy": ("system", "system.cpu.dcache", "system.cpu.icache", "system.l2",
               "system.cpu_clk_domain", "system.cpu.workload"),
}


@pytest.mark.parametrize("config", CONFIGS)
def test_real_gem5_simulates_the_rendered_design_point(real_gem5, config, tmp_path):
    backend = real_gem5(config, clock_ghz=2, memory_mib=512)
    got = backend.evaluate({**POINT, "n": 16}, tmp_path)
    assert got == gem5.parse_stats((tmp_path / "m5out" / "stats.txt").read_text())
    assert (tmp_path / gem5.CONFIG_SCRIPT).exists() == (config == "stdlib")
    # What gem5 itself says it simulated: every parameter and setting arrived.
    system, l1d, l1i, l2, clock, workload = SECTIONS[config]
    ini = gem5_config(tmp_path)
    assert ini[system]["cache_line_size"] == "32"
    assert ini[system]["mem_ranges"] == f"0:{512 * 2 ** 20}"
    assert (ini[l1d]["size"], ini[l1d]["assoc"]) == ("8192", "2")
    assert (ini[l1i]["size"], ini[l1i]["assoc"]) == ("4096", "1")
    assert (ini[l2]["size"], ini[l2]["assoc"]) == ("131072", "4")
    assert ini[clock]["clock"] == "500"  # ticks of 1 ps: 2 GHz
    assert ini[workload]["cmd"] == f"{backend.settings['program']} 16"
    # A whole matmul ran: n^3 multiply-adds, every statistic counted.
    assert got["cycles"] > got["instructions"] > 16 ** 3
    assert got["cycles"] * 500e-12 == pytest.approx(got["sim_seconds"], abs=1e-6)
    assert 0 < got["l1i_misses"] <= got["l1i_accesses"]
    assert 0 < got["l1d_misses"] <= got["l1d_accesses"]
    assert 0 < got["l2_misses"] <= got["l2_accesses"]


@pytest.mark.parametrize("config", CONFIGS)
def test_real_gem5_results_follow_the_design_point(real_gem5, config, tmp_path):
    backend = real_gem5(config)
    tiny = {**SMALL, "l1d_size_kib": 1, "l1d_ways": 1}
    big = {**SMALL, "l1d_size_kib": 32, "l1d_ways": 8}
    runs = {}
    for name, point in [("tiny", tiny), ("big", big), ("big24", {**big, "n": 24})]:
        (tmp_path / name).mkdir()
        runs[name] = backend.evaluate(point, tmp_path / name)
    # The same program: the same instructions; a 1 KiB direct-mapped L1D misses more.
    assert runs["tiny"]["instructions"] == runs["big"]["instructions"]
    assert runs["tiny"]["l1d_accesses"] == runs["big"]["l1d_accesses"]
    assert runs["tiny"]["l1d_misses"] > 2 * runs["big"]["l1d_misses"]
    assert runs["tiny"]["cycles"] > runs["big"]["cycles"]
    # A larger matrix: (24/16)^3 = 3.4x the multiply-adds.
    assert runs["big24"]["instructions"] > 2.5 * runs["big"]["instructions"]


@pytest.mark.parametrize("config, change, error", [
    # The stdlib board interleaves memory in 64 B: it refuses longer lines.
    ("stdlib", {"line_bytes": 128}, "ValueError: Memory interleaving size can not be "
     "smaller than board's cache line size. Board's cache line size: 128"),
    ("stdlib", {"l1d_size_kib": 3}, "fatal: fatal condition !isPowerOf2(numSets) occurred: "
     "# of sets must be non-zero and a power of 2"),
    ("legacy", {"l1d_size_kib": 3}, "fatal: fatal condition !isPowerOf2(numSets) occurred: "
     "# of sets must be non-zero and a power of 2"),
], ids=["stdlib-128B-lines", "stdlib-3KiB-L1D", "legacy-3KiB-L1D"])
def test_real_gem5_failure_names_gem5s_error_line(real_gem5, config, change, error,
                                                  tmp_path):
    with pytest.raises(EvaluationFailed) as err:
        real_gem5(config).evaluate({**SMALL, **change}, tmp_path)
    assert err.value.kind == "crash"
    assert err.value.reason.startswith(f"gem5 exited with status 1: {error}")
    assert "\n" not in err.value.reason and "main.py" not in err.value.reason


def test_real_gem5_legacy_accepts_128_byte_lines(real_gem5, tmp_path):
    # se.py has no interleaving limit: the point the stdlib board refuses runs there.
    got = real_gem5("legacy").evaluate({**SMALL, "line_bytes": 128}, tmp_path)
    assert gem5_config(tmp_path)["system"]["cache_line_size"] == "128"
    assert got["cycles"] > got["instructions"] > 16 ** 3


# --------------------------------- process handling with a stand-in gem5 executable

def make_stand_in_gem5(tmp_path: Path, body: str) -> Path:
    """A stand-in for gem5.opt, for the process-handling tests only (a crash, a hang, no
    or unusable stats): runs ``body`` (Python) with ``outdir`` (the --outdir value)."""
    fake = tmp_path / "bin" / "gem5.opt"
    fake.parent.mkdir(parents=True, exist_ok=True)
    fake.write_text(f"#!{sys.executable}\n"
                    "import sys, time\n"
                    "outdir = [a.split('=', 1)[1] for a in sys.argv\n"
                    "          if a.startswith('--outdir=')][0]\n"
                    f"{body}\n")
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    return fake


def stand_in_backend(spec, fake: Path, timeout_s: float = 60, **settings) -> gem5.Backend:
    program = fake.parent / "matmul"
    program.write_text("not really a RISC-V binary\n")
    return gem5.Backend({**spec.settings, "gem5": str(fake),
                         "program": str(program), **settings}, timeout_s=timeout_s)


@pytest.mark.parametrize("body, kind, words", [
    ("sys.stderr.write('panic: unknown instruction\\n'); sys.exit(3)", "crash",
     "exited with status 3: panic: unknown instruction"),
    ("pass", "garbage", "wrote no m5out/stats.txt"),
    ("open(outdir + '/stats.txt', 'w').write('nothing useful')", "garbage", "no statistics"),
], ids=["crash", "no-stats", "garbage-stats"])
def test_stand_in_failures_are_classified(spec, tmp_path, body, kind, words):
    fake = make_stand_in_gem5(tmp_path, body)
    with pytest.raises(EvaluationFailed) as err:
        stand_in_backend(spec, fake).evaluate(POINT, tmp_path)
    assert err.value.kind == kind and words in err.value.reason


def test_stand_in_timeout_kills_the_whole_process_group(spec, tmp_path):
    # gem5 stand-in that starts a grandchild; both must be gone after the timeout.
    body = ("import subprocess\n"
            "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n"
            "open('child.pid', 'w').write(str(child.pid))\n"
            "time.sleep(60)")
    fake = make_stand_in_gem5(tmp_path, body)
    started = time.monotonic()
    with pytest.raises(EvaluationFailed) as err:
        stand_in_backend(spec, fake, timeout_s=2).evaluate(POINT, tmp_path)
    assert err.value.kind == "timeout" and time.monotonic() - started < 30
    child = int((tmp_path / "child.pid").read_text())
    for _ in range(50):
        if not alive(child):
            break
        time.sleep(0.1)
    else:
        pytest.fail(f"grandchild {child} survived the timeout")


def alive(pid: int) -> bool:
    """Running (a killed process may linger as a zombie until its parent reaps it)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    return "\nState:\tZ" not in status


def test_stand_in_writing_no_stats_does_not_reuse_stale_ones(spec, tmp_path):
    (tmp_path / "m5out").mkdir()
    (tmp_path / "m5out" / "stats.txt").write_text(fixture_text("gemm32_stdlib_timing"))
    fake = make_stand_in_gem5(tmp_path, "pass")
    with pytest.raises(EvaluationFailed, match="wrote no"):
        stand_in_backend(spec, fake).evaluate(POINT, tmp_path)
