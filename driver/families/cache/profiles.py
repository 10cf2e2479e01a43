"""One profiling run per workload point: the kernel once under QEMU with cyclecast's
profiling plugin (``native/plugin/profile.c``), which records per-set LRU stack-distance
histograms for every line size and set count. From them the L1 misses of every cache
geometry follow exactly, without simulating each design point; with
``backend.settings.l2_estimate: behind_l1d`` the profile also runs the L2 behind each of the
spec's L1D geometries (:mod:`.estimate`).

Profiles are cached by (program contents, arguments) under ``build/profiles/`` (or
``$CYCLECAST_PROFILES``), so every design point, study and model reuses them. The profile
comes from the same binary whatever backend labels the points: with gem5 labels too.
"""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
import time
from pathlib import Path

from ...errors import EvaluationFailed
from ...process import last_line, run_with_timeout
from .program import BUILD, pinned_copy

TYPE_CHECKING = False  # typing costs the driver milliseconds at start-up
if TYPE_CHECKING:
    from typing import Any, Iterable, Mapping

PLUGIN = BUILD / "plugins" / "libprofile.so"
RUNS_LOG = "runs.log"  # one line per real profiling run (tests count them)


def cache_dir() -> Path:
    return Path(os.environ.get("CYCLECAST_PROFILES", BUILD / "profiles"))


# Bumped when a profile of the same binary and arguments would come out different (2: the
# program runs from its pinned path; 3: L1D write-backs; 4: the L2 behind each L1D), so
# that no stale cached profile is reused.
FORMAT = 4


def _key(program: Path, args: list[str], l1d_kib: list[int]) -> str:
    digest = hashlib.sha256(program.read_bytes()).hexdigest()[:16]
    safe = "_".join(a.replace("/", "-") for a in args) or "noargs"
    behind = f"-l2behind{'.'.join(map(str, l1d_kib))}" if l1d_kib else ""
    return f"{program.name}-{digest}-v{FORMAT}{behind}-{safe}"


def behind_l1d_sizes(settings: Mapping[str, Any], l1d_kib: Iterable[int]) -> list[int] | None:
    """Which of these L1D sizes (KiB) the profile runs the L2 behind: all powers of two
    among them with ``backend.settings.l2_estimate: behind_l1d`` (sorted), else None."""
    if settings.get("l2_estimate") != "behind_l1d":
        return None
    return sorted({int(v) for v in l1d_kib if v > 0 and int(v) & (int(v) - 1) == 0})


def profile(program: str | Path, args: list[str], qemu: str = "qemu-riscv64",
            timeout_s: float = 3600, l1d_kib: list[int] | None = None) -> dict:
    """The profile of ``program args`` (cached). ``l1d_kib``: L1D sizes (KiB, powers of
    two) whose L2 the profile also records behind them (``l2_behind_l1d``: 10-20x the
    profiling time on miss-heavy kernels)."""
    program = Path(program)
    l1d_kib = sorted(set(l1d_kib or ()))
    directory = cache_dir()
    path = directory / f"{_key(program, args, l1d_kib)}.json"
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        pass
    directory.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=directory) as work_name:
        work = Path(work_name)
        (work / "program").symlink_to(pinned_copy(program))  # as the backend runs it
        out = work / "profile.json"
        # Same guest stack strings as the qemu_riscv backend: same addresses, same counts.
        started = time.perf_counter()
        plugin = f"{PLUGIN},out={out}" + (
            f",l1d_kib={':'.join(map(str, l1d_kib))}" if l1d_kib else "")
        status = run_with_timeout([qemu, "-0", "program", "-plugin", plugin,
                                   "program", *args], work, timeout_s, env={})
        if status != 0 or not out.exists():
            raise EvaluationFailed(f"profiling {program.name} {' '.join(args)} failed "
                                   f"(status {status}): {last_line(work / 'program.err')}",
                                   "crash")
        data = json.loads(out.read_text())
        data["profile_seconds"] = round(time.perf_counter() - started, 3)
        out.write_text(json.dumps(data))
        os.replace(out, path)  # atomic: a concurrent reader sees no half-written profile
    with open(directory / RUNS_LOG, "a") as log:
        log.write(f"{path.name}\n")
    return data
