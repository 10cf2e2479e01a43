"""The GPU program's analysis of one (network, resolution, batch size), cached on disk.

:mod:`.gpu_compile` compiles the network for a described H200 in a process of its own (Keras
on JAX, XLA's dump on) and counts the PTX kernels and library calls; the result is cached
beside the CPU analyses (:func:`.analysis.cache_dir`) by network, resolution, batch size,
JAX and Keras versions (and a user file's contents). JAX and its CUDA plugin live in
``build/jax/``, outside the venv (see requirements-jax.txt). ``analysis_seconds`` is the wall time
of the whole analysis (the child process included), what predicting a new network costs.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from . import analysis

ROOT = Path(__file__).resolve().parents[3]
#: JAX with its CUDA plugin, installed apart (make setup; requirements-jax.txt): only the
#: compiling child process has it on its path.
JAX_PATH = analysis.BUILD / "jax"
FORMAT = 1  # bumped when an analysis of the same network would come out different
TIMEOUT_S = 900


def jax_versions() -> dict[str, str]:
    """Versions of the JAX packages in :data:`JAX_PATH` (empty when not installed)."""
    from importlib.metadata import distributions

    return {d.metadata["Name"]: d.version for d in distributions(path=[str(JAX_PATH)])}


def jax_environment() -> dict[str, str]:
    """The environment of a process that imports JAX (:data:`JAX_PATH` and the checkout on
    its path)."""
    path = os.pathsep.join(filter(None, (str(ROOT), str(JAX_PATH),
                                         os.environ.get("PYTHONPATH"))))
    return {**os.environ, "PYTHONPATH": path}


def _versions() -> str:
    from importlib.metadata import version

    found = jax_versions()
    return "-".join(f"{name}{found.get(name, '-missing')}" for name in
                    ("jax", "jax-cuda12-plugin")) + f"-keras{version('keras')}"


def key(network: str, resolution: int, batch_size: int, user_models: dict) -> str:
    base = analysis.key(network, resolution, batch_size, user_models).split("-v")[0]
    return f"{base}-gpu-h200-v{FORMAT}-{_versions()}"


def cached(network: str, resolution: int, batch_size: int, user_models: dict) -> dict | None:
    path = analysis.cache_dir() / f"{key(network, resolution, batch_size, user_models)}.json"
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def gpu_analysis(network: str, resolution: int, batch_size: int, user_models: dict,
                 timeout_s: float = TIMEOUT_S) -> dict:
    """The cached GPU analysis of one point, computed (and cached) if missing; a network
    that does not compile fails the point (EvaluationFailed, kind ``build``)."""
    from ...backends.base import EvaluationFailed

    found = cached(network, resolution, batch_size, user_models)
    if found is not None:
        return found
    if "jax-cuda12-plugin" not in jax_versions():
        raise EvaluationFailed(f"{network} at {resolution} px, batch {batch_size}: GPU "
                               f"analysis needs JAX with CUDA in {JAX_PATH} (make setup "
                               "installs it from requirements-jax.txt)", "build")
    directory = analysis.cache_dir()
    directory.mkdir(parents=True, exist_ok=True)
    models = [f"--model={name}={path}" for name, path in user_models.items()
              if name == network]
    started = time.monotonic()
    with tempfile.TemporaryDirectory(dir=directory) as work:
        out = Path(work) / "gpu.json"
        command = [sys.executable, "-m", "driver.families.cnn.gpu_compile", network,
                   str(int(resolution)), str(int(batch_size)), str(out), *models]
        try:
            proc = subprocess.run(command, cwd=ROOT, capture_output=True, text=True,
                                  timeout=timeout_s, env=jax_environment())
        except subprocess.TimeoutExpired:
            raise EvaluationFailed(f"{network} at {resolution} px, batch {batch_size}: GPU "
                                   f"compile took over {timeout_s:g} s", "timeout") from None
        if proc.returncode != 0 or not out.exists():
            why = (proc.stderr.strip().splitlines() or ["no message"])[-1][:300]
            raise EvaluationFailed(f"{network} at {resolution} px, batch {batch_size}: GPU "
                                   f"compile failed: {why}", "build")
        result = json.loads(out.read_text())
        result.update(analysis_seconds=round(time.monotonic() - started, 3),
                      versions=_versions())
        path = directory / f"{key(network, resolution, batch_size, user_models)}.json"
        tmp = Path(work) / "result.json"
        tmp.write_text(json.dumps(result))
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)  # atomic: a concurrent reader never sees half a file
    with open(directory / analysis.RUNS_LOG, "a") as log:
        log.write(f"{path.name}\n")
    return result
