"""Studies as Slurm batch jobs on the real one-node cluster: every evaluation a job step
(fork interface) or every batch an srun step per task (in-process), injected faults,
kill -9 and resume, batch mode. Each test runs real dakota, srun steps, qemu-riscv64 and
the cache plugin."""
from __future__ import annotations

import json
import math
import os
import re
import signal
import subprocess
import time
from collections import Counter
from pathlib import Path

import pytest

from conftest import PYTHON, config_value, small_spec, write_spec
from driver import faults, records
from driver.tabular import read_tabular

# A space large enough that 16-24 LHS samples hold no duplicate point (Dakota would answer
# a duplicate from its cache without calling the driver).
PARAMETERS = [
    {"name": "l1d_size_kib", "unit": "KiB", "role": "architecture", "values": [1, 2, 4, 8, 16, 32]},
    {"name": "l1d_ways", "unit": "ways", "role": "architecture", "values": [1, 2, 4, 8]},
    {"name": "l2_size_kib", "unit": "KiB", "role": "architecture", "values": [4, 16, 64, 256]},
    {"name": "line_bytes", "unit": "B", "role": "architecture", "values": [16, 32, 64]},
    {"name": "n", "unit": "elements", "role": "workload", "values": [16, 24, 32]},
]


def study(cluster, tmp_path, name, *args, env=None, timeout=60):
    return subprocess.run([PYTHON, "-m", "driver.study", *args], cwd=tmp_path,
                          env={**cluster["env"], **(env or {})}, capture_output=True,
                          text=True, timeout=timeout)


def submit(cluster, tmp_path, spec: dict, env=None) -> tuple[Path, str]:
    rundir = tmp_path / "run"
    spec_file = write_spec(tmp_path / f"{spec['study']}.yaml", spec)
    proc = study(cluster, tmp_path, "submit", "submit", str(spec_file), "-o", str(rundir), env=env)
    assert proc.returncode == 0, proc.stderr
    job = re.search(r"submitted job (\d+)", proc.stdout).group(1)
    return rundir, job


def wait_for_job(cluster, job: str, timeout: float = 180) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        queued = subprocess.run(["squeue", "-h", "-j", job, "-o", "%T"], env=cluster["env"],
                                capture_output=True, text=True).stdout.strip()
        if not queued:
            shown = subprocess.run(["scontrol", "show", "job", job], env=cluster["env"],
                                   capture_output=True, text=True).stdout
            return re.search(r"JobState=(\S+)", shown).group(1) if shown else "GONE"
        time.sleep(0.5)
    raise AssertionError(f"job {job} still queued after {timeout} s")


def spec_for(name: str, samples: int, seed: int, **execution) -> dict:
    execution = {"interface": "fork", "concurrency": 2, "timeout_s": 2, **execution}
    return small_spec(study=name, parameters=PARAMETERS,
                      sampling={"samples": samples, "seed": seed}, execution=execution)


def steps_launched(cluster, job: str) -> set[str]:
    log = Path(config_value(cluster, "SlurmdLogFile")).read_text()
    return {f"{job}.{s}" for s in re.findall(rf"launch task StepId={job}\.(\d+) request", log)}


def test_study_under_sbatch_runs_every_evaluation_as_a_step(cluster, tmp_path, native_built):
    rundir, job = submit(cluster, tmp_path, spec_for("steps", 16, 21))
    assert wait_for_job(cluster, job) == "COMPLETED", (rundir / f"slurm-{job}.out").read_text()
    _, rows = read_tabular(rundir / "tabular.dat")
    assert len(rows) == 16 and all(r["cycles"] > 0 for r in rows)
    runs = records.simulator_runs(rundir)
    assert len(runs) == 16
    # Each evaluation ran in its own srun step, and Slurm's slurmd log shows each step.
    steps = [r["slurm_step"] for r in runs]
    assert len(set(steps)) == 16
    assert set(steps) <= steps_launched(cluster, job)
    status = study(cluster, tmp_path, "status", "status", str(rundir))
    assert "done 16, failed 0" in status.stdout and "COMPLETED" in status.stdout


@pytest.mark.parametrize("workers", ["servers", "steps"])
def test_in_process_study_spreads_each_batch_over_the_tasks(cluster, tmp_path, native_built,
                                                            workers):
    """interface python under sbatch: Dakota runs inside the job's process and spreads the
    points over the job's 2 tasks: one long-lived srun step per task fed a point at a time
    (servers, the default), or per batch of 4 one step per task with 2 points each."""
    rundir, job = submit(cluster, tmp_path, spec_for("inproc", 16, 21, interface="python",
                                                     batch_size=4),
                         env={"CYCLECAST_SLURM_WORKERS": workers})
    assert wait_for_job(cluster, job) == "COMPLETED", (rundir / f"slurm-{job}.out").read_text()
    _, rows = read_tabular(rundir / "tabular.dat")
    assert len(rows) == 16 and all(r["cycles"] > 0 for r in rows)
    runs = records.simulator_runs(rundir)
    assert len(runs) == 16
    steps = Counter(r["slurm_step"] for r in runs)
    if workers == "steps":
        assert sorted(steps.values()) == [2] * 8
    else:
        assert len(steps) == 2 and min(steps.values()) >= 1  # both tasks took points
    assert set(steps) <= steps_launched(cluster, job)
    status = study(cluster, tmp_path, "status", "status", str(rundir))
    assert "done 16, failed 0" in status.stdout and "COMPLETED" in status.stdout


def seed_with_every_fault(config: dict, evaluations: int) -> int:
    for seed in range(1, 1000):
        kinds = {faults.fault_for(e, {**config, "seed": seed}) for e in range(1, evaluations + 1)}
        if set(faults.KINDS) <= kinds:
            return seed
    raise AssertionError("no seed injects every kind of fault")


@pytest.mark.parametrize("interface", ["fork", "python"])
def test_injected_faults_fail_exactly_those_evaluations(cluster, tmp_path, native_built,
                                                        interface):
    config = {"crash": 0.10, "hang": 0.05, "garbage": 0.05}
    total = 24
    config["seed"] = seed_with_every_fault(config, total)
    env = {faults.ENV: ",".join(f"{k}={v}" for k, v in config.items())}
    rundir, job = submit(cluster, tmp_path, spec_for("faults", total, 33, interface=interface,
                                                     batch_size=1 if interface == "fork"
                                                     else 6), env=env)
    assert wait_for_job(cluster, job) == "COMPLETED", (rundir / f"slurm-{job}.out").read_text()

    _, rows = read_tabular(rundir / "tabular.dat")
    assert len(rows) == total  # none lost
    assert len({tuple(r[p["name"]] for p in PARAMETERS) for r in rows}) == total
    expected = {e: faults.fault_for(e, config) for e in range(1, total + 1)}
    expected = {e: kind for e, kind in expected.items() if kind}
    failed_rows = {int(r["eval_id"]) for r in rows if math.isnan(r["cycles"])}
    assert failed_rows == set(expected)
    failures = {r["eval"]: r["kind"] for r in records.read_jsonl(rundir / "failures.jsonl")}
    as_recorded = {"crash": "crash", "hang": "timeout", "garbage": "garbage"}
    assert failures == {e: as_recorded[kind] for e, kind in expected.items()}
    status = study(cluster, tmp_path, "status", "status", str(rundir)).stdout
    assert f"failed {len(expected)}" in status and "failed (timeout)" in status


def dakota_pid(rundir: Path, interface: str = "fork") -> int | None:
    """The dakota executable (fork) or the job's in-process study (python) of ``rundir``."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmd = (entry / "cmdline").read_bytes().split(b"\0")
            if interface == "fork":
                found = Path(cmd[0].decode()).name == "dakota"
            else:
                found = b"driver.study" in cmd and b"exec" in cmd
            if found and os.readlink(entry / "cwd") == str(rundir):
                return int(entry.name)
        except (OSError, IndexError):
            continue
    return None


def wait_for_dakota(cluster, rundir: Path, interface: str, job: str, timeout: float = 30) -> int:
    """The study's Dakota (or in-process study) PID, looked for until the job ends: one scan
    of /proc can miss a process that is being exec'd."""
    deadline, state = time.monotonic() + timeout, ""
    while time.monotonic() < deadline:
        pid = dakota_pid(rundir, interface)
        if pid:
            return pid
        state = subprocess.run(["squeue", "-h", "-j", job, "-o", "%T"], env=cluster["env"],
                               capture_output=True, text=True).stdout.strip()
        if state not in ("RUNNING", "PENDING", "CONFIGURING"):
            break
        time.sleep(0.1)
    out = rundir / f"slurm-{job}.out"
    err = rundir / "dakota.err"
    raise AssertionError(
        f"dakota not found (job {job} {state or 'gone'}); slurm output: "
        f"{out.read_text()[-2000:] if out.exists() else 'none'}; dakota.err: "
        f"{err.read_text()[-1000:] if err.exists() else 'none'}")


@pytest.mark.parametrize("interface", ["fork", "python"])
def test_kill_dakota_then_resume_redoes_nothing(cluster, tmp_path, native_built, interface):
    spec = spec_for("killed", 24, 8, interface=interface,
                    batch_size=1 if interface == "fork" else 4)
    spec["parameters"] = PARAMETERS[:4] + [
        {"name": "n", "unit": "elements", "role": "workload", "values": [96, 128, 160]}]
    rundir, job = submit(cluster, tmp_path, spec)
    deadline = time.monotonic() + 120
    while len(records.read_jsonl(rundir / "evaluations.jsonl")) < 6:
        assert time.monotonic() < deadline, "study made no progress"
        time.sleep(0.1)
    pid = wait_for_dakota(cluster, rundir, interface, job)
    os.kill(pid, signal.SIGKILL)
    assert wait_for_job(cluster, job) != "COMPLETED"
    finished_before = len(records.read_jsonl(rundir / "evaluations.jsonl"))
    assert finished_before < 24, "the study ended before it was killed"

    resumed = study(cluster, tmp_path, "resume", "resume", str(rundir))
    assert resumed.returncode == 0, resumed.stderr
    job2 = re.search(r"submitted job (\d+)", resumed.stdout).group(1)
    assert wait_for_job(cluster, job2) == "COMPLETED", (rundir / f"slurm-{job2}.out").read_text()

    assert "evaluations retrieved" in (rundir / "dakota.out").read_text()
    # No design point was simulated twice: count the backend's real invocations.
    runs = Counter(json.dumps(r["point"], sort_keys=True) for r in records.simulator_runs(rundir))
    assert max(runs.values()) == 1 and len(runs) == 24
    _, rows = read_tabular(rundir / "tabular.dat")
    assert len(rows) == 24 and all(r["cycles"] > 0 for r in rows)
    # cyclecast's own records rebuild the same table.
    rebuilt = study(cluster, tmp_path, "tabular", "tabular", str(rundir))
    assert rebuilt.returncode == 0 and "24 evaluations" in rebuilt.stdout
    assert read_tabular(rundir / "tabular.dat")[1] == rows


def test_batch_mode_gives_the_same_rows(cluster, tmp_path, native_built):
    tables = []
    for batch_size, cpus in ((1, 1), (4, 2)):
        where = tmp_path / f"batch{batch_size}"
        where.mkdir()
        spec = spec_for("batch", 16, 5, batch_size=batch_size,
                        concurrency=2 if batch_size == 1 else 1,
                        slurm={"cpus_per_task": cpus})
        rundir, job = submit(cluster, where, spec)
        assert wait_for_job(cluster, job) == "COMPLETED", (rundir / f"slurm-{job}.out").read_text()
        tables.append(read_tabular(rundir / "tabular.dat")[1])
        if batch_size > 1:  # 4 evaluations per driver call, one step per call
            steps = Counter(r["slurm_step"] for r in records.simulator_runs(rundir))
            assert sorted(steps.values()) == [4, 4, 4, 4]
    assert len(tables[0]) == 16
    assert tables[0] == tables[1]


def test_exploration_rounds_run_as_slurm_jobs(cluster, tmp_path, native_built):
    """ml.explore --slurm: each round one sbatch job, each evaluation one srun step."""
    spec_file = write_spec(tmp_path / "explore.yaml",
                           small_spec(study="explore", parameters=PARAMETERS,
                                      execution={"interface": "fork"}))
    out = tmp_path / "explore"
    proc = subprocess.run([PYTHON, "-m", "ml.explore", str(spec_file), "--out", str(out),
                           "--model", "rf", "--start", "8", "--step", "6", "--max", "14",
                           "--slurm", "--quiet"], cwd=tmp_path, env=cluster["env"],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    state = json.loads((out / "state.json").read_text())
    assert [r["points"] for r in state["rounds"]] == [8, 6]
    for number, expected in ((0, 8), (1, 6)):
        rundir = out / "rounds" / f"{number:02d}"
        (job,) = [json.loads(line)["job"] for line in (rundir / "jobs.jsonl").read_text().splitlines()]
        steps = {r["slurm_step"] for r in records.read_jsonl(rundir / records.EVALUATIONS)}
        assert len(steps) == expected and all(s.startswith(f"{job}.") for s in steps)
