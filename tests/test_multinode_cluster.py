"""The multi-node mode of slurm/local-cluster.sh (`start --nodes 2`), run for real.

Two slurmd, each in its own network namespace with its own address on a bridge, one
slurmctld, one munged. The module fixture starts a private cluster (its own directory and
free ports, so it neither uses nor disturbs another cluster on the machine) and, at the
end, stops it and checks that nothing of it is left: no slurmd, no namespace, no veth,
no bridge. Where the script says this machine cannot run it (exit 4: not root, no network
namespaces, ...), every test here is skipped with the script's reason.
"""
from __future__ import annotations

import os
import re
import subprocess
import time
from pathlib import Path

import pytest

from conftest import CLUSTER_SCRIPT, EXIT_CANNOT, EXIT_DOWN, free_ports, slurm

NODES = ["ccnode1", "ccnode2"]


def _script_env(slurm_dir: Path, ctld_port: int, slurmd_port: int) -> dict[str, str]:
    env = {**os.environ,
           "CYCLECAST_SLURM_DIR": str(slurm_dir),
           "CYCLECAST_SLURM_CLUSTER": "ccmulti",
           "CYCLECAST_SLURMCTLD_PORT": str(ctld_port),
           "CYCLECAST_SLURMD_PORT": str(slurmd_port)}
    for name in ("SLURM_CONF", "CYCLECAST_SLURM_NODES", "CYCLECAST_SLURM_SUBNET"):
        env.pop(name, None)
    return env


def _ours_left(conf: Path, prefix: str) -> list[str]:
    """Whatever of this cluster still exists: daemons, namespaces, interfaces."""
    left = []
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            cmdline = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if str(conf).encode() in cmdline:
            left.append(f"process {proc.name}: {b' '.join(cmdline).decode(errors='replace')}")
    netns = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    left += [f"netns {line.split()[0]}" for line in netns.splitlines()
             if line.startswith(prefix)]
    links = subprocess.run(["ip", "-o", "link", "show"], capture_output=True, text=True).stdout
    for line in links.splitlines():
        name = line.split()[1].rstrip(":").split("@")[0]
        if name.startswith(prefix):
            left.append(f"link {name}")
    return left


@pytest.fixture(scope="module")
def mcluster(tmp_path_factory):
    """An up 2-node cluster: {'env', 'conf', 'dir', 'work', 'script', 'prefix', 'nodes'}."""
    slurm_dir = tmp_path_factory.mktemp("slurm-multinode")
    script_env = _script_env(slurm_dir, *free_ports(2))

    def script(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
        return subprocess.run(["bash", str(CLUSTER_SCRIPT), *args], env=script_env,
                              capture_output=True, text=True, timeout=timeout)

    t0 = time.monotonic()
    started = script("start", "--nodes", "2")
    if started.returncode == EXIT_CANNOT:
        pytest.skip(started.stderr.strip().splitlines()[-1] if started.stderr.strip()
                    else "local-cluster.sh: cannot run here")
    assert started.returncode == 0, started.stdout + started.stderr
    # stdout: only export lines, for `eval "$(local-cluster.sh start --nodes 2)"`.
    match = re.fullmatch(r"export SLURM_CONF=(\S+)\nexport CYCLECAST_SLURM_NODELIST=(\S+)\n",
                         started.stdout)
    assert match, f"start should print only the export lines: {started.stdout!r}"
    conf = Path(match.group(1))
    assert match.group(2).split(",") == NODES
    assert time.monotonic() - t0 < 60, started.stderr
    status = script("status")
    prefix = re.search(r"named (cc[0-9a-f]{6})\*", status.stdout)
    assert prefix, status.stdout + status.stderr
    cluster = {"env": {**os.environ, "SLURM_CONF": str(conf)}, "conf": conf,
               "dir": conf.parent, "work": tmp_path_factory.mktemp("slurm-multinode-jobs"),
               "script": script, "prefix": prefix.group(1), "nodes": NODES}
    try:
        yield cluster
    finally:
        stopped = script("stop")
        assert stopped.returncode == 0, stopped.stdout + stopped.stderr
        after = script("status")
        assert after.returncode == EXIT_DOWN, after.stdout + after.stderr
        assert _ours_left(conf, cluster["prefix"]) == []


# --- helpers -----------------------------------------------------------------------------

def job_state(cluster, job: str) -> str:
    out = slurm(cluster, "scontrol", "show", "job", "-o", job)
    return re.search(r"\bJobState=(\S+)", out).group(1)


def wait_for(what, predicate, timeout: float, interval: float = 0.3):
    """Poll predicate() until it returns something true; fail with `what` after timeout."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out after {timeout} s waiting for {what}"
        time.sleep(interval)


def wait_job_done(cluster, job: str, timeout: float = 60) -> str:
    """Poll (sbatch --wait adds up to 10 s) until the job has ended; its final state."""
    ended = ("COMPLETED", "FAILED", "CANCELLED", "NODE_FAIL", "TIMEOUT", "OUT_OF_MEMORY",
             "BOOT_FAIL", "DEADLINE", "PREEMPTED")
    return wait_for(f"job {job} to end",
                    lambda: (state := job_state(cluster, job)) in ended and state, timeout)


def submit(cluster, *args: str) -> str:
    job = slurm(cluster, "sbatch", "--parsable", *args).strip().split(";")[0]
    assert job.isdigit(), job
    return job


def node_states(cluster) -> dict[str, str]:
    out = slurm(cluster, "sinfo", "-h", "-N", "-o", "%N %t")
    return dict(line.split() for line in out.splitlines())


def slurmd_log(cluster, node: str) -> str:
    return (cluster["dir"] / "log" / f"slurmd-{node}.log").read_text()


def node_pid(cluster, node: str) -> int:
    return int((cluster["dir"] / f"slurmd-{node}.pid").read_text())


def node_pid_alive(cluster, node: str) -> bool:
    return Path(f"/proc/{node_pid(cluster, node)}").exists()


def netns_pids(cluster, node: str) -> list[str]:
    done = subprocess.run(["ip", "netns", "pids", f"{cluster['prefix']}-{node}"],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return done.stdout.split()


# --- tests -------------------------------------------------------------------------------

def test_sinfo_shows_two_idle_nodes_in_their_own_namespaces(mcluster):
    rows = [line.split() for line in
            slurm(mcluster, "sinfo", "-h", "-N", "-o", "%N %P %t %c").splitlines()]
    assert [row[0] for row in rows] == NODES, rows
    hw = subprocess.run(["slurmd", "-C"], capture_output=True, text=True, check=True).stdout
    machine_cpus = int(re.search(r"\bCPUs=(\d+)", hw).group(1))
    for _node, partition, state, cpus in rows:
        assert partition == "debug*"
        assert state == "idle", rows
        assert int(cpus) == max(1, machine_cpus // 2), rows     # each node half the CPUs

    addrs = {}
    for node in NODES:
        show = slurm(mcluster, "scontrol", "show", "node", node)
        addrs[node] = re.search(r"\bNodeAddr=(\S+)", show).group(1)
    assert len(set(addrs.values())) == 2 and all(a.startswith("10.") for a in addrs.values())

    # Each slurmd in its own network namespace, neither of them this machine's.
    own = os.readlink("/proc/self/ns/net")
    spaces = {node: os.readlink(f"/proc/{node_pid(mcluster, node)}/ns/net") for node in NODES}
    assert len(set(spaces.values())) == 2 and own not in spaces.values(), spaces

    status = mcluster["script"]("status")
    assert status.returncode == 0, status.stdout + status.stderr
    for node in NODES:
        assert re.search(rf"^{node}: up \(pid \d+, netns {mcluster['prefix']}-{node}, "
                         rf"address {re.escape(addrs[node])}\)$", status.stdout, re.M), status.stdout


JOB = """#!/bin/bash
#SBATCH --job-name=cc-multi -N2 --ntasks-per-node=1 --cpus-per-task={cpus} --output=multi-%j.out
set -u
echo "batch on $SLURMD_NODENAME $(hostname)"
srun -N2 -n2 bash -c 'echo "step $SLURM_STEP_ID task $SLURM_PROCID on $SLURMD_NODENAME $(hostname)"'
pids=()
for i in 1 2 3 4; do
  srun --exclusive -N1 -n1 -c{cpus} bash -c 'echo "step $SLURM_STEP_ID on $SLURMD_NODENAME"; sleep 1' &
  pids+=($!)
done
rc=0
for pid in "${{pids[@]}}"; do wait "$pid" || rc=1; done
exit $rc
"""


def test_steps_run_on_both_nodes(mcluster):
    cpus = int(slurm(mcluster, "sinfo", "-h", "-N", "-o", "%c").split()[0])
    (mcluster["work"] / "multi.sh").write_text(JOB.format(cpus=cpus))
    t0 = time.monotonic()
    job = submit(mcluster, "multi.sh")
    assert wait_job_done(mcluster, job) == "COMPLETED"
    # Steps 3 and 4 wait for a node ("step creation temporarily disabled"); slurmctld must
    # wake them when 1 and 2 end, not leave them to srun's own 2-minute retry.
    assert time.monotonic() - t0 < 30

    output = (mcluster["work"] / f"multi-{job}.out").read_text()
    assert re.search(r"^batch on ccnode1 ccnode1$", output, re.M), output
    step0 = sorted(re.findall(r"^step 0 task (\d) on (\S+) (\S+)$", output, re.M))
    assert step0 == [("0", "ccnode1", "ccnode1"), ("1", "ccnode2", "ccnode2")], output
    single = dict(re.findall(r"^step (\d) on (\S+)$", output, re.M))
    assert sorted(single) == ["1", "2", "3", "4"], output
    # Each step takes a whole node, so the two steps started together are on both nodes.
    assert set(single.values()) == set(NODES), output
    assert {single["1"], single["2"]} == set(NODES), output
    assert "step creation temporarily disabled" in output, output

    # And the slurmd logs, one per node, saw those steps launched.
    for node in NODES:
        log = slurmd_log(mcluster, node)
        launched = set(re.findall(rf"launch task StepId={job}\.(\d+) request", log))
        expected = {"0"} | {step for step, where in single.items() if where == node}
        assert launched == expected, (node, launched, expected)
    assert f"Launching batch job {job} " in slurmd_log(mcluster, "ccnode1")


def test_lost_node_goes_down_jobs_move_on_and_it_comes_back(mcluster):
    script = mcluster["script"]
    # A job on both nodes, its step running on both.
    lost = submit(mcluster, "-N2", "--ntasks-per-node=1", "--no-requeue", "--output=lost-%j.out",
                  "--wrap", "srun -N2 -n2 sleep 300")
    wait_for(f"step {lost}.0 to run",
             lambda: f"{lost}.0" in slurm(mcluster, "squeue", "-h", "-s", "-o", "%i").split(),
             timeout=30)
    wait_for("the step's tasks on ccnode2",
             lambda: "launch task StepId=" + f"{lost}.0" in slurmd_log(mcluster, "ccnode2"),
             timeout=10)

    t0 = time.monotonic()
    stopped = script("stop-node", "ccnode2")
    assert stopped.returncode == 0, stopped.stderr
    assert netns_pids(mcluster, "ccnode2") == []          # slurmd, its steps, their tasks
    assert node_pid_alive(mcluster, "ccnode1")

    # Slurm notices: not responding (*), then DOWN; the job ends as NODE_FAIL.
    wait_for("ccnode2 DOWN", lambda: node_states(mcluster)["ccnode2"].startswith("down"),
             timeout=75, interval=0.5)
    assert wait_job_done(mcluster, lost, timeout=30) == "NODE_FAIL"
    down_after = time.monotonic() - t0
    reason = slurm(mcluster, "sinfo", "-h", "-R", "-o", "%N %E")
    assert "ccnode2 Not responding" in reason, reason
    status = script("status")
    assert status.returncode == EXIT_DOWN, status.stdout + status.stderr
    assert re.search(r"^ccnode2: down ", status.stdout, re.M), status.stdout
    assert re.search(r"^ccnode1: up ", status.stdout, re.M), status.stdout

    # Later jobs run on the node that is left.
    after = submit(mcluster, "-N1", "--output=after-%j.out", "--wrap", 'echo "on $SLURMD_NODENAME"')
    assert wait_job_done(mcluster, after) == "COMPLETED"
    assert (mcluster["work"] / f"after-{after}.out").read_text() == "on ccnode1\n"

    # start-node brings it back: idle, and it runs jobs again.
    started = script("start-node", "ccnode2")
    assert started.returncode == 0, started.stderr
    assert node_states(mcluster)["ccnode2"] == "idle"
    wait_for("both nodes idle",
             lambda: node_states(mcluster) == {"ccnode1": "idle", "ccnode2": "idle"}, timeout=15)
    back = submit(mcluster, "-w", "ccnode2", "--output=back-%j.out",
                  "--wrap", 'echo "on $SLURMD_NODENAME"')
    assert wait_job_done(mcluster, back) == "COMPLETED"
    assert (mcluster["work"] / f"back-{back}.out").read_text() == "on ccnode2\n"
    assert script("status").returncode == 0

    jobcomp = (mcluster["dir"] / "log" / "jobcomp.txt").read_text()
    record = next(line for line in jobcomp.splitlines() if line.startswith(f"JobId={lost} "))
    assert "JobState=NODE_FAIL" in record, record
    print(f"ccnode2 DOWN and its job NODE_FAIL {down_after:.0f} s after stop-node")


def test_start_again_usage_and_wrong_mode(mcluster, tmp_path):
    script = mcluster["script"]
    before = {node: node_pid(mcluster, node) for node in NODES}
    again = script("start", "--nodes", "2")
    assert again.returncode == 0, again.stderr
    assert "already up" in again.stderr
    assert again.stdout == (f"export SLURM_CONF={mcluster['conf']}\n"
                            "export CYCLECAST_SLURM_NODELIST=ccnode1,ccnode2\n")
    assert {node: node_pid(mcluster, node) for node in NODES} == before

    one = script("start")                      # one node, on a DIR that runs two
    assert one.returncode == 1 and "runs a cluster of 2 node(s), not 1" in one.stderr, one.stderr
    unknown = script("stop-node", "ccnode9")
    assert unknown.returncode == 1 and "no node 'ccnode9'" in unknown.stderr, unknown.stderr
    assert script("stop-node").returncode == 2                      # usage: no NAME
    assert script("start", "--nodes", "0").returncode == 2
    assert script("start", "--nodes", "two").returncode == 2
    elsewhere = script("stop-node", "ccnode1", "--dir", str(tmp_path / "never-started"))
    assert elsewhere.returncode == 1 and "not a multi-node cluster" in elsewhere.stderr
    assert {node: node_pid(mcluster, node) for node in NODES} == before


# --- cyclecast studies on two nodes --------------------------------------------------------

def _study_spec(name: str, samples: int, seed: int, interface: str, sizes: list[int]) -> dict:
    from conftest import small_spec

    parameters = [
        {"name": "l1d_size_kib", "role": "architecture", "values": [1, 2, 4, 8, 16, 32]},
        {"name": "l1d_ways", "role": "architecture", "values": [1, 2, 4, 8]},
        {"name": "l2_size_kib", "role": "architecture", "values": [4, 16, 64, 256]},
        {"name": "line_bytes", "role": "architecture", "values": [16, 32, 64]},
        {"name": "n", "role": "workload", "values": sizes}]
    return small_spec(study=name, parameters=parameters,
                      sampling={"samples": samples, "seed": seed},
                      execution={"interface": interface, "concurrency": 2, "timeout_s": 60,
                                 "batch_size": 1 if interface == "fork" else 4,
                                 "slurm": {"nodes": 2, "cpus_per_task": 1}})


def _submit_study(cluster, tmp_path, spec: dict, env=None) -> tuple[Path, str]:
    from conftest import PYTHON, write_spec

    rundir = tmp_path / "run"
    spec_file = write_spec(tmp_path / f"{spec['study']}.yaml", spec)
    proc = subprocess.run([PYTHON, "-m", "driver.study", "submit", str(spec_file), "-o",
                           str(rundir)], env={**cluster["env"], **(env or {})}, cwd=tmp_path,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return rundir, re.search(r"submitted job (\d+)", proc.stdout).group(1)


@pytest.mark.parametrize("interface", ["fork", "python"])
def test_two_node_study_evaluates_on_both_nodes(mcluster, tmp_path, native_built, interface):
    from driver import records
    from driver.tabular import read_tabular

    rundir, job = _submit_study(mcluster, tmp_path, _study_spec("two", 16, 21, interface,
                                                               [16, 24, 32]))
    assert wait_job_done(mcluster, job, timeout=180) == "COMPLETED", \
        (rundir / f"slurm-{job}.out").read_text()
    _, rows = read_tabular(rundir / "tabular.dat")
    assert len(rows) == 16 and all(r["cycles"] > 0 for r in rows)
    runs = records.simulator_runs(rundir)
    assert len(runs) == 16 and {r["node"] for r in runs} == set(NODES)


def test_losing_a_node_mid_study_loses_no_finished_evaluation(mcluster, tmp_path,
                                                              native_built):
    """The in-process study on two nodes; ccnode2's slurmd and its steps die mid-study. No
    evaluation finished before is lost, the study ends complete once resumed (the job is
    submitted --no-requeue, so it ends NODE_FAIL instead of waiting to be requeued), and no
    point is simulated twice."""
    import json
    from collections import Counter

    from driver import records
    from driver.tabular import read_tabular

    total = 40
    rundir, job = _submit_study(mcluster, tmp_path, _study_spec("lost", total, 8, "python",
                                                               [128, 160, 192]),
                                env={"SBATCH_NO_REQUEUE": "1"})
    wait_for("6 evaluations", lambda: len(records.read_jsonl(rundir / records.EVALUATIONS))
             >= 6, timeout=120, interval=0.1)
    lost = mcluster["script"]("stop-node", "ccnode2")
    assert lost.returncode == 0, lost.stdout + lost.stderr
    finished_before = {json.dumps(r["point"], sort_keys=True)
                       for r in records.read_jsonl(rundir / records.EVALUATIONS)
                       if r["status"] != "failed"}
    try:
        wait_for("ccnode2 down", lambda: node_states(mcluster).get("ccnode2", "").startswith(
            "down"), timeout=90, interval=1)
    finally:
        back = mcluster["script"]("start-node", "ccnode2")
        assert back.returncode == 0, back.stdout + back.stderr
    state = wait_for(f"job {job} to finish or end", lambda: (s := job_state(mcluster, job))
                     in ("COMPLETED", "FAILED", "NODE_FAIL", "CANCELLED", "TIMEOUT") and s,
                     timeout=240, interval=1)
    if state != "COMPLETED":  # not requeued: resume it by hand
        from conftest import PYTHON

        resumed = subprocess.run([PYTHON, "-m", "driver.study", "resume", str(rundir)],
                                 env=mcluster["env"], capture_output=True, text=True,
                                 timeout=60)
        assert resumed.returncode == 0, resumed.stderr
        job = re.search(r"submitted job (\d+)", resumed.stdout).group(1)
        assert wait_job_done(mcluster, job, timeout=240) == "COMPLETED"
    _, rows = read_tabular(rundir / "tabular.dat")
    points = {json.dumps({k: int(r[k]) for k in ("l1d_size_kib", "l1d_ways", "l2_size_kib",
                                                 "line_bytes", "n")}, sort_keys=True)
              for r in rows if r["cycles"] > 0}
    assert finished_before <= points  # nothing that had finished was lost
    assert len(rows) == total and all(r["cycles"] > 0 for r in rows)
    runs = Counter(json.dumps(r["point"], sort_keys=True) for r in records.simulator_runs(rundir)
                   if r["status"] == "ok")
    assert max(runs.values()) == 1
