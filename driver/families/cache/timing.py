"""The in-order blocking timing model that turns cache counters into cycles::

    cycles = instructions
           + l2_hit_cycles    x (l1i_misses + l1d_misses)
           + memory_cycles    x l2_misses
           + writeback_cycles x l2_writebacks

(one cycle per instruction; every L1 miss waits for L2; every L2 miss waits for memory;
every dirty L2 eviction occupies the memory bus). The embedded backend applies it to the
cache simulator's counters; the family's estimate applies it to counters derived from a
profile. The constants live in the spec (``backend.settings.timing``).
"""
from __future__ import annotations

TYPE_CHECKING = False  # typing costs the driver milliseconds at start-up
if TYPE_CHECKING:
    from typing import Any, Mapping

#: Defaults of ``backend.settings.timing`` (cycles per event).
DEFAULTS = {"l2_hit_cycles": 12, "memory_cycles": 100, "writeback_cycles": 100}

TIMING_SETTINGS_SCHEMA = {
    "type": "object", "additionalProperties": False, "default": {},
    "properties": {name: {"type": "number", "minimum": 0, "default": value}
                   for name, value in DEFAULTS.items()},
}


def of(settings: Mapping[str, Any]) -> dict[str, float]:
    """The study's timing constants, defaults filled (a gem5 study has none of its own)."""
    return {**DEFAULTS, **settings.get("timing", {})}


def cycles(counters: Mapping[str, Any], timing: Mapping[str, float]):
    """The model above; counters may be floats or numpy arrays."""
    return (counters["instructions"]
            + timing["l2_hit_cycles"] * (counters["l1i_misses"] + counters["l1d_misses"])
            + timing["memory_cycles"] * counters["l2_misses"]
            + timing["writeback_cycles"] * counters["l2_writebacks"])
