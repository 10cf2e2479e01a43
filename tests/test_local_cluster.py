"""The one-node Slurm cluster of slurm/local-cluster.sh, run for real.

The session fixture starts a private cluster (its own directory and free ports, so that it
neither uses nor disturbs a cluster someone already runs, and two test sessions on one
machine do not collide), installing Slurm and munge as root if needed, and stops it at the
end. Where the script says this machine cannot run it (exit 4), every test here is skipped
with the script's reason.
"""
from __future__ import annotations

import os
import re
from pathlib import Path

from conftest import EXIT_DOWN, config_value, slurm


def test_sinfo_shows_the_idle_node(cluster):
    rows = [line.split() for line in
            slurm(cluster, "sinfo", "-h", "-N", "-o", "%N %P %t %c").splitlines()]
    assert len(rows) == 1, rows
    node, partition, state, cpus = rows[0]
    assert node == os.uname().nodename.split(".")[0]
    assert partition == "debug*"                  # the default partition
    assert state in ("idle", "mix", "alloc"), state
    assert int(cpus) >= 1


JOB = """#!/bin/bash
#SBATCH --job-name=cc-steps --ntasks={ntasks} --cpus-per-task=1 --output=steps-%j.out
set -u
srun --exclusive -N1 -n1 -c1 hostname
pids=()
for i in 1 2 3; do
  srun --exclusive -N1 -n1 -c1 bash -c 'echo "step $SLURM_STEP_ID ran"; sleep 2' &
  pids+=($!)
done
rc=0
for pid in "${{pids[@]}}"; do wait "$pid" || rc=1; done
exit $rc
"""


def test_sbatch_job_steps_run_and_are_recorded(cluster):
    cpus = int(slurm(cluster, "sinfo", "-h", "-o", "%c").split()[0])
    ntasks = min(2, cpus)                           # fewer cores than parallel steps
    (cluster["work"] / "steps.sh").write_text(JOB.format(ntasks=ntasks))
    out = slurm(cluster, "sbatch", "--wait", "--parsable", "steps.sh")
    job = out.strip().split(";")[0]
    assert job.isdigit(), out

    output = (cluster["work"] / f"steps-{job}.out").read_text()
    assert sorted(re.findall(r"^step (\d+) ran$", output, re.M)) == ["1", "2", "3"], output
    # Three single-core steps in a two-core allocation: one waits for a core, nothing fails.
    assert "step creation temporarily disabled" in output, output

    # Every step is visible afterwards: slurmd logs each launch at level info.
    slurmd_log = Path(config_value(cluster, "SlurmdLogFile")).read_text()
    launched = re.findall(rf"launch task StepId={job}\.(\d+) request", slurmd_log)
    assert sorted(launched) == ["0", "1", "2", "3"], launched
    assert f"Launching batch job {job} " in slurmd_log
    finished = set(re.findall(rf"\[{job}\.(\d+|batch)\] done with job", slurmd_log))
    assert finished == {"0", "1", "2", "3", "batch"}, finished

    # And the job itself in the job completion file.
    jobcomp = Path(config_value(cluster, "JobCompLoc")).read_text()
    record = next(line for line in jobcomp.splitlines() if line.startswith(f"JobId={job} "))
    assert "JobState=COMPLETED" in record and "ExitCode=0:0" in record, record


def daemon_pids(cluster) -> dict[str, int]:
    return {name: int((cluster["dir"] / f"{name}.pid").read_text())
            for name in ("slurmctld", "slurmd")}


def test_start_twice_is_idempotent(cluster):
    before = daemon_pids(cluster)
    again = cluster["script"]("start")
    assert again.returncode == 0, again.stderr
    assert again.stdout == f"export SLURM_CONF={cluster['conf']}\n"
    assert "already up" in again.stderr
    assert daemon_pids(cluster) == before


def test_status_exit_codes(cluster, tmp_path):
    up = cluster["script"]("status")
    assert up.returncode == 0, up.stdout + up.stderr
    assert "slurmctld: up" in up.stdout and "slurmd: up" in up.stdout
    assert "debug*" in up.stdout                    # sinfo's table

    down = cluster["script"]("status", "--dir", str(tmp_path / "never-started"))
    assert down.returncode == EXIT_DOWN, down.stdout + down.stderr
    assert "slurmctld: down" in down.stdout and "slurmd: down" in down.stdout

    assert cluster["script"]("restart").returncode == 2  # usage error
