"""One study per run directory, and no shell built from a path: the run directory's lock
(held by the study and by the Dakota it starts) and the paths Dakota and the shell scripts
accept."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections import Counter
from pathlib import Path

import pytest

from conftest import PYTHON, run_module, small_spec, write_spec
from driver import records
from driver.study import lock as study
from driver.tabular import read_tabular

PARAMETERS = [
    {"name": "l1d_size_kib", "role": "architecture", "values": [1, 2, 4, 8, 16, 32]},
    {"name": "l1d_ways", "role": "architecture", "values": [1, 2, 4, 8]},
    {"name": "l2_size_kib", "role": "architecture", "values": [4, 16, 64, 256]},
    {"name": "line_bytes", "role": "architecture", "values": [16, 32, 64]},
    {"name": "n", "role": "workload", "values": [96, 128, 160]},
]


def slow_spec(tmp_path: Path, interface: str) -> Path:
    spec = small_spec(study="locked", parameters=PARAMETERS,
                      sampling={"samples": 24, "seed": 8},
                      execution={"interface": interface, "concurrency": 2, "timeout_s": 60,
                                 "batch_size": 1 if interface == "fork" else 4})
    return write_spec(tmp_path / f"{interface}.yaml", spec)


def wait_records(rundir: Path, count: int, proc=None) -> None:
    deadline = time.monotonic() + 120
    while len(records.read_jsonl(rundir / records.EVALUATIONS)) < count:
        assert time.monotonic() < deadline and (proc is None or proc.poll() is None)
        time.sleep(0.05)


@pytest.mark.parametrize("name", ["x$(touch${IFS}%s)", "with space", "quote'd", "semi;colon"])
def test_paths_a_shell_or_dakota_cannot_carry_are_refused(tmp_path, name):
    marker = tmp_path / "PWNED"
    rundir = tmp_path / (name % marker if "%s" in name else name)
    spec_file = write_spec(tmp_path / "s.yaml", small_spec())
    proc = run_module("driver.study", "run", str(spec_file), "-o", str(rundir))
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1, proc.stderr
    assert "cannot carry safely" in proc.stderr and "Traceback" not in proc.stderr
    assert not marker.exists()
    assert not (rundir / "study.in").exists()


def test_shell_scripts_quote_what_they_are_given(tmp_path):
    from driver.render import render

    text = render("driver.sh.j2", spec={"study": "s"}, cpus=1, python="/opt/py thon",
                  spec_file="/r/$(touch x)/spec.json")
    assert "'/opt/py thon' -m driver --spec '/r/$(touch x)/spec.json'" in text


def test_a_second_run_in_the_same_directory_is_refused(tmp_path, native_built):
    spec_file = slow_spec(tmp_path, "python")
    rundir = tmp_path / "run"
    first = subprocess.Popen([PYTHON, "-m", "driver.study", "run", str(spec_file), "-o",
                              str(rundir), "-q"], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    wait_records(rundir, 2, first)
    second = run_module("driver.study", "run", str(spec_file), "-o", str(rundir), "-q")
    assert second.returncode == 2 and second.stderr.count("\n") == 1, second.stderr
    assert f"another study is running in this directory (process {first.pid})" in \
        second.stderr
    out, err = first.communicate(timeout=300)
    assert first.returncode == 0, err[-2000:]
    _, rows = read_tabular(rundir / "tabular.dat")
    assert len(rows) == 24 and all(r["cycles"] > 0 for r in rows)
    assert len(records.latest_by_evaluation(rundir)) == 24


def test_kill_9_of_run_then_run_adopts_the_orphaned_dakota(tmp_path, native_built):
    """Fork interface: after kill -9 of `run`, its Dakota goes on; a new `run` says so,
    waits for it and completes the study: no point simulated twice, every row in the
    tabular file and one Dakota at a time."""
    spec_file = slow_spec(tmp_path, "fork")
    rundir = tmp_path / "run"
    first = subprocess.Popen([PYTHON, "-m", "driver.study", "run", str(spec_file), "-o",
                              str(rundir), "-q"], stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
    wait_records(rundir, 3, first)
    holder = (rundir / ".lock").read_text().split()
    assert holder[0] == str(first.pid) and len(holder) == 3  # run, host, its Dakota
    os.kill(first.pid, signal.SIGKILL)
    first.wait()
    orphan = int(holder[2])
    assert study._alive(orphan)  # still evaluating
    again = run_module("driver.study", "run", str(spec_file), "-o", str(rundir), "-q")
    assert again.returncode == 0, again.stderr[-2000:]
    assert f"the study's Dakota (process {orphan}) outlived the run" in again.stderr
    assert not study._alive(orphan)  # ended (or a zombie nobody reaps)
    _, rows = read_tabular(rundir / "tabular.dat")
    assert len(rows) == 24 and all(r["cycles"] > 0 for r in rows)
    runs = Counter(json.dumps(r["point"], sort_keys=True) for r in records.simulator_runs(rundir))
    assert sum(runs.values()) == 24 and max(runs.values()) == 1
