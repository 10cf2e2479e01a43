"""Features of a design point computed without evaluating it (Hong, section 5.1).

Two sets, in model-input order:

- ``schedule`` (the paper's raw features): log2 of every factor at every level (7 levels
  x 7 dimensions), each dimension's position in each temporal level's loop order (5 x 7),
  log2 of the layer's loop bounds and its stride. With the accelerator parameters these
  are the 132-feature set's counterpart (here 6 + 92).
- ``cosa`` (the paper's analytically preprocessed features, after CoSA): utilisation of
  each buffer by each data type it keeps; log2 of each data type's tile at each buffer;
  the spatial factor product of each fan-out, the share of MACs used and the share of
  each fan-out in use; log2 of the
  words each level reads and is written per instance (:func:`transfers`: reuse-aware,
  multicast, partial sums) and of the cycles its bandwidth needs for them; compute cycles;
  and ``est_cycles``, the largest of those (a throughput model: log2 cycles) which a model
  may learn the correction of.
"""
from __future__ import annotations

import math

from .arch import STORAGE
from .layers import DIMS
from .schedule import BUFFERS, LEVELS, RELEVANT, SPATIAL, TEMPORAL, footprint

SCHEDULE_FEATURES = (
    tuple(f"f_{level}_{d}" for level in LEVELS for d in DIMS)
    + tuple(f"order_{level}_{d}" for level in TEMPORAL for d in DIMS)
    + tuple(f"layer_{d}" for d in DIMS) + ("layer_stride",)
)
_KEPT = tuple((level, kind) for level in BUFFERS for kind in STORAGE[level])
_SENDERS = ("dram", "global", "input", "weight", "accum")  # levels that feed another
PER_PE = ("accum", "weight", "input")
COSA = (
    tuple(f"util_{level}_{kind}" for level, kind in _KEPT)
    + tuple(f"tile_{level}_{kind}" for level in BUFFERS for kind in "WIO")
    + ("spatial_macs", "spatial_pes", "mac_share", "pe_share", "pe_mac_share")
    + tuple(f"{way}_{level}" for level in _SENDERS for way in ("reads", "writes"))
    + tuple(f"bw_cycles_{level}" for level in _SENDERS)
    + ("compute_cycles", "est_cycles")
)


def _parent(level: str, kind: str) -> str | None:
    """The next level outside ``level`` that keeps ``kind`` (None above DRAM)."""
    for outer in LEVELS[LEVELS.index(level) + 1:]:
        if outer not in SPATIAL and kind in STORAGE[outer]:
            return outer
    return None


def transfers(accel, layer, schedule) -> dict[str, tuple[float, float]]:
    """(words read, words written) per instance of each level over the whole layer, as a
    throughput model counts them: a level reads what it sends to the levels below it (one
    copy per distinct child tile: multicast) and partial sums sent back down; it is written
    what it is filled with and the partial sums drained into it (reduced in the network).
    A run of loops irrelevant to a data type just outside a buffer re-uses its tile."""
    reads = dict.fromkeys(_SENDERS, 0.0)
    writes = dict.fromkeys(_SENDERS, 0.0)
    bounds = dict(zip(DIMS, layer.bounds(), strict=True))
    for child in ("accum", "weight", "input", "global"):
        child_used = schedule.spatial("pes") if child in PER_PE else 1
        for kind in STORAGE[child]:
            parent = _parent(child, kind)
            assert parent is not None  # every buffer's data has a level above it (DRAM)
            words = footprint(kind, schedule.tile(child), layer.stride)
            loops = []  # temporal loops outside the child, innermost first
            distinct = 1  # children holding different tiles of this data type
            for level in LEVELS[LEVELS.index(child) + 1:]:
                row = schedule.at(level)
                if level in SPATIAL:
                    if LEVELS.index(level) < LEVELS.index(parent):
                        distinct *= math.prod(row[d] for d in RELEVANT[kind])
                    continue
                loops += [(d, row[d]) for d in schedule.order(level) if row[d] > 1]
            while loops and loops[0][0] not in RELEVANT[kind]:
                loops.pop(0)
            fills = math.prod(f for _, f in loops)
            sent = words * fills * distinct  # distinct tiles moved, over the run
            writes[child] += words * fills * child_used
            if kind == "O":  # drained up, refilled from the parent after the first visit
                total = footprint("O", bounds, layer.stride)
                writes[parent] += sent
                reads[parent] += max(0.0, sent - total)
                reads[child] += words * fills * child_used  # the drain reads the child
            else:
                reads[parent] += sent
    # The PE buffers feed the MACs: per step, each distinct word a PE's MACs use.
    steps = layer.macs / (schedule.spatial("macs") * schedule.spatial("pes"))
    used_pes = schedule.spatial("pes")
    macs = schedule.at("macs")
    for level, kind in (("weight", "W"), ("input", "I"), ("accum", "O")):
        words = math.prod(macs[d] for d in RELEVANT[kind]) * steps * used_pes
        reads[level] += words
        if kind == "O":
            writes[level] += words
    return {level: (reads[level] / instances(accel, schedule, level),
                    writes[level] / instances(accel, schedule, level)) for level in _SENDERS}


def instances(accel, schedule, level: str) -> int:
    """Instances of ``level`` a schedule uses (the PEs it maps to, for a PE buffer)."""
    return schedule.spatial("pes") if level in PER_PE else 1


def features(accel, layer, schedule) -> dict[str, float]:
    """Both feature sets of one design point (names in :data:`SCHEDULE_FEATURES` + COSA)."""
    out = {}
    for level, row in zip(LEVELS, schedule.factors, strict=True):
        for d, f in zip(DIMS, row, strict=True):
            out[f"f_{level}_{d}"] = math.log2(f)
    for level, order in zip(TEMPORAL, schedule.permutations, strict=True):
        for position, d in enumerate(order):
            out[f"order_{level}_{d}"] = float(position)
    for d, bound in zip(DIMS, layer.bounds(), strict=True):
        out[f"layer_{d}"] = math.log2(bound)
    out["layer_stride"] = float(layer.stride)
    for level in BUFFERS:
        tile = schedule.tile(level)
        for kind in "WIO":
            words = footprint(kind, tile, layer.stride)
            out[f"tile_{level}_{kind}"] = math.log2(words)
            if kind in STORAGE[level]:
                out[f"util_{level}_{kind}"] = words / accel.capacity_words(level)
    used = schedule.spatial("macs") * schedule.spatial("pes")
    out["spatial_macs"] = math.log2(schedule.spatial("macs"))
    out["spatial_pes"] = math.log2(schedule.spatial("pes"))
    out["mac_share"] = used / accel.macs
    # Each fan-out's share in use (above 1: more instances than the hardware has).
    out["pe_share"] = schedule.spatial("pes") / accel.pes
    out["pe_mac_share"] = schedule.spatial("macs") / accel.macs_per_pe
    compute = layer.macs / used
    out["compute_cycles"] = math.log2(compute)
    bound = compute
    for level, (read, written) in transfers(accel, layer, schedule).items():
        out[f"reads_{level}"] = math.log2(1 + read)
        out[f"writes_{level}"] = math.log2(1 + written)
        cycles = max(read, written) / accel.words_per_cycle(level)
        out[f"bw_cycles_{level}"] = math.log2(1 + cycles)
        bound = max(bound, cycles)
    out["est_cycles"] = math.log2(bound)
    return out


def add_derived(frame, settings):
    """``frame`` with every column of both sets, one design point per row."""
    import pandas as pd

    from .designs import design

    rows = []
    for point in frame.to_dict("records"):
        accel, layer, schedule, _ = design(point, settings)
        rows.append(features(accel, layer, schedule))
    derived = pd.DataFrame(rows, index=frame.index, columns=SCHEDULE_FEATURES + COSA)
    return pd.concat([frame.drop(columns=[c for c in derived.columns if c in frame]),
                      derived], axis=1)
