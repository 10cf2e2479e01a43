"""Shared test helpers. Tests run the real dakota, qemu-riscv64 and cache plugin."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
PYTHON = sys.executable
SHIPPED_SPECS = sorted((ROOT / "dakota_inputs").glob("*.yaml"))


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
