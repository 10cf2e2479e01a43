"""Bad input around Slurm: one-line errors saying what to do, non-zero exit, nothing deleted."""
from __future__ import annotations

import os
import shutil
import subprocess

from conftest import PYTHON, assert_one_line_error, small_spec, write_spec


def study(env, cwd, *args):
    return subprocess.run([PYTHON, "-m", "driver.study", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=60)


def test_more_cpus_than_the_cluster_has(cluster, tmp_path):
    spec = write_spec(tmp_path / "big.yaml", small_spec(execution={"concurrency": 512}))
    proc = study(cluster["env"], tmp_path, "submit", str(spec), "-o", str(tmp_path / "run"))
    assert_one_line_error(proc, "execution: asks 512 tasks x 1 CPUs on 1 node(s)", "it has 1 nodes x")
    assert (tmp_path / "run" / "job.sh").exists()  # rendered, kept, not submitted
    assert not (tmp_path / "run" / "jobs.jsonl").exists()


def test_unknown_partition(cluster, tmp_path):
    spec = small_spec(execution={"slurm": {"partition": "gpu_huge"}})
    proc = study(cluster["env"], tmp_path, "submit", str(write_spec(tmp_path / "p.yaml", spec)),
                 "-o", str(tmp_path / "run"))
    assert_one_line_error(proc, "execution.slurm.partition: 'gpu_huge' refused", "allowed: debug")


def test_sbatch_missing(tmp_path):
    spec = write_spec(tmp_path / "s.yaml", small_spec())
    only_qemu = tmp_path / "bin"
    only_qemu.mkdir()
    (only_qemu / "qemu-riscv64").symlink_to(shutil.which("qemu-riscv64"))
    env = {**os.environ, "PATH": str(only_qemu)}
    proc = study(env, tmp_path, "submit", str(spec), "-o", str(tmp_path / "run"))
    assert_one_line_error(proc, "sbatch not found", "slurm/local-cluster.sh start")


def test_munge_not_running(cluster, tmp_path):
    # The real munge client, pointed at a socket where no munged listens.
    shim = tmp_path / "bin"
    shim.mkdir()
    (shim / "munge").write_text(f"#!/bin/sh\nexec {shutil.which('munge')} "
                                f"--socket={tmp_path}/no-munged.socket \"$@\"\n")
    (shim / "munge").chmod(0o755)
    env = {**cluster["env"], "PATH": f"{shim}:{cluster['env']['PATH']}"}
    spec = write_spec(tmp_path / "s.yaml", small_spec())
    proc = study(env, tmp_path, "submit", str(spec), "-o", str(tmp_path / "run"))
    assert_one_line_error(proc, "munge is not running")


def test_not_a_run_directory(cluster, tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    for command in ("status", "resume", "tabular", "submit", "exec"):
        proc = study(cluster["env"], tmp_path, command, str(tmp_path))
        assert_one_line_error(proc, "not a cyclecast run directory")
    assert (tmp_path / "notes.txt").read_text() == "mine"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]
