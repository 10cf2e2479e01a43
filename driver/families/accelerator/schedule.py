"""A schedule of a layer on an accelerator: tiling, loop order and spatial mapping.

Every loop bound of the layer is split into one factor per level of the loop nest; the
product of a dimension's factors is its bound. Levels, inner to outer (:data:`LEVELS`):
``macs`` (spatial: across one PE's MACs), ``accum``, ``weight``, ``input`` (temporal loops
of the PE's buffers), ``pes`` (spatial: across PEs), ``global``, ``dram`` (temporal). A
temporal level also orders its loops (:attr:`Schedule.permutations`, innermost first).

The tile a storage level holds is the product of the factors at that level and every level
inside it; :func:`violations` checks tiles against capacities and spatial factors against
fan-outs, the two constraints of CoSA (and of Timeloop's mapping check).
"""
from __future__ import annotations

from dataclasses import dataclass

from .arch import STORAGE, Accelerator
from .layers import DIMS, Layer

TYPE_CHECKING = False  # annotations only
if TYPE_CHECKING:
    from typing import Any, Mapping

LEVELS = ("macs", "accum", "weight", "input", "pes", "global", "dram")
SPATIAL = ("macs", "pes")
TEMPORAL = tuple(level for level in LEVELS if level not in SPATIAL)
BUFFERS = ("accum", "weight", "input", "global")  # levels with a capacity
#: Which loop dimensions index each data type (the rest are irrelevant to it: reuse).
RELEVANT = {"W": "RSCK", "I": "RSPQCN", "O": "PQKN"}


@dataclass(frozen=True)
class Schedule:
    """``factors[l][d]``: the factor of dimension ``DIMS[d]`` at level ``LEVELS[l]``;
    ``permutations[t]``: loop order of ``TEMPORAL[t]``, innermost first (e.g. "RSPQCKN")."""

    factors: tuple[tuple[int, ...], ...]
    permutations: tuple[str, ...]

    def at(self, level: str) -> dict[str, int]:
        return dict(zip(DIMS, self.factors[LEVELS.index(level)], strict=True))

    def order(self, level: str) -> str:
        return self.permutations[TEMPORAL.index(level)]

    def tile(self, level: str) -> dict[str, int]:
        """Loop bounds of the tile one instance of ``level`` holds (its level and inner)."""
        out = dict.fromkeys(DIMS, 1)
        for row in self.factors[:LEVELS.index(level) + 1]:
            for d, f in zip(DIMS, row, strict=True):
                out[d] *= f
        return out

    def spatial(self, level: str) -> int:
        """Instances used by the spatial level ``level`` (product of its factors)."""
        out = 1
        for f in self.factors[LEVELS.index(level)]:
            out *= f
        return out

    def to_text(self) -> dict:
        """A mapping file's content: ``{factors: {level: "R3 S1 ..."}, permutations: ...}``."""
        return {"factors": {lv: " ".join(f"{d}{f}" for d, f in zip(DIMS, row, strict=True))
                            for lv, row in zip(LEVELS, self.factors, strict=True)},
                "permutations": dict(zip(TEMPORAL, self.permutations, strict=True))}


def footprint(kind: str, tile: dict[str, int], stride: int) -> int:
    """Words of data type ``kind`` (W, I, O) a tile of loop bounds ``tile`` touches."""
    t = tile
    if kind == "W":
        return t["R"] * t["S"] * t["C"] * t["K"]
    if kind == "O":
        return t["P"] * t["Q"] * t["K"] * t["N"]
    width = (t["P"] - 1) * stride + t["R"]
    height = (t["Q"] - 1) * stride + t["S"]
    return t["N"] * t["C"] * width * height


def words_held(schedule: Schedule, layer: Layer, level: str) -> int:
    tile = schedule.tile(level)
    return sum(footprint(kind, tile, layer.stride) for kind in STORAGE[level])


def fanout(accel: Accelerator, level: str) -> int:
    return accel.macs_per_pe if level == "macs" else accel.pes


def violations(accel: Accelerator, layer: Layer, schedule: Schedule) -> list[str]:
    """Constraints ``schedule`` breaks on ``accel``, in level order: ``capacity:<level>``
    (a tile larger than the buffer), ``spatial:<level>`` (more instances than the fan-out)
    or ``bounds:<dim>`` (factors that do not multiply to the layer's bound)."""
    out = []
    tile = [1] * len(DIMS)
    for level, row in zip(LEVELS, schedule.factors, strict=True):
        tile = [t * f for t, f in zip(tile, row, strict=True)]
        if level in SPATIAL:
            used = 1
            for f in row:
                used *= f
            if used > fanout(accel, level):
                out.append(f"spatial:{level}")
        elif level in BUFFERS:
            bounds = dict(zip(DIMS, tile, strict=True))
            held = sum(footprint(kind, bounds, layer.stride) for kind in STORAGE[level])
            words = accel.capacity_words(level)
            if words is not None and held > words:
                out.append(f"capacity:{level}")
    out[:0] = [f"bounds:{d}" for d, t, b in zip(DIMS, tile, layer.bounds(), strict=True)
               if t != b]
    return out


def check_text(text: Mapping[str, Any], layer: Layer, where: str) -> Schedule:
    """A schedule from a mapping file's content (:meth:`Schedule.to_text`), or SpecError."""
    from collections.abc import Mapping as AnyMapping

    from ...errors import SpecError

    if not isinstance(text, AnyMapping) or set(text) != {"factors", "permutations"}:
        raise SpecError(f"{where}: a mapping needs exactly the keys factors and permutations")
    rows = []
    for level in LEVELS:
        words = str(text["factors"].get(level, "")).split()
        found = {w[:1]: w[1:] for w in words}
        if sorted(found) != sorted(DIMS) or not all(v.isdigit() and int(v) > 0
                                                    for v in found.values()):
            raise SpecError(f"{where}: factors.{level}: give each of {' '.join(DIMS)} a "
                            "positive factor, e.g. 'R3 S3 P1 Q1 C4 K4 N1'")
        rows.append(tuple(int(found[d]) for d in DIMS))
    orders = []
    for level in TEMPORAL:
        order = str(text["permutations"].get(level, ""))
        if sorted(order) != sorted(DIMS):
            raise SpecError(f"{where}: permutations.{level}: a permutation of "
                            f"{''.join(DIMS)}, innermost first")
        orders.append(order)
    schedule = Schedule(tuple(rows), tuple(orders))
    bad = [v for v in violations(Accelerator(1, 1, 1, 1, 1, 1), layer, schedule)
           if v.startswith("bounds:")]
    if bad:
        bounds = " ".join(f"{d}{b}" for d, b in zip(DIMS, layer.bounds(), strict=True))
        raise SpecError(f"{where}: factors of {', '.join(b[7:] for b in bad)} do not multiply "
                        f"to layer {layer.name}'s bounds {bounds}")
    return schedule
