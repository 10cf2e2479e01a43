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


def assert_one_line_error(proc: subprocess.CompletedProcess, *texts: str,
                          status: int = 2) -> None:
    """What every command promises for bad input: exit ``status``, exactly one line on
    stderr, no traceback, and each of ``texts`` in that line."""
    assert proc.returncode == status, (proc.returncode, proc.stdout[-500:], proc.stderr[-2000:])
    assert proc.stderr.count("\n") == 1 and proc.stderr.endswith("\n"), proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr, proc.stderr
    for text in texts:
        assert text in proc.stderr, proc.stderr


def tree(path: Path) -> dict[str, bytes]:
    """Every file under ``path`` with its bytes: what a refused command must not change
    (the run directory's lock file says who last held it, no data)."""
    return {str(f.relative_to(path)): f.read_bytes() for f in sorted(path.rglob("*"))
            if f.is_file() and f.name != ".lock"} if path.exists() else {}


@pytest.fixture(scope="session")
def finished_study(tmp_path_factory, native_built):
    """A finished real study (30 LHS samples of small_spec): its run directory."""
    base = tmp_path_factory.mktemp("finished")
    spec_file = write_spec(base / "study.yaml", small_spec(sampling={"samples": 30, "seed": 11}))
    proc = run_module("driver.study", "run", str(spec_file), "-o", str(base / "run"), "-q")
    assert proc.returncode == 0, proc.stderr[-2000:]
    return base / "run"


@pytest.fixture(scope="session")
def rf_bundle(finished_study, tmp_path_factory):
    """A random-forest bundle trained on ``finished_study`` (derived features: needs the
    spec to predict)."""
    out = tmp_path_factory.mktemp("bundle") / "rf"
    proc = run_module("ml.train", str(finished_study / "tabular.dat"), "--model", "rf",
                      "--out", str(out), "--quiet")
    assert proc.returncode == 0, proc.stderr[-2000:]
    return out


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
