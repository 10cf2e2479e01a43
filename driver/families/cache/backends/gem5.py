"""gem5 backend: a real RISC-V program in gem5's syscall-emulation (SE) mode on a
single in-order ``TimingSimpleCPU`` with private L1I/L1D and a shared L2 (classic caches).

gem5 is not installable from PyPI or Debian: users build it themselves and point
cyclecast at the binary (``backend.settings.gem5``, else ``$GEM5``, else ``gem5.opt`` /
``gem5.fast`` on PATH). Two ways to configure the simulated system (``settings.config``):

``stdlib`` (default)
    a gem5 standard-library script (gem5 v24 or newer) rendered from
    ``templates/gem5_stdlib_config.py.j2`` into the evaluation's directory:
    ``SimpleProcessor(TIMING, RISCV)`` + ``PrivateL1SharedL2CacheHierarchy`` +
    ``SimpleBoard`` + ``SingleChannel<memory>``.
``legacy``
    the deprecated ``configs/deprecated/example/se.py`` (``configs/example/se.py``
    before v23) driven by an argument list (``--caches --l2cache ...``).

Missing gem5 does not fail spec loading: a study can be rendered and inspected on a
machine without gem5. :meth:`Backend.unavailable_reason` (and :func:`check_runnable`,
which raises the same text as a one-line SpecError) says what is missing, and
``evaluate`` raises ``EvaluationFailed(kind='error')`` with that text.

When gem5 exits non-zero, the failure reason is gem5's own error line (``fatal: ...``,
``panic: ...`` or the message of the Python exception its configuration raised), not the
last line of its output (a traceback frame or ``Memory Usage: ...``).

Cycles are the CPU's ``numCycles`` of the first statistics dump in ``m5out/stats.txt``,
cross-checked against ``simTicks / clock period``; instructions, cache accesses and
misses come from the same dump (NaN where the statistic is absent, never 0).
"""
from __future__ import annotations

import os
import re
from pathlib import Path

from ....errors import EvaluationFailed, SpecError
from ....process import exit_reason, run_with_timeout
from ...backend import Backend as _Base
from .. import geometry, program

TYPE_CHECKING = False  # typing costs the driver milliseconds at start-up
if TYPE_CHECKING:
    from typing import Any, Mapping

GEM5_NAMES = ("gem5.opt", "gem5.fast")
OUTDIR = "m5out"
STATS_FILE = "stats.txt"
CONFIG_SCRIPT = "gem5_config.py"
TEMPLATE = "gem5_stdlib_config.py.j2"
SE_PY = ("configs/deprecated/example/se.py", "configs/example/se.py")  # v23+, older
#: settings.memory -> (stdlib class, legacy se.py --mem-type)
MEMORIES = {
    "DDR3_1600": ("SingleChannelDDR3_1600", "DDR3_1600_8x8"),
    "DDR4_2400": ("SingleChannelDDR4_2400", "DDR4_2400_8x8"),
    "LPDDR3_1600": ("SingleChannelLPDDR3_1600", "LPDDR3_1600_1x32"),
}
RESPONSES = ("cycles", "instructions", "l1i_accesses", "l1i_misses", "l1d_accesses",
             "l1d_misses", "l2_accesses", "l2_misses", "sim_seconds")
#: cycles may differ from simTicks / period by this fraction before the dump is rejected
CYCLES_TOLERANCE = 0.01

BEGIN = "---------- Begin Simulation Statistics ----------"
END = "---------- End Simulation Statistics"
NAN = float("nan")


# ---------------------------------------------------------------------------- stats.txt

def _first_dump(text: str) -> dict[str, float]:
    """name -> first value of every statistic in the first dump block."""
    start = text.find(BEGIN)
    if start < 0:
        raise EvaluationFailed("stats.txt holds no statistics dump", "garbage")
    end = text.find(END, start)
    if end < 0:
        raise EvaluationFailed("stats.txt: first statistics dump is truncated", "garbage")
    stats: dict[str, float] = {}
    for line in text[start + len(BEGIN):end].splitlines():
        fields = line.split(None, 2)
        if len(fields) < 2 or fields[0].startswith("#"):
            continue
        try:
            stats[fields[0]] = float(fields[1])
        except ValueError:
            continue
    return stats


def _is_cpu(path: str) -> bool:
    """``board.processor.cores[N].core`` (stdlib) or ``system.[switch_]cpu[N]`` (se.py)."""
    parts = path.split(".")
    if len(parts) == 4 and parts[:2] == ["board", "processor"] and parts[3] == "core":
        return parts[2] == "cores" or (parts[2].startswith("cores") and parts[2][5:].isdigit())
    if len(parts) == 2 and parts[0] == "system":
        name = parts[1].removeprefix("switch_")
        return name in ("cpu", "cpus") or (name.startswith("cpu") and name[3:].isdigit())
    return False


def _cache_level(component: str) -> str | None:
    """Which level a cache object's name denotes: l1d-cache-0, l1dcaches, dcache -> l1d."""
    name = component.lower()
    if "bus" in name or "xbar" in name:
        return None
    if name.startswith(("l1d", "dcache")):
        return "l1d"
    if name.startswith(("l1i", "icache")):
        return "l1i"
    if name.startswith("l2"):
        return "l2"
    return None


_CACHE_STATS = {  # statistic -> (what, preference: demand before overall)
    "demandMisses": ("misses", 0), "demand_misses": ("misses", 0),
    "overallMisses": ("misses", 1), "overall_misses": ("misses", 1),
    "demandAccesses": ("accesses", 0), "demand_accesses": ("accesses", 0),
    "overallAccesses": ("accesses", 1), "overall_accesses": ("accesses", 1),
}


def _cache_counters(stats: Mapping[str, float]) -> dict[str, float]:
    """l1i/l1d/l2 accesses and misses: each level's ``demand*::total`` summed over its
    cache objects (``overall*`` where a file has no demand statistics); NaN if absent."""
    found: dict[tuple[str, str, int], float] = {}
    for name, value in stats.items():
        if not name.endswith("::total") or not name.startswith(("board.cache_hierarchy.",
                                                                "system.")):
            continue
        path, _, stat = name[:-len("::total")].rpartition(".")
        what = _CACHE_STATS.get(stat)
        level = _cache_level(path.rpartition(".")[2]) if what else None
        if level and what:
            key = (level, what[0], what[1])
            found[key] = found.get(key, 0.0) + value
    out = {}
    for level in ("l1i", "l1d", "l2"):
        for kind in ("accesses", "misses"):
            values = [found[(level, kind, p)] for p in (0, 1) if (level, kind, p) in found]
            out[f"{level}_{kind}"] = values[0] if values else NAN
    return out


def _clock_period(stats: Mapping[str, float]) -> float | None:
    for name in ("system.cpu_clk_domain.clock", "board.clk_domain.clock",
                 "system.clk_domain.clock"):
        if stats.get(name, 0) > 0:
            return stats[name]
    return None


def parse_stats(text: str) -> dict[str, float]:
    """Responses from the text of a gem5 ``stats.txt`` (first dump block only).

    Raises EvaluationFailed(kind='garbage') when there is no complete dump, no CPU
    ``numCycles``, or cycles disagree with ``simTicks / clock period`` by more than
    CYCLES_TOLERANCE. Counters the dump lacks are NaN.
    """
    stats = _first_dump(text)
    cycles = [v for k, v in stats.items()
              if k.endswith(".numCycles") and _is_cpu(k[:-len(".numCycles")])]
    if not cycles:
        raise EvaluationFailed("stats.txt: no CPU numCycles in the first dump", "garbage")
    # Cores run concurrently: the run takes as many cycles as the busiest core.
    result = {"cycles": max(cycles)}
    ticks = stats.get("simTicks", stats.get("sim_ticks"))
    period = _clock_period(stats)
    if ticks is not None and period:
        expected = ticks / period
        if abs(result["cycles"] - expected) > CYCLES_TOLERANCE * max(expected, 1.0):
            raise EvaluationFailed(f"stats.txt: numCycles {result['cycles']:.0f} disagrees "
                                   f"with simTicks/clock {expected:.0f}", "garbage")
    if result["cycles"] <= 0:
        raise EvaluationFailed("stats.txt: CPU ran 0 cycles", "garbage")
    insts = stats.get("simInsts", stats.get("sim_insts"))
    if insts is None:
        committed = [v for k, v in stats.items()
                     if k.endswith((".commitStats0.numInsts", ".committedInsts"))]
        insts = sum(committed) if committed else NAN
    result["instructions"] = insts
    result.update(_cache_counters(stats))
    result["sim_seconds"] = stats.get("simSeconds", stats.get("sim_seconds", NAN))
    return {name: result[name] for name in RESPONSES}


# ------------------------------------------------------------------- gem5's error line

#: ``src/mem/cache/tags/indexing_policies/base.cc:64: fatal: ...`` (also panic:), and
#: ``Script X not found`` (printed before gem5's usage text, exit status 2)
_FATAL = re.compile(r"\b((?:fatal|panic): .*)|^(Script .* not found)$")
#: ``ValueError: ...``: an exception gem5's Python (the configuration script) raised
_EXCEPTION = re.compile(r"^(?:[A-Za-z_]\w*\.)*[A-Za-z_]\w*(?:Error|Exception|Exit): \S")
#: lines that are never the reason: traceback frames and gem5's exit chatter
_NOISE = re.compile(r"^(\s|At:$|Traceback |Memory Usage: |warn: |info: |\S+:\d+: (warn|info): )")
REASON_LIMIT = 300


def error_line(text: str) -> str:
    """gem5's own error, in one line, from its output: the last ``fatal:``/``panic:``
    message (or a missing configuration script), else the last Python exception's
    message (continuation lines joined up to the blank line before its ``At:`` frames),
    else the last line that is not a traceback frame or exit chatter; "" if none."""
    lines = text.splitlines()
    for line in reversed(lines):
        match = _FATAL.search(line)
        if match:
            return (match.group(1) or match.group(2)).strip()[:REASON_LIMIT]
    for i in range(len(lines) - 1, -1, -1):
        if _EXCEPTION.match(lines[i]):
            message = [lines[i].strip()]
            for more in lines[i + 1:]:
                if not more.strip() or more.startswith(("At:", "Traceback ", " ")):
                    break
                message.append(more.strip())
            return " ".join(message)[:REASON_LIMIT]
    for line in reversed(lines):
        if line.strip() and not _NOISE.match(line):
            return line.strip()[:REASON_LIMIT]
    return ""


def _read(path: Path) -> str:
    try:
        return path.read_text(errors="replace")
    except OSError:
        return ""


# ------------------------------------------------------------------ finding gem5 / se.py

def find_gem5(settings: Mapping[str, Any]) -> tuple[str | None, str]:
    """(absolute path of the gem5 binary or None, where it was looked for)."""
    import shutil

    given = settings.get("gem5")
    if given:
        found = shutil.which(given) if os.sep not in given else (
            given if os.access(given, os.X_OK) else None)
        return (os.path.abspath(found) if found else None), f"backend.settings.gem5 = {given}"
    env = os.environ.get("GEM5")
    if env:
        found = shutil.which(env)
        return (os.path.abspath(found) if found else None), f"$GEM5 = {env}"
    for name in GEM5_NAMES:
        found = shutil.which(name)
        if found:
            return os.path.abspath(found), "PATH"
    return None, f"$GEM5 unset, no {' or '.join(GEM5_NAMES)} on PATH"


def find_se_py(settings: Mapping[str, Any], gem5: str | None) -> str | None:
    """settings.se_py, else se.py under $GEM5_ROOT, else under the gem5 binary's source
    tree (``<root>/build/<ISA>/gem5.opt``)."""
    if settings.get("se_py"):
        return settings["se_py"] if os.path.isfile(settings["se_py"]) else None
    roots = [os.environ.get("GEM5_ROOT")]
    if gem5 and len(Path(gem5).resolve().parents) > 2:
        roots.append(str(Path(gem5).resolve().parents[2]))
    for root in filter(None, roots):
        for rel in SE_PY:
            candidate = os.path.join(root, rel)
            if os.path.isfile(candidate):  # absolute: gem5 runs in the evaluation's folder
                return os.path.abspath(candidate)
    return None


def missing_reason(settings: Mapping[str, Any]) -> str | None:
    """What this machine lacks to run the backend (one clause), or None."""
    gem5, looked = find_gem5(settings)
    if gem5 is None:
        return (f"gem5 not found ({looked}); gem5 has no PyPI or Debian package: build "
                "build/RISCV/gem5.opt (https://www.gem5.org) and set GEM5=/path/to/gem5.opt "
                "or backend.settings.gem5")
    if settings.get("config") == "legacy" and find_se_py(settings, gem5) is None:
        return ("config legacy: se.py not found; set backend.settings.se_py or GEM5_ROOT "
                "(gem5 source tree with configs/deprecated/example/se.py)")
    missing = [p for p in (program.all_programs(settings) if settings.get("program")
                           or settings.get("programs") else []) if not os.path.exists(p)]
    return f"not built: {', '.join(missing)} (run `make setup`)" if missing else None


def check_runnable(settings: Mapping[str, Any], where: str) -> None:
    """Raise a one-line SpecError when gem5 (or se.py, or the program) is missing."""
    reason = missing_reason(settings)
    if reason:
        field = "se_py" if reason.startswith("config legacy") else "gem5"
        raise SpecError(f"{where}: backend.settings.{field}: {reason}")


# ------------------------------------------------------------------- inputs for a point

def _sizes(point: Mapping[str, Any], fixed: Mapping[str, int]) -> dict[str, Any]:
    h = geometry.hierarchy(point, fixed)
    return {"l1d_kib": h.l1d.size_bytes // 1024, "l1d_ways": h.l1d.ways,
            "l1i_kib": h.l1i.size_bytes // 1024, "l1i_ways": h.l1i.ways,
            "l2_kib": h.l2.size_bytes // 1024, "l2_ways": h.l2.ways,
            "line_bytes": h.l1d.line_bytes}


def _clock(settings: Mapping[str, Any]) -> str:
    return f"{float(settings['clock_ghz']):g}GHz"


def stdlib_script(settings: Mapping[str, Any], point: Mapping[str, Any]) -> str:
    """The gem5 standard-library configuration script for one design point."""
    from ....render import render

    return render(TEMPLATE, **_sizes(point, settings["cache"]), clock=_clock(settings),
                  memory_class=MEMORIES[settings["memory"]][0],
                  memory_size=f"{settings['memory_mib']}MiB",
                  program=program.program_for(settings, point),
                  arguments=program.program_arguments(settings, point))


def legacy_arguments(settings: Mapping[str, Any], point: Mapping[str, Any], se_py: str,
                     outdir: Path) -> list[str]:
    """gem5 + deprecated se.py argument list for one design point (no shell involved)."""
    s = _sizes(point, settings["cache"])
    args = program.program_arguments(settings, point)
    if any(not a or any(c.isspace() for c in a) for a in args):
        # se.py splits --options on whitespace; such an argument cannot be passed.
        raise EvaluationFailed(f"config legacy cannot pass program argument(s) {args!r} "
                               "(empty or containing whitespace); use config: stdlib", "error")
    clock = _clock(settings)
    return [settings.get("gem5") or "gem5.opt", f"--outdir={outdir}", se_py,
            "--cpu-type=TimingSimpleCPU", "--num-cpus=1",
            f"--cpu-clock={clock}", f"--sys-clock={clock}",
            f"--mem-type={MEMORIES[settings['memory']][1]}",
            f"--mem-size={settings['memory_mib']}MB",
            "--caches", "--l2cache",  # --l2_size without --l2cache silently means no L2
            f"--l1d_size={s['l1d_kib']}KiB", f"--l1d_assoc={s['l1d_ways']}",
            f"--l1i_size={s['l1i_kib']}KiB", f"--l1i_assoc={s['l1i_ways']}",
            f"--l2_size={s['l2_kib']}KiB", f"--l2_assoc={s['l2_ways']}",
            f"--cacheline_size={s['line_bytes']}",
            f"--cmd={program.program_for(settings, point)}", f"--options={' '.join(args)}"]


class Backend(_Base):
    name = "gem5"
    family = "cache"
    settings_properties = {
        "config": {"enum": ["stdlib", "legacy"], "default": "stdlib"},
        "gem5": {"type": "string", "minLength": 1},
        "se_py": {"type": "string", "minLength": 1},
        "clock_ghz": {"type": "number", "exclusiveMinimum": 0, "default": 1},
        "memory": {"enum": list(MEMORIES), "default": "DDR3_1600"},
        "memory_mib": {"type": "integer", "minimum": 16, "default": 1024},
    }
    response_names = RESPONSES
    objectives = ("cycles", "sim_seconds")

    @classmethod
    def complete_settings(cls, settings: dict[str, Any], where: str, spec_dir: Path) -> None:
        """Make the gem5 and se.py paths absolute; record gem5 if found.

        A missing gem5 is not an error here (the study can still be rendered); an
        explicitly configured ``gem5`` or ``se_py`` path that does not exist is.
        """
        for key in ("gem5", "se_py"):
            value = settings.get(key)
            if value and (os.sep in value or key == "se_py"):
                path = (spec_dir / value).resolve()
                if not path.is_file():
                    raise SpecError(f"{where}: backend.settings.{key}: no such file {path}")
                settings[key] = str(path)
        gem5, _ = find_gem5(settings)
        if gem5:
            settings["gem5"] = gem5

    @classmethod
    def unavailable_reason(cls, settings: Mapping[str, Any]) -> str | None:
        return missing_reason(settings)

    def evaluate(self, point: Mapping[str, Any], workdir: Path) -> dict[str, float]:
        settings = dict(self.settings)
        reason = missing_reason(settings)
        if reason:
            raise EvaluationFailed(reason, "error")
        settings["gem5"] = find_gem5(settings)[0]
        outdir = workdir / OUTDIR
        outdir.mkdir(exist_ok=True)
        stats = outdir / STATS_FILE
        stats.unlink(missing_ok=True)
        if settings["config"] == "legacy":
            se_py = find_se_py(settings, settings["gem5"])
            if se_py is None:  # missing_reason above says so first; kept for the type
                raise EvaluationFailed("gem5's configs/deprecated/example/se.py not found",
                                       "error")
            command = legacy_arguments(settings, point, se_py, outdir)
        else:
            script = workdir / CONFIG_SCRIPT
            script.write_text(stdlib_script(settings, point))
            command = [settings["gem5"], f"--outdir={outdir}", str(script)]
        status = run_with_timeout(command, workdir, self.timeout_s)
        if status != 0:
            why = (error_line(_read(workdir / "program.err"))
                   or error_line(_read(workdir / "program.out")))
            raise EvaluationFailed(exit_reason("gem5", status, why), "crash")
        try:
            text = stats.read_text(errors="replace")
        except OSError:
            raise EvaluationFailed(f"gem5 wrote no {OUTDIR}/{STATS_FILE}", "garbage") from None
        return parse_stats(text)
