"""How the profile's counts combine into the L2's estimated misses and write-backs: one
rule for the derived features (numpy arrays) and the ``profile_estimate`` backend (floats).

The L2 is estimated as if it saw the whole stream through an LRU cache of its geometry
(misses: the unified stream; write-backs: the data stream's dirty lines), which is close
when it is several times the L1s. Two bounds hold for the real one, which sees only the L1
misses and the L1D write-backs: it misses at most once per access it gets, and writes back
at most the lines the L1D wrote back into it (no other line can be dirty there).
"""
from __future__ import annotations


def l2_counts(l1i_misses, l1d_misses, l1d_writebacks, unified_misses, data_writebacks,
              minimum=min):
    """(L2 misses, L2 write-backs); ``minimum``: ``min`` for floats, ``np.minimum`` for
    arrays."""
    accesses = l1i_misses + l1d_misses + l1d_writebacks
    return minimum(unified_misses, accesses), minimum(data_writebacks, l1d_writebacks)
