"""Embedded default backend: a real RISC-V program under ``qemu-riscv64`` with
cyclecast's cache-simulation plugin (``native/plugin/cachesim.c``).

The plugin simulates L1I, L1D and a unified L2 (LRU, write-back, write-allocate) and
writes its counters as JSON. Cycles come from the cache family's in-order blocking timing
model (:mod:`driver.families.cache.timing`); its constants live in the spec
(``backend.settings.timing``); every raw counter is also a response so users can re-model.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

from ....errors import EvaluationFailed
from ....process import exit_reason, last_line, run_with_timeout
from ...backend import Backend as _Base
from .. import find_qemu, geometry, not_built, program, timing

TYPE_CHECKING = False  # typing costs the driver milliseconds at start-up
if TYPE_CHECKING:
    from typing import Any, Mapping

COUNTERS = ("instructions", "l1i_accesses", "l1i_misses", "l1d_accesses", "l1d_misses",
            "l1d_writebacks", "l2_accesses", "l2_misses", "l2_writebacks", "loads", "stores")
PLUGIN = program.BUILD / "plugins" / "libcachesim.so"
QEMU = "qemu-riscv64"
STATS_FILE = "cachesim.json"
GUEST_PROGRAM = "program"


def cycles(counters: Mapping[str, float], constants: Mapping[str, float]) -> float:
    """The family's timing model on the counters the plugin writes."""
    return float(timing.cycles(counters, constants))


def plugin_arguments(point: Mapping[str, Any], fixed: Mapping[str, int], stats: Path) -> str:
    """The ``-plugin`` option value for one design point (sizes in bytes)."""
    h = geometry.hierarchy(point, fixed)
    args = [str(PLUGIN),
            f"l1i_size={h.l1i.size_bytes}", f"l1i_ways={h.l1i.ways}",
            f"l1d_size={h.l1d.size_bytes}", f"l1d_ways={h.l1d.ways}",
            f"l2_size={h.l2.size_bytes}", f"l2_ways={h.l2.ways}",
            f"line={h.l1d.line_bytes}", f"out={stats}"]
    return ",".join(args)


def parse_stats(text: str) -> dict[str, float]:
    """Counters from the plugin's JSON; EvaluationFailed(kind='garbage') if unusable."""
    try:
        data = json.loads(text)
        return {name: float(data[name]) for name in COUNTERS}
    except (ValueError, KeyError, TypeError) as err:
        raise EvaluationFailed(f"unparsable cache statistics: {err!s:.200}", "garbage") from None


class Backend(_Base):
    name = "qemu_riscv"
    family = "cache"
    settings_properties = {"timing": timing.TIMING_SETTINGS_SCHEMA,
                           "qemu": {"type": "string", "default": QEMU}}
    response_names = ("cycles",) + COUNTERS
    objectives = ("cycles",)

    @classmethod
    def complete_settings(cls, settings: dict[str, Any], where: str, spec_dir: Path) -> None:
        find_qemu(settings, where)

    @classmethod
    def unavailable_reason(cls, settings: Mapping[str, Any]) -> str | None:
        return not_built(str(PLUGIN), settings)

    def command(self, point: Mapping[str, Any], workdir: Path) -> list[str]:
        """The qemu command line, run with ``cwd=workdir`` and an empty environment.

        Guest addresses, hence cache counts, depend on the strings QEMU puts on the guest
        stack (argv[0], environment) and on the program's real path (the guest reads it
        from /proc/self/exe). So the program is a copy at a fixed path
        (program.pinned_copy), reached through a symlink with a fixed relative name, the
        environment is empty and stdout is a pipe (run_with_timeout): the same design point
        gives the same counts in any work directory and checkout, on any machine
        (tests/test_reference_data.py).
        """
        s = self.settings
        link = workdir / GUEST_PROGRAM
        pinned = str(program.pinned_copy(program.program_for(s, point)))
        if not (link.is_symlink() and os.readlink(link) == pinned):
            link.unlink(missing_ok=True)
            link.symlink_to(pinned)
        return [s["qemu"], "-0", GUEST_PROGRAM,
                "-plugin", plugin_arguments(point, s["cache"], workdir / STATS_FILE),
                GUEST_PROGRAM, *program.program_arguments(s, point)]

    def evaluate(self, point: Mapping[str, Any], workdir: Path) -> dict[str, float]:
        stats = workdir / STATS_FILE
        stats.unlink(missing_ok=True)
        status = run_with_timeout(self.command(point, workdir), workdir, self.timeout_s, env={})
        if status != 0:
            raise EvaluationFailed(exit_reason("the program", status,
                                               last_line(workdir / "program.err")), "crash")
        try:
            text = stats.read_text()
        except OSError:
            raise EvaluationFailed("no cache statistics written", "garbage") from None
        counters = parse_stats(text)
        return {"cycles": cycles(counters, self.settings["timing"]), **counters}
