"""Workload-aware features: what the cache hierarchy of each design point will see,
derived from one profiling run per workload point (:mod:`.profiles`).

For a design point and its workload's profile:
- sets per level (log2);
- data footprint / L1D and L2 capacity, instruction footprint / L1I capacity (log2);
- estimated L1I and L1D misses: exact for that geometry (LRU stack distances of the
  whole instruction or data stream, per set);
- estimated L1D write-backs: exact for that geometry (the profile's dirty-line counts of
  the data stream);
- estimated L2 misses and write-backs: what the L1D sends the L2 through an LRU cache of
  the L2's geometry (recorded by the profile), plus the L1I's misses (:mod:`.estimate`);
- estimated cycles with the spec's timing model (:mod:`.timing`) from those counts.
Counts enter as log2(1 + count). Column names start with ``est_``.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from ...errors import SpecError
from . import profiles, timing
from .estimate import behind_l1d, l2_counts
from .geometry import CACHE_FIELDS
from .program import program_arguments, program_for

TYPE_CHECKING = False  # annotations only
if TYPE_CHECKING:
    from ...resolved import ResolvedSpec

DERIVED = ("est_l1i_sets", "est_l1d_sets", "est_l2_sets", "est_l1i_fit", "est_l1d_fit",
           "est_l2_fit", "est_l1i_misses", "est_l1d_misses", "est_l2_misses",
           "est_l1d_writebacks", "est_l2_writebacks", "est_instructions", "est_cycles")


def _misses(stream: dict, line: np.ndarray, sets: np.ndarray, ways: np.ndarray) -> np.ndarray:
    """Misses of LRU caches (line, sets, ways) on one profiled stream, vectorised."""
    out = np.empty(len(line))
    for (size, s, w) in set(zip(line.tolist(), sets.tolist(), ways.tolist(), strict=True)):
        row = stream[str(size)][str(s)]
        if w >= len(row) - 1:
            raise SpecError(f"{w} ways: the profile records up to {len(row) - 2} ways")
        out[(line == size) & (sets == s) & (ways == w)] = row[0] - sum(row[1:w + 1])
    return out


def _writebacks(profile: dict, line: np.ndarray, sets: np.ndarray,
                ways: np.ndarray) -> np.ndarray:
    """Write-backs of write-back, write-allocate LRU caches (line, sets, ways) on the
    profiled data stream, vectorised."""
    table = profile["writebacks"]["data"]
    out = np.empty(len(line))
    for (size, s, w) in set(zip(line.tolist(), sets.tolist(), ways.tolist(), strict=True)):
        row = table[str(size)][str(s)]
        if w > len(row):
            raise SpecError(f"{w} ways: the profile records up to {len(row)} ways")
        out[(line == size) & (sets == s) & (ways == w)] = row[w - 1]
    return out


def _behind(profile: dict, g: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """(misses, write-backs) of each point's L2 on what its L1D sends it, NaN where the
    profile does not have that L1D, vectorised."""
    keys = np.stack([g["line"], g["l1d_sets"], g["l1d_ways"], g["l2_sets"], g["l2_ways"]])
    misses, writebacks = np.full(keys.shape[1], np.nan), np.full(keys.shape[1], np.nan)
    for key in {tuple(k) for k in keys.T.tolist()}:
        found = behind_l1d(profile, *key)
        if found is not None:
            where = np.all(keys == np.array(key)[:, None], axis=0)
            misses[where], writebacks[where] = found
    return misses, writebacks


def behind_sizes(spec: ResolvedSpec, g: dict[str, np.ndarray]) -> list[int] | None:
    """The L1D sizes (KiB) whose L2 the profiles record behind them
    (:func:`.profiles.behind_l1d_sizes`): the spec's own, its parameter's values, else
    these points'."""
    values = next((p.values for p in spec.parameters
                   if p.name == "l1d_size_kib"), None)
    return profiles.behind_l1d_sizes(spec.settings, values if values else
                                     (g["l1d_size"] // 1024).tolist())


def geometry(frame: pd.DataFrame, spec: ResolvedSpec) -> dict[str, np.ndarray]:
    fixed = spec.settings.get("cache", {})
    values = {name: (frame[name].to_numpy(dtype=np.int64) if name in frame.columns
                     else np.full(len(frame), int(fixed.get(name, default))))
              for name, default in CACHE_FIELDS.items()}
    line = values["line_bytes"]
    out = {"line": line}
    for level in ("l1i", "l1d", "l2"):
        size = values[f"{level}_size_kib"] * 1024
        out[f"{level}_size"], out[f"{level}_ways"] = size, values[f"{level}_ways"]
        out[f"{level}_sets"] = size // (values[f"{level}_ways"] * line)
    return out


def add_derived(frame: pd.DataFrame, spec: ResolvedSpec) -> pd.DataFrame:
    """``frame`` with the est_* columns, one profiling run per distinct workload point."""
    settings = spec.settings
    if "program" not in settings and "programs" not in settings:
        raise SpecError(f"{spec.spec_path}: backend.settings: derived features "
                        "need the study's program (kernel, source or binary)")
    constants = timing.of(settings)
    names = [p.name for p in spec.parameters]
    work_names = [p.name for p in spec.parameters if p.role == "workload"]
    frame = frame.copy()
    for column in DERIVED:
        frame[column] = np.nan
    g = geometry(frame, spec)
    behind_kib = behind_sizes(spec, g)
    groups = (frame.groupby(work_names, sort=False).indices if work_names
              else {(): np.arange(len(frame))})
    for key, index in groups.items():
        key = key if isinstance(key, tuple) else (key,)
        point = dict(zip(work_names, key, strict=True))
        point.update({n: frame[n].iloc[index[0]] for n in names if n not in point})
        prof = profiles.profile(program_for(settings, point),
                                program_arguments(settings, point), l1d_kib=behind_kib)
        sub = {k: v[index] for k, v in g.items()}
        streams = prof["streams"]
        est = {}
        for level, stream in (("l1i", "instr"), ("l1d", "data"), ("l2", "unified")):
            est[level] = _misses(streams[stream], sub["line"], sub[f"{level}_sets"],
                                 sub[f"{level}_ways"])
        lines = prof["footprint_lines"]
        footprint_data = np.array([lines["data"][str(size)] for size in sub["line"]])
        footprint_instr = np.array([lines["instr"][str(size)] for size in sub["line"]])
        est["l1d_wb"] = _writebacks(prof, sub["line"], sub["l1d_sets"], sub["l1d_ways"])
        l2 = (sub["line"], sub["l2_sets"], sub["l2_ways"])
        common = (est["l1i"], est["l1d"], est["l1d_wb"], est["l2"], _writebacks(prof, *l2),
                  _misses(streams["instr"], *l2))
        est["l2"], est["l2_wb"] = l2_counts(*common, minimum=np.minimum)
        if any(prof.get("l2_behind_l1d", {}).values()):  # profiled with behind_l1d
            counts = _behind(prof, sub)
            filtered = l2_counts(*common, behind=counts, minimum=np.minimum)
            has = ~np.isnan(counts[0])
            est["l2"], est["l2_wb"] = (np.where(has, f, w) for f, w in
                                       zip(filtered, (est["l2"], est["l2_wb"]), strict=True))
        cycles = timing.cycles({"instructions": prof["instructions"], "l1i_misses": est["l1i"],
                                "l1d_misses": est["l1d"], "l2_misses": est["l2"],
                                "l2_writebacks": est["l2_wb"]}, constants)
        columns = {
            "est_l1i_sets": np.log2(sub["l1i_sets"]), "est_l1d_sets": np.log2(sub["l1d_sets"]),
            "est_l2_sets": np.log2(sub["l2_sets"]),
            "est_l1i_fit": np.log2(footprint_instr * sub["line"] / sub["l1i_size"]),
            "est_l1d_fit": np.log2(footprint_data * sub["line"] / sub["l1d_size"]),
            "est_l2_fit": np.log2((footprint_data + footprint_instr) * sub["line"]
                                  / sub["l2_size"]),
            "est_l1i_misses": np.log2(1 + est["l1i"]), "est_l1d_misses": np.log2(1 + est["l1d"]),
            "est_l2_misses": np.log2(1 + est["l2"]),
            "est_l1d_writebacks": np.log2(1 + est["l1d_wb"]),
            "est_l2_writebacks": np.log2(1 + est["l2_wb"]),
            "est_instructions": np.full(len(index), np.log2(prof["instructions"])),
            "est_cycles": np.log2(cycles),
        }
        for column, values in columns.items():
            frame.loc[frame.index[index], column] = values
    return frame
