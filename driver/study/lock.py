"""One study per run directory: the lock a study's process (and its Dakota) holds, the
adoption of a Dakota that outlived the run that started it, and the refusal to write into
a folder that is not a run directory."""
from __future__ import annotations

import os
import sys
from pathlib import Path

from ..errors import SpecError
from ..rundir import RunDir

_HELD: dict[Path, int] = {}  # run directory -> the locked file's descriptor, this process


def hold(rundir: Path) -> int:
    """Take the run directory's lock for this process (and, through the inherited file
    descriptor, for the Dakota and workers it starts), or raise a one-line SpecError
    naming the process that holds it: two studies in one directory would corrupt it."""
    import fcntl

    rundir = rundir.resolve()
    if rundir in _HELD:
        return _HELD[rundir]
    refuse_foreign(rundir)
    try:
        rundir.mkdir(parents=True, exist_ok=True)
        fd = os.open(rundir / RunDir.LOCK, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as err:
        raise SpecError(f"{rundir}: cannot create the run directory: "
                        f"{err.strerror or err}") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(fd, 200, 0).decode(errors="replace").split()
        dakota = orphaned_dakota(holder)
        if dakota is None:
            os.close(fd)
            raise SpecError(f"{rundir}: another study is running in this directory (process "
                            f"{holder[0] if holder else 'unknown'}); wait for it to end or "
                            "stop it, then run again (finished evaluations are kept)") from None
        # The run was killed (kill -9) and its Dakota goes on: adopt the study, i.e. let
        # that Dakota finish, then complete it from its restart file (nothing is redone).
        print(f"cyclecast: {rundir}: the study's Dakota (process {dakota}) outlived the run "
              f"that started it (process {holder[0]}); waiting for it to finish, then "
              "completing the study", file=sys.stderr, flush=True)
        fcntl.flock(fd, fcntl.LOCK_EX)
    _HELD[rundir] = fd
    record_holder(fd)
    return fd


def record_holder(fd: int, dakota: int | None = None) -> None:
    """Write who holds the lock: this process, its host and (once started) its Dakota."""
    import socket

    text = f"{os.getpid()} {socket.gethostname()}" + (f" {dakota}" if dakota else "")
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{text}\n".encode(), 0)


def orphaned_dakota(holder: list[str]) -> int | None:
    """The PID of the Dakota, on this host, of a run process that is gone (read from the
    lock's ``RUN_PID HOST [DAKOTA_PID]``); None when the run itself holds the lock."""
    import socket

    if len(holder) != 3 or holder[1] != socket.gethostname() or _alive(int(holder[0])):
        return None
    return int(holder[2])  # it, or what it started, still holds the lock


def _alive(pid: int) -> bool:
    """Whether process ``pid`` exists and is not a zombie (an orphan's exit status may
    never be collected in a container whose init does not reap)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state != "Z"


def refuse_foreign(rundir: Path) -> None:
    """A one-line SpecError for a directory that holds files but is no run directory:
    cyclecast never writes into someone else's folder."""
    if rundir.exists() and not rundir.is_dir():
        raise SpecError(f"{rundir}: exists and is not a directory; choose another -o")
    if rundir.is_dir() and not (rundir / RunDir.SPEC).exists() and \
            any(p.name != RunDir.LOCK for p in rundir.iterdir()):
        raise SpecError(f"{rundir}: not empty and not a cyclecast run directory; "
                        "choose another -o")
