"""Shared test helpers. Tests run the real dakota, qemu-riscv64 and cache plugin."""
from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
PYTHON = sys.executable
SHIPPED_SPECS = sorted((ROOT / "dakota_inputs").glob("*.yaml"))
CLUSTER_SCRIPT = ROOT / "slurm" / "local-cluster.sh"
EXIT_DOWN = 3
EXIT_CANNOT = 4


@pytest.fixture(scope="session")
def native_built():
    """The plugin and kernels, built by `make -C native` (idempotent)."""
    subprocess.run(["make", "-s", "-C", str(ROOT / "native")], check=True)
    return ROOT / "build"


def small_spec(**overrides) -> dict:
    """A small real study: matmul at sizes that simulate in milliseconds."""
    spec = {
        "study": "tiny",
        "parameters": [
            {"name": "l1d_size_kib", "unit": "KiB", "role": "architecture", "values": [1, 4, 32]},
            {"name": "l1d_ways", "unit": "ways", "role": "architecture", "values": [1, 2, 8]},
            {"name": "l2_size_kib", "unit": "KiB", "role": "architecture", "values": [4, 64]},
            {"name": "line_bytes", "unit": "B", "role": "architecture", "values": [16, 64]},
            {"name": "n", "unit": "elements", "role": "workload", "values": [16, 24, 32]},
        ],
        "backend": {"name": "qemu_riscv", "settings": {"kernel": "matmul"}},
        "sampling": {"method": "lhs", "samples": 6, "seed": 11},
        "execution": {"concurrency": 2, "timeout_s": 60},
    }
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(spec.get(key), dict):
            spec[key] = {**spec[key], **value}
        else:
            spec[key] = value
    return spec


def write_spec(path: Path, spec: dict) -> Path:
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


def run_module(*args: str, cwd: Path | None = None, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run([PYTHON, "-m", *args], cwd=cwd or ROOT, capture_output=True,
                          text=True, timeout=timeout)


# --- the real one-node Slurm cluster (slurm/local-cluster.sh), one per test session ----

def free_ports(count: int) -> list[int]:
    socks = [socket.socket() for _ in range(count)]
    try:
        for sock in socks:
            sock.bind(("", 0))
        return [sock.getsockname()[1] for sock in socks]
    finally:
        for sock in socks:
            sock.close()


@pytest.fixture(scope="session")
def cluster(tmp_path_factory):
    """An up cluster: {'env': environment with SLURM_CONF, 'conf', 'dir', 'work', 'script'}."""
    ctld_port, slurmd_port = free_ports(2)
    script_env = {**os.environ,
                  "CYCLECAST_SLURM_DIR": str(tmp_path_factory.mktemp("slurm-cluster")),
                  "CYCLECAST_SLURM_CLUSTER": "cctest",
                  "CYCLECAST_SLURMCTLD_PORT": str(ctld_port),
                  "CYCLECAST_SLURMD_PORT": str(slurmd_port)}
    script_env.pop("SLURM_CONF", None)

    def script(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
        return subprocess.run(["bash", str(CLUSTER_SCRIPT), *args], env=script_env,
                              capture_output=True, text=True, timeout=timeout)

    started = script("start")
    if started.returncode == EXIT_CANNOT:
        pytest.skip(started.stderr.strip() or "local-cluster.sh: cannot run here")
    assert started.returncode == 0, started.stdout + started.stderr
    match = re.fullmatch(r"export SLURM_CONF=(\S+)\n", started.stdout)
    assert match, f"start should print only the export line on stdout: {started.stdout!r}"
    conf = Path(match.group(1))
    try:
        yield {"env": {**os.environ, "SLURM_CONF": str(conf)}, "conf": conf,
               "dir": conf.parent, "work": tmp_path_factory.mktemp("slurm-jobs"),
               "script": script}
    finally:
        stopped = script("stop")
        assert stopped.returncode == 0, stopped.stdout + stopped.stderr
        after = script("status")
        assert after.returncode == EXIT_DOWN, after.stdout + after.stderr


def slurm(cluster, *cmd: str, timeout: float = 60) -> str:
    done = subprocess.run(list(cmd), env=cluster["env"], cwd=cluster["work"],
                          capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"{cmd}: rc={done.returncode}\n{done.stdout}{done.stderr}"
    return done.stdout


def config_value(cluster, key: str) -> str:
    for line in slurm(cluster, "scontrol", "show", "config").splitlines():
        name, _, value = line.partition("=")
        if name.strip() == key:
            return value.strip()
    raise KeyError(key)
