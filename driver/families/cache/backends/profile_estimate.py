"""An analytic backend of the cache family: the profile's estimate of a design point's
cycles, computed in Python without simulating the point.

One profiling run per workload point (:mod:`driver.families.cache.profiles`, cached on
disk and here in memory) records per-set LRU stack-distance histograms; from them the L1I
and L1D misses and L1D write-backs of the point's exact geometry follow, and an L2 estimate
(:mod:`driver.families.cache.estimate`). Cycles come from the family's timing model. This
is the ``est_cycles`` feature as a backend: a fast first screen of a space, and an
evaluation cheap enough (tens of microseconds) to measure what orchestration itself costs
(``bench/orchestration.py``). Its numbers are an estimate: a study that needs simulated
cycles uses ``qemu_riscv`` or ``gem5``.
"""
from __future__ import annotations

from pathlib import Path

from ....errors import EvaluationFailed
from ...backend import Backend as _Base
from .. import find_qemu, geometry, not_built, profiles, program, timing
from ..estimate import behind_l1d, l2_counts

TYPE_CHECKING = False  # typing costs the driver milliseconds at start-up
if TYPE_CHECKING:
    from typing import Any, Mapping

RESPONSES = ("cycles", "instructions", "l1i_misses", "l1d_misses", "l2_misses",
             "l1d_writebacks", "l2_writebacks")


def misses(stream: Mapping[str, Any], line: int, sets: int, ways: int) -> float:
    """LRU misses of a (line, sets, ways) cache on one profiled stream."""
    try:
        row = stream[str(line)][str(sets)]
    except KeyError:
        raise EvaluationFailed(f"the profile has no {sets}-set cache of {line} B lines",
                               "error") from None
    if ways >= len(row) - 1:
        raise EvaluationFailed(f"{ways} ways: the profile records up to {len(row) - 2}",
                               "error")
    return float(row[0] - sum(row[1:ways + 1]))


def writebacks(profile: Mapping[str, Any], line: int, sets: int, ways: int) -> float:
    """Write-backs of a write-back, write-allocate LRU cache on the profiled data stream."""
    try:
        row = profile["writebacks"]["data"][str(line)][str(sets)]
    except KeyError:
        raise EvaluationFailed(f"the profile has no write-backs of a {sets}-set cache of "
                               f"{line} B lines", "error") from None
    if ways > len(row):
        raise EvaluationFailed(f"{ways} ways: the profile records up to {len(row)}", "error")
    return float(row[ways - 1])


def estimate(profile: Mapping[str, Any], h, constants: Mapping[str, float]) -> dict:
    """Responses of one cache hierarchy ``h`` on one workload's profile."""
    streams = profile["streams"]
    counts = {"instructions": float(profile["instructions"]),
              "l1i_misses": misses(streams["instr"], h.l1i.line_bytes, h.l1i.sets, h.l1i.ways),
              "l1d_misses": misses(streams["data"], h.l1d.line_bytes, h.l1d.sets, h.l1d.ways)}
    counts["l1d_writebacks"] = writebacks(profile, h.l1d.line_bytes, h.l1d.sets, h.l1d.ways)
    l2 = (h.l2.line_bytes, h.l2.sets, h.l2.ways)
    counts["l2_misses"], counts["l2_writebacks"] = l2_counts(
        counts["l1i_misses"], counts["l1d_misses"], counts["l1d_writebacks"],
        misses(streams["unified"], *l2), writebacks(profile, *l2),
        misses(streams["instr"], *l2),
        behind_l1d(profile, h.l1d.line_bytes, h.l1d.sets, h.l1d.ways, h.l2.sets, h.l2.ways))
    counts["cycles"] = float(timing.cycles(counts, constants))
    return counts


class Backend(_Base):
    name = "profile_estimate"
    family = "cache"
    in_process = True  # pure Python: called directly, no worker process needed
    settings_properties = {"timing": timing.TIMING_SETTINGS_SCHEMA,
                           "qemu": {"type": "string", "default": "qemu-riscv64"}}  # profiles
    response_names = RESPONSES
    objectives = ("cycles",)

    def __init__(self, settings: Mapping[str, Any], timeout_s: float = 600.0):
        super().__init__(settings, timeout_s)
        self._profiles: dict[tuple, dict] = {}

    @classmethod
    def complete_settings(cls, settings: dict[str, Any], where: str, spec_dir: Path) -> None:
        find_qemu(settings, where)

    @classmethod
    def unavailable_reason(cls, settings: Mapping[str, Any]) -> str | None:
        return not_built(str(profiles.PLUGIN), settings)

    def evaluate(self, point: Mapping[str, Any], workdir: Path) -> dict[str, float]:
        s = self.settings
        h = geometry.hierarchy(point, s["cache"])
        # behind_l1d: this point's L1D only (a space's points share a few L1D sizes).
        behind = profiles.behind_l1d_sizes(s, [h.l1d.size_bytes // 1024])
        key = (program.program_for(s, point), tuple(program.program_arguments(s, point)),
               tuple(behind or ()))
        profile = self._profiles.get(key)
        if profile is None:
            profile = profiles.profile(key[0], list(key[1]), s["qemu"], self.timeout_s,
                                       l1d_kib=behind)
            self._profiles[key] = profile
        return estimate(profile, h, timing.of(s))
