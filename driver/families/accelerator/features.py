"""Features of a design point computed without evaluating it (Hong, section 5.1).

Two sets, in model-input order:

- ``schedule`` (the paper's raw features): log2 of every factor at every level (7 levels
  x 7 dimensions), each dimension's position in each temporal level's loop order (5 x 7),
  log2 of the layer's loop bounds and its stride. With the accelerator parameters these
  are the 132-feature set's counterpart (here 6 + 92).
- ``cosa`` (the paper's analytically preprocessed features, after CoSA): utilisation of
  each buffer by each data type it keeps; log2 of each data type's tile at each buffer;
  the spatial factor product of each fan-out and the share of MACs used; log2 of the
  words each level sends to the level below (reuse-aware: a run of loops irrelevant to a
  data type just above a buffer re-uses the tile) and of the cycles each level's bandwidth
  needs for them; compute cycles; and ``est_cycles``, the largest of those (a roofline
  estimate: log2 cycles) which a model may learn the correction of.
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
COSA = (
    tuple(f"util_{level}_{kind}" for level, kind in _KEPT)
    + tuple(f"tile_{level}_{kind}" for level in BUFFERS for kind in "WIO")
    + ("spatial_macs", "spatial_pes", "mac_share")
    + tuple(f"traffic_{level}" for level in _SENDERS)
    + tuple(f"bw_cycles_{level}" for level in _SENDERS)
    + ("compute_cycles", "est_cycles")
)


def _parent(level: str, kind: str) -> str | None:
    """The next level outside ``level`` that keeps ``kind`` (None above DRAM)."""
    for outer in LEVELS[LEVELS.index(level) + 1:]:
        if outer not in SPATIAL and kind in STORAGE[outer]:
            return outer
    return None


def traffic(accel, layer, schedule) -> dict[str, float]:
    """Words each level sends to the levels below it, over the whole layer, all
    instances (reads, plus partial sums written back and read again for outputs)."""
    sent = dict.fromkeys(_SENDERS, 0.0)
    for child in ("accum", "weight", "input", "global"):
        for kind in STORAGE[child]:
            parent = _parent(child, kind)
            words = footprint(kind, schedule.tile(child), layer.stride)
            loops = []  # temporal loops outside the child, innermost first
            spatial_relevant = 1
            for level in LEVELS[LEVELS.index(child) + 1:]:
                row = schedule.at(level)
                if level in SPATIAL:
                    if LEVELS.index(level) < LEVELS.index(parent):
                        spatial_relevant *= math.prod(row[d] for d in RELEVANT[kind])
                    continue
                loops += [(d, row[d]) for d in schedule.order(level) if row[d] > 1]
            while loops and loops[0][0] not in RELEVANT[kind]:
                loops.pop(0)  # the tile stays put across these: reuse
            fills = math.prod(f for _, f in loops) * spatial_relevant
            sent[parent] += words * fills * (2 if kind == "O" else 1)
    # The PE buffers feed the MACs: per cycle, each distinct word the MACs use.
    per_step = {kind: math.prod(schedule.at("macs")[d] for d in RELEVANT[kind])
                for kind in "WIO"}
    steps = layer.macs / max(1, schedule.spatial("macs") * schedule.spatial("pes"))
    used_pes = schedule.spatial("pes")
    sent["weight"] += per_step["W"] * steps * used_pes
    sent["input"] += per_step["I"] * steps * used_pes
    sent["accum"] += 2 * per_step["O"] * steps * used_pes
    return sent


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
    compute = layer.macs / used
    out["compute_cycles"] = math.log2(compute)
    bound = compute
    for level, words in traffic(accel, layer, schedule).items():
        out[f"traffic_{level}"] = math.log2(1 + words)
        cycles = words / (accel.words_per_cycle(level) * accel.instances(level))
        out[f"bw_cycles_{level}"] = math.log2(1 + cycles)
        bound = max(bound, cycles)
    out["est_cycles"] = math.log2(bound)
    return out


def add_derived(frame, settings):
    """``frame`` with every column of both sets, one design point per row."""
    import pandas as pd

    from . import design

    rows = []
    for point in frame.to_dict("records"):
        accel, layer, schedule, _ = design(point, settings)
        rows.append(features(accel, layer, schedule))
    derived = pd.DataFrame(rows, index=frame.index, columns=SCHEDULE_FEATURES + COSA)
    return pd.concat([frame.drop(columns=[c for c in derived.columns if c in frame]),
                      derived], axis=1)
