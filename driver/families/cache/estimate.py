"""How the profile's counts combine into the L2's estimated misses and write-backs: one
rule for the derived features (numpy arrays) and the ``profile_estimate`` backend (floats).

The L2 sees the L1I's misses and what the L1D sends it: each L1D miss's fill and, when the
L1D's victim was dirty, its write-back. The profile records the L1D's part exactly for the
L1D geometries it was run for (``l2_behind_l1d``: that stream through every L2 geometry);
the L1I's misses are added as misses of the L2 unless the instruction stream alone would
hit in an L2 of that geometry (``min(l1i misses, instruction-stream misses at the L2's
geometry)``). What is left out is how the two streams compete for the L2's lines: the
L1D's part is a lower bound on the real L2's misses and write-backs, and the real misses
exceed it by less than twice the L1I's misses (``tests/test_profile_plugin.py``). The
profile runs those L2s for L2s up to 8x the L1D (``behind_ratio``); larger ones see nearly
the whole stream. It costs 8-20x the profiling time of the rest (``bench/l2_estimate.py``),
so it is asked for: ``backend.settings.l2_estimate: behind_l1d``.

For an L1D the profile was not run for, the L2 is estimated as if it saw the whole stream
through an LRU cache of its geometry (misses: the unified stream; write-backs: the data
stream's dirty lines), which is close when it is several times the L1s, within two bounds
that hold for the real one: it misses at most once per access it gets, and writes back at
most the lines the L1D wrote back into it.
"""
from __future__ import annotations

TYPE_CHECKING = False  # typing costs the driver milliseconds at start-up
if TYPE_CHECKING:
    from typing import Any, Mapping


def behind_l1d(profile: Mapping[str, Any], line: int, l1d_sets: int, l1d_ways: int,
               l2_sets: int, l2_ways: int) -> tuple[float, float] | None:
    """(misses, write-backs) of an L2 of (line, l2_sets, l2_ways) on the stream an L1D of
    (line, l1d_sets, l1d_ways) sends it; None when the profile does not have that L1D."""
    entry = profile.get("l2_behind_l1d", {}).get(str(line), {}).get(f"{l1d_sets}x{l1d_ways}")
    if entry is None:
        return None
    row, wbs = entry["misses"].get(str(l2_sets)), entry["writebacks"].get(str(l2_sets))
    if row is None or wbs is None or l2_ways > len(wbs):
        return None
    return float(row[0] - sum(row[1:l2_ways + 1])), float(wbs[l2_ways - 1])


def l2_counts(l1i_misses, l1d_misses, l1d_writebacks, unified_misses, data_writebacks,
              instr_misses, behind=None, minimum=min):
    """(L2 misses, L2 write-backs). ``behind``: (misses, write-backs) of the L2 on the
    L1D's stream (:func:`behind_l1d`) or None; ``instr_misses``: the instruction stream's
    misses at the L2's geometry; ``minimum``: ``min`` for floats, ``np.minimum`` for
    arrays."""
    if behind is not None:
        misses, writebacks = behind
        return misses + minimum(l1i_misses, instr_misses), writebacks
    accesses = l1i_misses + l1d_misses + l1d_writebacks
    return minimum(unified_misses, accesses), minimum(data_writebacks, l1d_writebacks)
