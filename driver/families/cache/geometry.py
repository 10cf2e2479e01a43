"""Cache hierarchy parameters of the cache family (embedded QEMU and gem5 backends).

A study names each cache field either as a spec parameter (swept) or as a fixed value
in ``backend.settings.cache`` (not swept). Sizes are KiB, lines bytes.
"""
from __future__ import annotations

from itertools import product

from ...errors import SpecError

TYPE_CHECKING = False  # typing costs the driver milliseconds at start-up
if TYPE_CHECKING:
    from typing import Any, Mapping

    from ...resolved import ResolvedSpec

#: Every cache field, with its default when neither swept nor fixed.
CACHE_FIELDS: dict[str, int] = {
    "l1d_size_kib": 32, "l1d_ways": 8,
    "l1i_size_kib": 32, "l1i_ways": 8,
    "l2_size_kib": 256, "l2_ways": 8,
    "line_bytes": 64,
}

#: Schema for ``backend.settings.cache`` (fixed values of fields that are not swept).
CACHE_SETTINGS_SCHEMA = {
    "type": "object", "additionalProperties": False, "default": {},
    "properties": {
        **{name: {"type": "integer", "minimum": 1} for name in CACHE_FIELDS},
        # Accepted only to say clearly that it must equal line_bytes.
        "l2_line_bytes": {"type": "integer", "minimum": 1},
    },
}


class CacheLevel:
    """One cache: capacity in bytes, associativity, line size in bytes."""

    __slots__ = ("size_bytes", "ways", "line_bytes")

    def __init__(self, size_bytes: int, ways: int, line_bytes: int):
        self.size_bytes, self.ways, self.line_bytes = size_bytes, ways, line_bytes

    @property
    def sets(self) -> int:
        return self.size_bytes // (self.ways * self.line_bytes)

    def __eq__(self, other) -> bool:
        return isinstance(other, CacheLevel) and (
            (self.size_bytes, self.ways, self.line_bytes)
            == (other.size_bytes, other.ways, other.line_bytes))


class CacheHierarchy:
    """L1 instruction, L1 data and unified L2 caches (plain classes: the driver imports
    this module on every evaluation and dataclasses cost milliseconds)."""

    __slots__ = ("l1i", "l1d", "l2")

    def __init__(self, l1i: CacheLevel, l1d: CacheLevel, l2: CacheLevel):
        self.l1i, self.l1d, self.l2 = l1i, l1d, l2


def _is_power_of_two(n: float) -> bool:
    return n >= 1 and float(n).is_integer() and (int(n) & (int(n) - 1)) == 0


def hierarchy(point: Mapping[str, Any], fixed: Mapping[str, int]) -> CacheHierarchy:
    """The cache hierarchy of one design point; ``fixed`` fills unswept fields."""
    value = {name: int(point[name]) if name in point else int(fixed.get(name, default))
             for name, default in CACHE_FIELDS.items()}
    line = value["line_bytes"]

    def level(prefix: str) -> CacheLevel:
        return CacheLevel(value[f"{prefix}_size_kib"] * 1024, value[f"{prefix}_ways"], line)

    return CacheHierarchy(level("l1i"), level("l1d"), level("l2"))


def check_geometry(spec: ResolvedSpec, fixed: Mapping[str, int], where: str) -> None:
    """Raise SpecError unless every combination of allowed values is a real cache:
    sets = size / (ways x line) a positive power of two, line a power of two, and the L2
    line equal to the L1 line (one line size is modelled); no field both swept and fixed."""
    params = {p.name: (i, p.values) for i, p in enumerate(spec.parameters)}
    for name in fixed:
        if name in params:
            raise SpecError(f"{where}: backend.settings.cache.{name}: {name} is also swept "
                            f"(parameters[{params[name][0]}]); sweep it or fix it, not both")

    def candidates(name: str) -> tuple[str, list]:
        if name in params:
            i, values = params[name]
            return f"parameters[{i}].values", list(values)
        return f"backend.settings.cache.{name}", [fixed.get(name, CACHE_FIELDS[name])]

    if "l2_line_bytes" in fixed:
        line_values = candidates("line_bytes")[1]
        if any(fixed["l2_line_bytes"] != line for line in line_values):
            raise SpecError(f"{where}: backend.settings.cache.l2_line_bytes: L2 line "
                            f"({fixed['l2_line_bytes']} B) must equal the L1 line "
                            f"({', '.join(map(str, line_values))} B): one line size is modelled")
    for name in CACHE_FIELDS:
        field, values = candidates(name)
        bad = [v for v in values if not (isinstance(v, int) and v >= 1)]
        if bad:
            raise SpecError(f"{where}: {field}: {name} = {bad[0]!r}; a cache size, "
                            "associativity or line size is a positive whole number")
    line_field, lines = candidates("line_bytes")
    for line in lines:
        if not _is_power_of_two(line):
            raise SpecError(f"{where}: {line_field}: line size {line} B is not a power of two; "
                            "allowed: 8, 16, 32, 64, 128, ...")
    for level in ("l1i", "l1d", "l2"):
        size_field, sizes = candidates(f"{level}_size_kib")
        ways_field, ways_values = candidates(f"{level}_ways")
        for size, ways, line in product(sizes, ways_values, lines):
            sets = size * 1024 / (ways * line)
            if not _is_power_of_two(sets):
                raise SpecError(
                    f"{where}: {size_field}: impossible {level.upper()} geometry: {size} KiB "
                    f"with {ways} ways ({ways_field}) and {line} B lines gives {sets:g} sets; "
                    "size / (ways x line) must be a positive power of two")
