"""Submitting a rendered study to Slurm and asking Slurm about its jobs.

cyclecast does not schedule anything itself: ``sbatch`` runs ``job.sh`` (Dakota), and
every evaluation is an ``srun`` job step (``driver.sh``). This module only calls the Slurm
commands with argument lists and turns their refusals into one-line errors.
"""
from __future__ import annotations

import json
import shutil
import subprocess
import time
from pathlib import Path

from .errors import SpecError
from .rundir import RunDir

TYPE_CHECKING = False
if TYPE_CHECKING:
    from .resolved import ResolvedSpec

JOBS = RunDir.JOBS
ACTIVE_STATES = {"PENDING", "CONFIGURING", "RUNNING", "COMPLETING", "REQUEUED", "RESIZING",
                 "SUSPENDED", "STOPPED"}


def _run(command: list[str], timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout)


def require_slurm() -> None:
    """One-line errors when sbatch is missing or munge (Slurm's authentication) is down."""
    if shutil.which("sbatch") is None:
        raise SpecError("sbatch not found: load your site's Slurm module, or on one machine "
                        "start the local cluster (slurm/local-cluster.sh start) and export "
                        "the SLURM_CONF it prints")
    if shutil.which("munge") and _run(["munge", "-n"]).returncode != 0:
        raise SpecError("munge is not running, so Slurm cannot authenticate: start munged "
                        "(slurm/local-cluster.sh start does), or ask your site")


def _partitions() -> str:
    proc = _run(["sinfo", "-h", "-o", "%R"])
    return ", ".join(sorted(set(proc.stdout.split()))) or "unknown"


def _capacity() -> str:
    proc = _run(["sinfo", "-h", "-o", "%D nodes x %c CPUs (%P)"])
    return "; ".join(proc.stdout.split("\n")[:3]).strip("; ") or "unknown"


def explain_refusal(stderr: str, spec: ResolvedSpec, job_script: Path) -> str:
    """sbatch's refusal as one line naming the spec field to change."""
    lines = stderr.strip().splitlines() or ["no message"]
    message = next((line for line in lines if "error" in line.lower()
                    or "failure" in line.lower()), lines[0])
    message = message.replace("sbatch: error: ", "").replace("allocation failure: ", "").strip()
    where = f"{spec.spec_path}: "
    slurm = spec.execution.slurm
    if "partition" in message.lower():
        return (f"{where}execution.slurm.partition: {slurm.partition!r} refused by "
                f"sbatch ({message}); allowed: {_partitions()}")
    if "node configuration" in message.lower() or "cpu count" in message.lower():
        return (f"{where}execution: asks {spec.execution.concurrency} tasks x "
                f"{slurm.cpus_per_task} CPUs on {slurm.nodes} node(s), which the cluster "
                f"cannot give ({message}); it has {_capacity()}")
    return f"{job_script}: sbatch refused the job: {message}"


def submit(rundir: Path, spec: ResolvedSpec, reason: str) -> str:
    """sbatch RUNDIR/job.sh; record and return the job id."""
    require_slurm()
    job_script = rundir / RunDir.JOB_SCRIPT
    # Some clusters queue a job that can never run (pending "PartitionConfig") instead of
    # refusing it; --test-only asks the scheduler whether it could run at all.
    for command in (["sbatch", "--test-only", str(job_script)],
                    ["sbatch", "--parsable", str(job_script)]):
        proc = _run(command)
        if proc.returncode != 0:
            raise SpecError(explain_refusal(proc.stderr, spec, job_script))
    job_id = proc.stdout.strip().split(";")[0]
    with open(rundir / JOBS, "a") as f:
        f.write(json.dumps({"job": job_id, "reason": reason, "time": time.time()}) + "\n")
    return job_id


def jobs(rundir: Path) -> list[str]:
    try:
        lines = (rundir / JOBS).read_text().splitlines()
    except FileNotFoundError:
        return []
    return [json.loads(line)["job"] for line in lines if line.strip()]


def job_state(job_id: str) -> str:
    """Slurm's state of a job (RUNNING, COMPLETED, ...), or UNKNOWN once Slurm forgot it."""
    proc = _run(["squeue", "-h", "-j", job_id, "-o", "%T"])
    if proc.returncode == 0 and proc.stdout.strip():
        return proc.stdout.split()[0]
    proc = _run(["scontrol", "show", "job", job_id])
    for token in proc.stdout.split():
        if token.startswith("JobState="):
            return token.split("=", 1)[1]
    return "UNKNOWN"


def active_job(rundir: Path) -> tuple[str, str] | None:
    """(job id, state) of this run's job that is still queued or running, if any."""
    for job_id in reversed(jobs(rundir)):
        state = job_state(job_id)
        if state in ACTIVE_STATES:
            return job_id, state
    return None


def refuse_if_active(rundir: Path) -> None:
    """A one-line SpecError while a job of this run is queued or running: two jobs in one
    run directory would evaluate the same points twice."""
    active = active_job(rundir)
    if active:
        raise SpecError(f"{rundir}: job {active[0]} of this run is still {active[1]}; wait, or "
                        f"scancel {active[0]} before resuming")
