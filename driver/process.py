"""Running a simulator process: argument lists only, own process group, hard timeout."""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import threading
import time
from pathlib import Path

from . import faults
from .errors import EvaluationFailed


def run_with_timeout(command: list[str], workdir: Path, timeout_s: float,
                     env: dict[str, str] | None = None) -> int:
    """Run ``command`` in ``workdir`` in its own process group and return its exit status.

    stdout and stderr go to ``workdir/program.out`` and ``workdir/program.err``. On
    timeout the whole process group is killed (a simulator's children die with it) and
    EvaluationFailed(kind='timeout') is raised. ``env``: the environment (None: inherit).

    stdout reaches the file through a pipe: a program's C library sizes its stdout buffer
    from the file system's block size (4 KiB on ext4, more on network file systems) and
    takes another code path for character devices, and under QEMU that changes heap
    addresses, hence cache counts. A pipe looks the same on every Linux machine.
    """
    with open(workdir / "program.out", "wb") as out, open(workdir / "program.err", "wb") as err:
        fault = faults.armed()
        started = time.time()
        proc = subprocess.Popen(command, cwd=workdir, stdout=subprocess.PIPE, stderr=err,
                                env=env, stdin=subprocess.DEVNULL, start_new_session=True)
        if fault == "crash":  # first: the program must not finish before the signal
            os.kill(proc.pid, signal.SIGSEGV)
        elif fault == "hang":
            os.killpg(proc.pid, signal.SIGSTOP)
        copier = threading.Thread(target=shutil.copyfileobj, args=(proc.stdout, out),
                                  daemon=True)
        copier.start()
        try:
            status = proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            raise EvaluationFailed(f"timed out after {timeout_s:g} s", "timeout") from None
        finally:
            # A child that outlives the program (and keeps the pipe open) must not hang us.
            copier.join(timeout=5)
            if not copier.is_alive() and proc.stdout is not None:
                proc.stdout.close()
    if fault == "garbage":
        _garble(workdir, started)
    return status


def _garble(workdir: Path, since: float) -> None:
    """Fault injection: overwrite every output file the simulator wrote."""
    for root, _, files in os.walk(workdir):
        for name in files:
            path = Path(root) / name
            if path.is_symlink() or name in ("program.err", "params.in"):
                continue
            if path.stat().st_mtime >= since - 1:
                path.write_text("garbage \x00\x01 not simulator output\n")


def exit_reason(program: str, status: int, why: str) -> str:
    """One line for a program that did not exit 0: a signal by its name (``-11`` is
    SIGSEGV), and its last words, or that it left none."""
    if status < 0:
        try:
            name = signal.Signals(-status).name
        except ValueError:
            name = f"signal {-status}"
        how = f"{program} killed by {name}"
    else:
        how = f"{program} exited with status {status}"
    return f"{how}: {why}" if why else f"{how} (no error output)"


def last_line(path: Path, limit: int = 200) -> str:
    """The last non-empty line of a log file, for a one-line failure reason."""
    try:
        lines = Path(path).read_text(errors="replace").strip().splitlines()
    except OSError:
        return ""
    return lines[-1][:limit] if lines else ""
