"""Studies run in-process (execution.interface: python): Dakota's own Python module runs
the deck and calls cyclecast's driver as a function on batches, evaluated by long-lived
worker processes. The same records, failures, resume and tabular rows as the fork path."""
from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import time
from collections import Counter

import pytest

from conftest import PYTHON, run_module, small_spec, write_spec
from driver import faults, records
from driver.tabular import read_tabular

# Large enough that 24 LHS samples hold no duplicate point.
PARAMETERS = [
    {"name": "l1d_size_kib", "role": "architecture", "values": [1, 2, 4, 8, 16, 32]},
    {"name": "l1d_ways", "role": "architecture", "values": [1, 2, 4, 8]},
    {"name": "l2_size_kib", "role": "architecture", "values": [4, 16, 64, 256]},
    {"name": "line_bytes", "role": "architecture", "values": [16, 32, 64]},
    {"name": "n", "role": "workload", "values": [16, 24, 32]},
]


def spec_for(name, samples, seed, **execution):
    return small_spec(study=name, parameters=PARAMETERS, sampling={"samples": samples,
                                                                  "seed": seed},
                      execution={"concurrency": 2, "timeout_s": 5, **execution})


def run(tmp_path, spec, *extra, env=None, name="run"):
    spec_file = write_spec(tmp_path / f"{name}.yaml", spec)
    return subprocess.run([PYTHON, "-m", "driver.study", "run", str(spec_file), "-o",
                           str(tmp_path / name), *extra], capture_output=True, text=True,
                          timeout=600, env={**os.environ, **(env or {})})


def test_same_rows_and_records_as_the_fork_interface(tmp_path, native_built):
    tables = {}
    for interface in ("fork", "python"):
        proc = run(tmp_path, spec_for("same", 12, 4, interface=interface), "-q",
                   name=interface)
        assert proc.returncode == 0, proc.stderr[-2000:]
        rundir = tmp_path / interface
        tables[interface] = read_tabular(rundir / "tabular.dat")
        evaluations = records.read_jsonl(rundir / records.EVALUATIONS)
        assert sorted(r["eval"] for r in evaluations) == list(range(1, 13))
        assert all((rundir / "evals" / f"eval.{r['eval']}").is_dir() for r in evaluations)
        assert len(list((rundir / "done").iterdir())) == 12
    assert tables["python"] == tables["fork"]
    deck = (tmp_path / "python" / "study.in").read_text()
    assert "python\n    analysis_drivers = 'cyclecast'" in deck and "batch size = 12" in deck
    assert "Restart" not in (tmp_path / "python" / "dakota.out").read_text()
    assert (tmp_path / "python" / "dakota.rst").stat().st_size > 0


def seed_with_every_fault(config, evaluations):
    for seed in range(1, 1000):
        kinds = {faults.fault_for(e, {**config, "seed": seed}) for e in range(1, evaluations + 1)}
        if set(faults.KINDS) <= kinds:
            return seed
    raise AssertionError("no seed injects every kind of fault")


def test_injected_faults_fail_exactly_those_evaluations(tmp_path, native_built):
    config = {"crash": 0.10, "hang": 0.05, "garbage": 0.05}
    total = 24
    config["seed"] = seed_with_every_fault(config, total)
    env = {faults.ENV: ",".join(f"{k}={v}" for k, v in config.items())}
    proc = run(tmp_path, spec_for("faults", total, 33, timeout_s=2), "-q", env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    rundir = tmp_path / "run"
    _, rows = read_tabular(rundir / "tabular.dat")
    assert len(rows) == total
    expected = {e: faults.fault_for(e, config) for e in range(1, total + 1)}
    expected = {e: kind for e, kind in expected.items() if kind}
    assert {int(r["eval_id"]) for r in rows if math.isnan(r["cycles"])} == set(expected)
    failures = {r["eval"]: r["kind"] for r in records.read_jsonl(rundir / records.FAILURES)}
    as_recorded = {"crash": "crash", "hang": "timeout", "garbage": "garbage"}
    assert failures == {e: as_recorded[kind] for e, kind in expected.items()}
    assert all(r["cycles"] > 0 for r in rows if int(r["eval_id"]) not in expected)


def live_workers(rundir) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        try:
            cmd = open(f"/proc/{entry}/cmdline", "rb").read().split(b"\0")
        except OSError:
            continue
        if b"driver.study" in cmd and str(rundir).encode() in cmd:
            found.append(int(entry))
    return found


def test_kill_9_then_run_again_redoes_nothing(tmp_path, native_built):
    spec = spec_for("killed", 24, 8, batch_size=4)
    spec["parameters"] = PARAMETERS[:4] + [
        {"name": "n", "role": "workload", "values": [96, 128, 160]}]
    spec_file = write_spec(tmp_path / "killed.yaml", spec)
    rundir = tmp_path / "run"
    proc = subprocess.Popen([PYTHON, "-m", "driver.study", "run", str(spec_file), "-o",
                             str(rundir), "-q"], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while len(records.read_jsonl(rundir / records.EVALUATIONS)) < 6:
        assert time.monotonic() < deadline and proc.poll() is None, "no progress"
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    time.sleep(1)
    assert live_workers(rundir) == []  # the workers died with the study
    before = len(records.read_jsonl(rundir / records.EVALUATIONS))
    assert before < 24, "the study ended before it was killed"

    again = run_module("driver.study", "run", str(spec_file), "-o", str(rundir), "-q")
    assert again.returncode == 0, again.stderr[-2000:]
    assert "evaluations retrieved" in (rundir / "dakota.out").read_text()
    runs = Counter(json.dumps(r["point"], sort_keys=True) for r in records.simulator_runs(rundir))
    assert max(runs.values()) == 1 and sum(runs.values()) == 24
    _, rows = read_tabular(rundir / "tabular.dat")
    assert len(rows) == 24 and all(r["cycles"] > 0 for r in rows)
    rebuilt = run_module("driver.study", "tabular", str(rundir))
    assert rebuilt.returncode == 0 and "24 evaluations" in rebuilt.stdout
    assert read_tabular(rundir / "tabular.dat")[1] == rows


@pytest.mark.parametrize("capture", ["abort", "retry"])
def test_failure_capture_abort_and_retry(tmp_path, native_built, capture):
    # n=256 cannot finish in 0.3 s: the first such evaluation fails (after the retries).
    params = PARAMETERS[:4] + [{"name": "n", "role": "workload", "values": [16, 256]}]
    spec = small_spec(study="capture", parameters=params, sampling={"samples": 8, "seed": 5},
                      execution={"timeout_s": 0.3, "batch_size": 2},
                      failure={"capture": capture, "retries": 2})
    proc = run(tmp_path, spec, "-q")
    assert proc.returncode == 1
    lines = [line for line in proc.stderr.splitlines() if line.startswith("cyclecast:")]
    assert len(lines) == 1 and "stopped: evaluation" in lines[0], proc.stderr
    assert f"failure.capture is {capture}" in lines[0] and "Traceback" not in proc.stderr
    failures = Counter(r["eval"] for r in records.read_jsonl(tmp_path / "run" /
                                                             records.FAILURES))
    assert failures and set(failures.values()) == {3 if capture == "retry" else 1}


def test_unknown_interface_is_one_line(tmp_path):
    proc = run(tmp_path, spec_for("bad", 4, 1, interface="ssh"))
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1
    assert "execution.interface" in proc.stderr and "'fork', 'python'" in proc.stderr


def test_kill_in_a_long_batch_keeps_what_finished(tmp_path):
    """A Python backend's records reach the run's files during a batch (at least every
    second), so a study killed in the middle of one long batch keeps what finished: on
    resume those points are answered from the records, none evaluated twice."""
    spec = {"study": "long_batch",
            "parameters": [
                {"name": "preset", "role": "architecture", "values": ["simba_final", "arch1"]},
                {"name": "layer", "role": "workload", "values": ["res2_3x3_64", "fc1000"]},
                {"name": "schedule", "role": "architecture", "range": {"first": 0,
                                                                       "last": 499}}],
            "backend": {"name": "zigzag", "settings": {"schedule_kind": "valid"}},
            "sampling": {"method": "grid"},
            "execution": {"concurrency": 1, "batch_size": 2000, "timeout_s": 60}}
    spec_file = write_spec(tmp_path / "long.yaml", spec)
    rundir = tmp_path / "run"
    proc = subprocess.Popen([PYTHON, "-m", "driver.study", "run", str(spec_file), "-o",
                             str(rundir), "-q"], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    while not records.read_jsonl(rundir / records.EVALUATIONS):
        assert time.monotonic() < deadline and proc.poll() is None, "no record mid-batch"
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    kept = records.read_jsonl(rundir / records.EVALUATIONS)
    assert 0 < len(kept) < 2000, "the one batch had ended before the kill"

    again = run_module("driver.study", "run", str(spec_file), "-o", str(rundir), "-q")
    assert again.returncode == 0, again.stderr[-2000:]
    everything = records.read_jsonl(rundir / records.EVALUATIONS)
    computed = Counter(json.dumps(r["point"], sort_keys=True) for r in everything
                       if r["status"] != "reused")
    assert len(computed) == 2000 and max(computed.values()) == 1
    reused = {json.dumps(r["point"], sort_keys=True) for r in everything
              if r["status"] == "reused"}
    assert reused == {json.dumps(r["point"], sort_keys=True) for r in kept}
    _, rows = read_tabular(rundir / "tabular.dat")
    assert len(rows) == 2000
