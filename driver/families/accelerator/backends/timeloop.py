"""The accelerator family on real Timeloop (NVlabs/timeloop v3.0.3): ``timeloop-model``
scores one explicit schedule of one layer on one accelerator.

For each design point the backend renders three Timeloop inputs from
``templates/timeloop/`` (:func:`render`): the architecture (the family's machine exactly:
DRAM -> GlobalBuffer -> ``pes`` x {PEInputBuffer, PEWeightBuffer, PEAccuBuffer} ->
``macs`` MACs; one 8-bit word per datum everywhere; each level's capacity and read/write
bandwidth in words per cycle per instance from :class:`~..families.accelerator.arch.
Accelerator`; no constraints section), the problem (a conv2D layer) and the mapping (the
schedule's factors, loop orders and keep/bypass directives). v3.0.3 reads only hyphenated
keys (``data-spaces``, ``cluster-size``, ...).

Energy comes from Timeloop's built-in energy model (no ERT file, no Accelergy), in uJ;
cycles from its throughput model (the slowest level, bandwidths included). A schedule
Timeloop refuses (a tile over a buffer's capacity, more instances than a fan-out) is a
result, not a failure: ``valid = 0`` and the level named (:func:`parse_error`), cycles,
energy and utilisation NaN. Any other failure (crash, timeout, unreadable statistics)
raises :class:`EvaluationFailed`.

The two fan-outs are separate mesh axes: the PEs are Timeloop's X axis and a PE's MACs its
Y axis (MAC mesh ``pes`` x ``macs / pes``). On a 1-D mesh Timeloop checks only the product
of all spatial factors against the MAC count, so a schedule using half the PEs and twice
a PE's MACs would pass there although the family (and the hardware) refuse it.

Cost (2 vCPUs, 600 generated schedules, 5 presets, 8 layers): median 0.3 s per
``timeloop-model`` process, p90 2 s; Timeloop's loop-nest analysis walks every spatial
instance, so an invalid schedule that maps thousands of instances can take a minute or more.
"""
from __future__ import annotations

import math
import os
import re
import shutil
from pathlib import Path

from ....errors import EvaluationFailed
from ....process import exit_reason, last_line, run_with_timeout
from ...backend import Backend as _Base
from ..arch import STORAGE, WORD_BITS
from ..designs import design
from ..layers import DIMS
from ..schedule import LEVELS, SPATIAL

TYPE_CHECKING = False  # typing costs the driver milliseconds at start-up
if TYPE_CHECKING:
    from typing import Any, Mapping

    from ..arch import Accelerator
    from ..layers import Layer
    from ..schedule import Schedule

BINARY = "timeloop-model"
FILES = ("arch.yaml", "problem.yaml", "mapping.yaml")  # in the order timeloop-model reads
STATS_FILE = "timeloop-model.stats.txt"
#: Family storage level -> Timeloop level name, outer to inner.
LEVEL_NAMES = {"dram": "DRAM", "global": "GlobalBuffer", "input": "PEInputBuffer",
               "weight": "PEWeightBuffer", "accum": "PEAccuBuffer"}
MAC_LEVEL = "mac"
#: Family data type -> Timeloop data space.
DATASPACES = {"W": "Weights", "I": "Inputs", "O": "Outputs"}
#: Family dimension -> Timeloop dimension (Timeloop calls the output channels M).
TL_DIM = {d: ("M" if d == "K" else d) for d in DIMS}
#: Spatial level -> (Timeloop level whose fan-out it uses, split). ``split`` is how many
#: loops of the directive's permutation go to mesh X (the rest go to Y): the PEs are X,
#: a PE's MACs are Y.
SPATIAL_TARGET = {"pes": ("GlobalBuffer", len(DIMS)), "macs": ("PEAccuBuffer", 0)}
RESPONSES = ("cycles", "energy_uj", "utilization", "valid")
NAN = float("nan")


# ------------------------------------------------------------------ rendering

def _factors(row: Mapping[str, int]) -> str:
    return " ".join(f"{TL_DIM[d]}={row[d]}" for d in DIMS)


def _permutation(order: str) -> str:
    return "".join(TL_DIM[d] for d in order)


def _geometry(words: int | None, per_cycle: int) -> tuple[int, int | None]:
    """(width in bits, depth in rows) holding ``words`` 8-bit words, one row read per cycle
    when that divides; else one word per row. DRAM (None) has no depth: unbounded."""
    if words is None:
        return WORD_BITS * per_cycle, None
    if words % per_cycle == 0:
        return WORD_BITS * per_cycle, words // per_cycle
    return WORD_BITS, words


def fanouts(accel: Accelerator) -> dict[str, int]:
    """Instances each spatial level can use: a PE's MACs, and the PEs."""
    return {"macs": accel.macs_per_pe, "pes": accel.pes}


def architecture(accel: Accelerator) -> dict[str, Any]:
    """The template context of the architecture: storage levels outer to inner, MAC mesh."""
    levels = []
    for level, name in LEVEL_NAMES.items():
        n = accel.instances(level)
        width, depth = _geometry(accel.capacity_words(level), accel.words_per_cycle(level))
        levels.append({"name": name, "klass": "DRAM" if level == "dram" else "SRAM",
                       "instances": n, "meshX": n, "meshY": 1, "width": width,
                       "depth": depth, "bandwidth": accel.words_per_cycle(level)})
    return {"levels": levels, "macs": accel.macs, "mac_meshX": accel.pes,
            "mac_meshY": accel.macs_per_pe}


def directives(accel: Accelerator, schedule: Schedule) -> list[dict[str, Any]]:
    """The mapping's directives: keep/bypass per level, then loops inner to outer."""
    out: list[dict[str, Any]] = []
    for level, name in LEVEL_NAMES.items():
        keep = [DATASPACES[k] for k in STORAGE[level]]
        out.append({"target": name, "type": "datatype", "keep": keep,
                    "bypass": [v for v in DATASPACES.values() if v not in keep]})
    fan = fanouts(accel)
    for level in LEVELS:  # inner to outer
        row = schedule.at(level)
        if level in SPATIAL:
            if fan[level] == 1:
                continue  # no fan-out, no spatial level in Timeloop (run() checks factors)
            target, split = SPATIAL_TARGET[level]
            out.append({"target": target, "type": "spatial", "factors": _factors(row),
                        "permutation": _permutation("".join(DIMS)), "split": split})
        else:
            out.append({"target": LEVEL_NAMES[level], "type": "temporal",
                        "factors": _factors(row),
                        "permutation": _permutation(schedule.order(level))})
    return out


def render(accel: Accelerator, layer: Layer, schedule: Schedule) -> dict[str, str]:
    """Timeloop's three input files (name -> YAML text) for one design point."""
    from ....render import render as render_template

    title = (f"layer {layer.name} on {accel.pes} PEs x {accel.macs_per_pe} MACs, "
             f"buffers (KiB) accum {accel.accum_buffer_kib:g} weight "
             f"{accel.weight_buffer_kib:g} input {accel.input_buffer_kib:g} global "
             f"{accel.global_buffer_kib:g}")
    return {
        "arch.yaml": render_template("timeloop/arch.yaml.j2", title=title,
                                     **architecture(accel)),
        "problem.yaml": render_template("timeloop/problem.yaml.j2", title=title, layer=layer),
        "mapping.yaml": render_template("timeloop/mapping.yaml.j2", title=title,
                                        directives=directives(accel, schedule)),
    }


# ------------------------------------------------------------------ parsing

_SUMMARY = {"cycles": re.compile(r"^Cycles:\s*(\S+)\s*$", re.M),
            "energy_uj": re.compile(r"^Energy:\s*(\S+)\s*uJ\s*$", re.M),
            "utilization": re.compile(r"^Utilization:\s*(\S+)\s*$", re.M)}
_MAC_COMPUTES = re.compile(r"Computes \(total\)\s*:\s*(\d+)")
_MAC_INSTANCES = re.compile(r"Instances\s*:\s*(\d+)")


def parse_stats(text: str) -> dict[str, float]:
    """cycles, energy_uj (uJ) and utilization (MAC-cycles used / available, 0..1) from
    ``timeloop-model.stats.txt``; EvaluationFailed(kind='garbage') when unusable.

    The summary prints utilisation to two decimals; the exact value (computes / (MAC
    instances x cycles), Timeloop's own definition) comes from the arithmetic level."""
    start = text.rfind("Summary Stats")
    if start < 0:
        raise EvaluationFailed("no 'Summary Stats' in Timeloop statistics", "garbage")
    summary = text[start:]
    out = {}
    for key, pattern in _SUMMARY.items():
        match = pattern.search(summary)
        try:
            out[key] = float(match.group(1)) if match else NAN
        except ValueError:
            out[key] = NAN
        if not math.isfinite(out[key]) or out[key] < 0:
            raise EvaluationFailed(f"Timeloop statistics: no usable {key} in the summary",
                                   "garbage")
    mac = text[text.find(f"=== {MAC_LEVEL} ==="):start] if f"=== {MAC_LEVEL} ===" in text else ""
    computes, instances = _MAC_COMPUTES.search(mac), _MAC_INSTANCES.search(mac)
    if computes and instances and out["cycles"] > 0:
        exact = int(computes.group(1)) / (int(instances.group(1)) * out["cycles"])
        if abs(exact - out["utilization"]) <= 0.006:  # the same quantity, unrounded
            out["utilization"] = exact
    return out


_ERROR = re.compile(r"ERROR: couldn't map level (\S+): (.*)")
_TL_TO_FAMILY = {name: level for level, name in LEVEL_NAMES.items()}


def error_line(stderr: str) -> str:
    """Timeloop's ``ERROR:`` line (the last), else the last non-empty line."""
    lines = [ln.strip() for ln in stderr.splitlines() if ln.strip()]
    errors = [ln for ln in lines if ln.startswith("ERROR")]
    return (errors or lines or [""])[-1][:300]


def parse_error(stderr: str) -> str | None:
    """The family's name of the constraint Timeloop says a mapping breaks
    (``capacity:<level>``, ``spatial:macs``, ``spatial:pes``), or None when ``stderr`` has
    no capacity or fan-out error.

    Timeloop checks the MACs first, then the buffers inner to outer, and stops at the
    first failure. MAC-mesh X is the PEs and Y a PE's MACs, so an X (Y) expansion error
    is ``spatial:pes`` (``spatial:macs``); a buffer inside a PE that sees more instances
    than exist is ``spatial:pes``. "Arithmetic instances" (X times Y over the MAC count)
    does not say which axis: it is ``spatial:macs`` here (see :func:`run`)."""
    match = _ERROR.search(stderr)  # Timeloop stops at its first failing level
    if match is None:
        return None
    level, reason = match.group(1), match.group(2)
    if "exceeds buffer capacity" in reason and level in _TL_TO_FAMILY:
        return f"capacity:{_TL_TO_FAMILY[level]}"
    if level == MAC_LEVEL:
        if "X expansion" in reason:
            return "spatial:pes"
        if "Y expansion" in reason or "Arithmetic instances" in reason:
            return "spatial:macs"
    elif "instances" in reason or "expansion" in reason:
        if _TL_TO_FAMILY.get(level) in ("accum", "weight", "input"):
            return "spatial:pes"
    return None


# ------------------------------------------------------------------ running

def _invalid(note: str) -> dict[str, Any]:
    return {"cycles": NAN, "energy_uj": NAN, "utilization": NAN, "valid": 0.0, "note": note}


def run(binary: str, accel: Accelerator, layer: Layer, schedule: Schedule, workdir: Path,
        timeout_s: float) -> dict[str, Any]:
    """Score one schedule with ``timeloop-model`` in ``workdir``: cycles, energy_uj (uJ),
    utilization (0..1), valid (1.0 or 0.0) and a note (Timeloop's error line, for an
    invalid schedule). Raises EvaluationFailed for any failure that is not a verdict."""
    workdir = Path(workdir)
    fan = fanouts(accel)
    for level in SPATIAL:
        if fan[level] == 1 and schedule.spatial(level) > 1:
            # Timeloop has no spatial level without a fan-out: nothing to run.
            return _invalid(f"spatial:{level}: {schedule.spatial(level)} instances on a "
                            "fan-out of 1 (not run: Timeloop has no spatial level there)")
    for name, text in render(accel, layer, schedule).items():
        (workdir / name).write_text(text)
    stats = workdir / STATS_FILE
    stats.unlink(missing_ok=True)
    # TIMELOOP_* variables switch parts of Timeloop's analysis on and off: none may change
    # a result behind the spec's back.
    env = {k: v for k, v in os.environ.items() if not k.startswith("TIMELOOP_")}
    status = run_with_timeout([binary, *FILES], workdir, timeout_s, env=env)
    err = (workdir / "program.err").read_text(errors="replace") \
        if (workdir / "program.err").exists() else ""
    if status != 0:
        label = parse_error(err) if status == 1 else None
        if label is None:
            line = error_line(err) or last_line(workdir / "program.out")
            kind = "crash" if status < 0 or status >= 128 else "error"
            raise EvaluationFailed(exit_reason("timeloop-model", status, line), kind)
        if label == "spatial:macs" and "Arithmetic instances" in err \
                and schedule.spatial("macs") <= fan["macs"]:
            label = "spatial:pes"  # the product overflows, and a PE's MACs are not it
        return _invalid(f"{label}: {error_line(err)}")
    try:
        text = stats.read_text(errors="replace")
    except OSError:
        raise EvaluationFailed(f"timeloop-model wrote no {STATS_FILE}", "garbage") from None
    return {**parse_stats(text), "valid": 1.0, "note": ""}


# ------------------------------------------------------------------ finding the binary

def find_binary(settings: Mapping[str, Any]) -> tuple[str | None, str]:
    """(absolute path of timeloop-model or None, where it was looked for): the setting
    (a path, or a name on PATH), else ``$TIMELOOP`` (the binary, or a folder holding
    bin/timeloop-model), else ``timeloop-model`` on PATH."""
    looked = []
    given = settings.get("timeloop") or BINARY
    if os.sep in given:
        ok = os.path.isfile(given) and os.access(given, os.X_OK)
        return (os.path.abspath(given) if ok else None), f"backend.settings.timeloop = {given}"
    found = shutil.which(given)
    if found:
        return os.path.abspath(found), "PATH"
    if given != BINARY:
        looked.append(f"backend.settings.timeloop = {given} not on PATH")
    env = os.environ.get("TIMELOOP")
    if env:
        candidates = [env, os.path.join(env, "bin", BINARY)] if os.path.isdir(env) else [env]
        for path in candidates:
            if os.path.isfile(path) and os.access(path, os.X_OK):
                return os.path.abspath(path), "$TIMELOOP"
        looked.append(f"$TIMELOOP = {env} is not {BINARY} nor a folder with bin/{BINARY}")
    else:
        looked.append("$TIMELOOP unset")
    found = shutil.which(BINARY)
    if found:
        return os.path.abspath(found), "PATH"
    looked.append(f"no {BINARY} on PATH")
    return None, "; ".join(looked)


def missing_reason(settings: Mapping[str, Any]) -> str | None:
    """One line saying timeloop-model was not found and where to point at it, or None."""
    path, looked = find_binary(settings)
    if path:
        return None
    return (f"{BINARY} not found ({looked}); Timeloop has no PyPI or Debian package: build "
            "NVlabs/timeloop v3.0.3 and set backend.settings.timeloop, $TIMELOOP (the binary "
            "or its install folder) or PATH")


class Backend(_Base):
    name = "timeloop"
    family = "accelerator"
    in_process = False
    settings_properties = {"timeloop": {"type": "string", "default": BINARY}}
    response_names = RESPONSES
    objectives = ("cycles", "energy_uj")
    response_kinds = {"valid": "binary"}

    @classmethod
    def complete_settings(cls, settings: dict[str, Any], where: str, spec_dir: Path) -> None:
        """timeloop-model's absolute path into the settings when it is found. A spec stays
        loadable (for models, features, answers) on a machine without Timeloop, as gem5's
        does; running it is refused with :meth:`unavailable_reason`'s one line."""
        given = settings.get("timeloop") or BINARY
        if os.sep in given:  # a path in the spec is relative to the spec's folder
            settings["timeloop"] = str((Path(spec_dir) / given).resolve())
        if not missing_reason(settings):
            settings["timeloop"] = find_binary(settings)[0]

    @classmethod
    def unavailable_reason(cls, settings: Mapping[str, Any]) -> str | None:
        return missing_reason(settings)

    def evaluate(self, point: Mapping[str, Any], workdir: Path) -> dict[str, float]:
        try:
            accel, layer, schedule, broken = design(point, self.settings)
        except ValueError as err:  # e.g. no schedule of this kind exists for the design
            raise EvaluationFailed(str(err), "error") from None
        binary = find_binary(self.settings)[0]
        if binary is None:
            raise EvaluationFailed(missing_reason(self.settings) or "timeloop-model not found",
                                   "error")
        out = run(binary, accel, layer, schedule, Path(workdir), self.timeout_s)
        family_valid = not broken
        if family_valid != bool(out["valid"]):
            verdict = ", ".join(broken) if broken else "valid"
            out["note"] = f"{out['note']} (family: {verdict})".strip()
        return out
