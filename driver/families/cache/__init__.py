"""The cache family: a RISC-V program on a CPU with an L1I, an L1D and a unified L2 cache.

Backends (``backends/``): ``qemu_riscv`` (embedded: QEMU with cyclecast's cache plugin),
``profile_estimate`` (the estimate from one profile per workload) and ``gem5``.
Vocabulary: the cache fields of :mod:`.geometry` (sizes in KiB, ways, line in bytes) and
``kernel`` (a categorical choice among the built-in kernels, :mod:`.program`). Derived
features come from one profiling run per workload point (:mod:`.derived`); the estimate is
the timing model (:mod:`.timing`) on the derived counters; the cost axis is the total cache
capacity, L1D + L1I + L2 in KiB.
"""
from __future__ import annotations

from ..base import Family as _Base
from . import geometry, program

TYPE_CHECKING = False  # typing costs the driver milliseconds at start-up
if TYPE_CHECKING:
    from typing import Any, Mapping

    import pandas as pd

    from ...resolved import ResolvedSpec

SIZE_FIELDS = ("l1d_size_kib", "l1i_size_kib", "l2_size_kib")
TOTAL = "total_cache_kib"
ESTIMATED = {"cycles": "est_cycles"}  # objective -> derived column of its estimate (log2)
PROGRAM_SETTINGS = ("program", "programs", "kernel", "source", "binary")


class Family(_Base):
    name = "cache"
    settings_properties = {**program.WORKLOAD_SETTINGS_SCHEMA,
                           "cache": geometry.CACHE_SETTINGS_SCHEMA}
    vocabulary = {
        "l1d_size_kib": "L1 data cache capacity (KiB)", "l1d_ways": "L1D associativity",
        "l1i_size_kib": "L1 instruction cache capacity (KiB)", "l1i_ways": "L1I associativity",
        "l2_size_kib": "unified L2 capacity (KiB)", "l2_ways": "L2 associativity",
        "line_bytes": "line size of every level (B)",
        program.KERNEL_PARAMETER: "built-in kernel run at the point (categorical)",
    }

    @classmethod
    def check(cls, spec: ResolvedSpec, fixed: Mapping[str, Any], where: str) -> None:
        geometry.check_geometry(spec, fixed, where)

    def fixed(self) -> Mapping[str, Any]:
        return self.spec.settings.get("cache", {})

    @classmethod
    def resolve(cls, spec: ResolvedSpec, settings: dict[str, Any], where: str,
                spec_dir) -> None:
        """Check the geometry and find the program (made absolute against ``spec_dir``)."""
        cls.check(spec, settings["cache"], where)
        program.resolve_program(spec, settings, where, spec_dir)

    @classmethod
    def consumed_parameters(cls, spec: ResolvedSpec) -> set[str]:
        """The vocabulary plus the parameters the program's arguments name."""
        return set(cls.vocabulary) | program.referenced_parameters(spec.settings)

    def _profilable(self) -> bool:
        settings = self.spec.settings
        swept = any(p.name == program.KERNEL_PARAMETER for p in self.spec.parameters)
        return swept or any(key in settings for key in PROGRAM_SETTINGS)

    def derived_names(self) -> tuple[str, ...]:
        from .derived import DERIVED

        return DERIVED if self._profilable() else ()

    def add_derived(self, frame: pd.DataFrame) -> pd.DataFrame:
        from .derived import add_derived

        return add_derived(frame, self.spec)

    def estimate_column(self, objective: str) -> str | None:
        column = ESTIMATED.get(objective)
        return column if column in self.derived_names() else None

    def cost_axes(self) -> dict[str, str]:
        swept = {p.name for p in self.spec.parameters}
        return {TOTAL: "KiB"} if swept & set(SIZE_FIELDS) else {}

    def costs(self, frame: pd.DataFrame) -> pd.DataFrame:
        import numpy as np
        import pandas as pd

        out = pd.DataFrame(index=frame.index)
        if not self.cost_axes():
            return out
        fixed = self.spec.settings.get("cache", {})
        total = np.zeros(len(frame))
        for name in SIZE_FIELDS:
            total += (frame[name].to_numpy(dtype=float) if name in frame.columns
                      else float(fixed.get(name, geometry.CACHE_FIELDS[name])))
        out[TOTAL] = total
        return out


def not_built(plugin: str, settings: Mapping[str, Any]) -> str | None:
    """Why a backend that runs the program under QEMU with ``plugin`` cannot run here (the
    plugin or a program not built), or None."""
    import os

    missing = [p for p in (plugin, *program.all_programs(settings)) if not os.path.exists(p)]
    return f"not built: {', '.join(missing)} (run `make setup`)" if missing else None


def find_qemu(settings: dict[str, Any], where: str) -> None:
    """``settings['qemu']`` made the absolute path of the qemu-riscv64 that runs or
    profiles the program (the backends that use QEMU call it at spec load)."""
    import shutil

    from ...errors import SpecError

    found = shutil.which(settings["qemu"])
    if found is None:
        raise SpecError(f"{where}: backend.settings.qemu: {settings['qemu']!r} not "
                        "found; run `make setup` (installs Debian's qemu-user)")
    settings["qemu"] = found
