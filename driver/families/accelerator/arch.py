"""The accelerator: a Simba-like design (Shao et al., MICRO'19) as CoSA and Hong model it.

Storage, outer to inner: DRAM (weights, inputs, outputs) -> a global buffer shared by all
PEs (inputs, outputs; weights bypass it) -> per PE an input buffer, a weight buffer and an
accumulation buffer (each keeps one data type) -> the PE's MACs. Two spatial fan-outs: the
global buffer to ``pes`` PEs, and each PE's accumulation buffer to its ``macs / pes`` MACs.

Every datum is one 8-bit word at every level, partial sums included, so a buffer of
``kib`` KiB holds ``kib * 1024`` words; both backends model exactly this. Every level
states its bandwidth in words per cycle (per instance), identical for both backends: a
backend that needs a port width takes it from here, never from its own defaults.
"""
from __future__ import annotations

from dataclasses import dataclass

#: Storage levels, inner to outer: name -> data types it keeps.
STORAGE = {
    "accum": ("O",),
    "weight": ("W",),
    "input": ("I",),
    "global": ("I", "O"),
    "dram": ("W", "I", "O"),
}
#: Word width of every datum at every level (bits).
WORD_BITS = 8
#: Bandwidths (words per cycle, per instance, read and write alike) of the shared levels.
DRAM_WORDS_PER_CYCLE = 8
GLOBAL_WORDS_PER_CYCLE = 32

ACCEL_FIELDS = {  # parameter -> (description, unit)
    "pes": ("processing elements", ""),
    "macs": ("multiply-accumulate units in all", ""),
    "accum_buffer_kib": ("accumulation buffer per PE", "KiB"),
    "weight_buffer_kib": ("weight buffer per PE", "KiB"),
    "input_buffer_kib": ("input buffer per PE", "KiB"),
    "global_buffer_kib": ("global buffer, shared by the PEs", "KiB"),
}


@dataclass(frozen=True)
class Accelerator:
    pes: int
    macs: int
    accum_buffer_kib: float
    weight_buffer_kib: float
    input_buffer_kib: float
    global_buffer_kib: float

    @property
    def macs_per_pe(self) -> int:
        return self.macs // self.pes

    def capacity_words(self, level: str) -> int | None:
        """Words one instance of ``level`` holds; None for DRAM (unbounded)."""
        if level == "dram":
            return None
        return int(round(getattr(self, f"{level}_buffer_kib") * 1024 * 8 / WORD_BITS))

    def buffer_words(self, level: str) -> int:
        """Words one instance of an on-chip buffer ``level`` holds."""
        words = self.capacity_words(level)
        if words is None:
            raise ValueError(f"{level} is not an on-chip buffer")
        return words

    def words_per_cycle(self, level: str) -> int:
        """Read (and write) bandwidth of one instance of ``level``."""
        if level == "dram":
            return DRAM_WORDS_PER_CYCLE
        if level == "global":
            return GLOBAL_WORDS_PER_CYCLE
        return self.macs_per_pe  # a PE buffer feeds each of its MACs a word per cycle

    def instances(self, level: str) -> int:
        return 1 if level in ("dram", "global") else self.pes

    def problems(self) -> list[str]:
        """What makes this an impossible design (empty when buildable)."""
        out = []
        if self.pes < 1 or self.macs < 1:
            out.append("pes and macs must be at least 1")
        elif self.macs % self.pes:
            out.append(f"macs ({self.macs}) must be a multiple of pes ({self.pes})")
        for level in ("accum", "weight", "input", "global"):
            words = self.capacity_words(level)
            if words is not None and words < 1:
                out.append(f"{level}_buffer_kib must hold at least one word")
        return out

    def as_dict(self) -> dict:
        return {name: getattr(self, name) for name in ACCEL_FIELDS}


#: Hong's Table 1 (from CoSA's Simba configurations); the global buffer size is read as
#: the size of the one shared buffer (Simba's is 64 KiB).
PRESETS = {
    "simba_final": Accelerator(16, 1024, 3, 32, 8, 64),
    "simba_final_8x8": Accelerator(64, 4096, 12, 128, 32, 256),
    "simba_large": Accelerator(16, 1024, 6, 64, 16, 128),
    "arch0": Accelerator(16, 1024, 6, 64, 16, 32),
    "arch1": Accelerator(16, 4096, 3, 16, 16, 64),
}

#: Hong's Table 2 ranges as a grid of 3 x 3 x 4^4 = 2,304 configurations (the paper gives
#: only each range's ends; the steps between them are geometric, rounded to 0.5 KiB).
GENERATED_GRID = {
    "pes": (4, 16, 64),
    "macs": (256, 1024, 4096),
    "accum_buffer_kib": (1.5, 3.0, 6.0, 12.0),
    "weight_buffer_kib": (8.0, 20.0, 51.0, 128.0),
    "input_buffer_kib": (2.0, 5.0, 12.5, 32.0),
    "global_buffer_kib": (16.0, 40.5, 101.5, 256.0),
}


def generated() -> list[Accelerator]:
    """The 2,304 generated accelerators, in grid order."""
    import itertools

    return [Accelerator(*values)  # type: ignore[arg-type]  # the grid's ints and floats
            for values in itertools.product(*GENERATED_GRID.values())]
