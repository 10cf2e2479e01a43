"""The GPU program's analysis of one (network, resolution, batch size), cached on disk.

:mod:`.gpu_compile` compiles the network for a described H200 in a process of its own (Keras
on JAX, XLA's dump on) and counts the PTX kernels and library calls; the result is cached
beside the CPU analyses (:func:`.analysis.cache_dir`) by network, resolution, batch size,
JAX and Keras versions (and a user file's contents). JAX and its CUDA plugin live in
``build/jax/``, outside the venv (see requirements-jax.txt). ``analysis_seconds`` is a
point's wall time in the child and ``startup_seconds`` the child's start-up, paid once per
batch of points: a new network's analysis costs their sum.
"""
from __future__ import annotations

import functools
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from . import analysis

ROOT = Path(__file__).resolve().parents[3]
#: JAX with its CUDA plugin, installed apart (make setup; requirements-jax.txt): only the
#: compiling child process has it on its path.
JAX_PATH = analysis.BUILD / "jax"
FORMAT = 1  # bumped when an analysis of the same network would come out different
TIMEOUT_S = 900


@functools.lru_cache(maxsize=1)
def jax_versions() -> dict[str, str]:
    """Versions of the JAX packages in :data:`JAX_PATH` (empty when not installed; read
    once per process)."""
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
    base = analysis.point_key(network, resolution, batch_size, user_models)
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
    point = (network, int(resolution), int(batch_size))
    found = gpu_analyses([point], user_models, timeout_s)[point]
    if isinstance(found, Exception):
        raise found
    return found


def gpu_analyses(points: list[tuple[str, int, int]], user_models: dict,
                 timeout_s: float = TIMEOUT_S) -> dict[tuple, dict | Exception]:
    """The GPU analyses of ``points`` (network, resolution, batch size): cached ones read,
    the others computed in one process (JAX's start-up paid once) and cached. A point that
    fails gets its EvaluationFailed instead of a result."""
    from ...errors import EvaluationFailed

    out: dict[tuple, dict | Exception] = {}
    missing = []
    for point in dict.fromkeys(points):
        found = cached(*point, user_models)
        if found is None:
            missing.append(point)
        else:
            out[point] = found
    if not missing:
        return out

    def failed(point, why: str, kind: str = "build") -> EvaluationFailed:
        return EvaluationFailed(f"{point[0]} at {point[1]} px, batch {point[2]}: GPU "
                                f"{why}", kind)

    if "jax-cuda12-plugin" not in jax_versions():
        for point in missing:
            out[point] = failed(point, f"analysis needs JAX with CUDA in {JAX_PATH} (make "
                                "setup installs it from requirements-jax.txt)")
        return out
    directory = analysis.cache_dir()
    directory.mkdir(parents=True, exist_ok=True)
    names = {network for network, _, _ in missing}
    models = [f"--model={name}={path}" for name, path in user_models.items() if name in names]
    with tempfile.TemporaryDirectory(dir=directory) as work:
        command = [sys.executable, "-m", "driver.families.cnn.gpu_compile", work,
                   *(f"{n}:{r}:{b}" for n, r, b in missing), *models]
        try:
            proc = subprocess.run(command, cwd=ROOT, capture_output=True, text=True,
                                  timeout=timeout_s * len(missing), env=jax_environment())
            why = (proc.stderr.strip().splitlines() or ["no message"])[-1][:300]
        except subprocess.TimeoutExpired:
            proc, why = None, f"compile took over {timeout_s:g} s per point"
        with open(directory / analysis.RUNS_LOG, "a") as log:
            for index, point in enumerate(missing):
                try:
                    result = json.loads((Path(work) / f"{index}.json").read_text())
                except (OSError, ValueError):
                    out[point] = failed(point, f"compile failed: {why}" if proc else why,
                                        "build" if proc else "timeout")
                    continue
                if "error" in result:
                    out[point] = failed(point, f"compile failed: {result['error']}")
                    continue
                result["versions"] = _versions()
                path = directory / f"{key(*point, user_models)}.json"
                tmp = Path(work) / f"{index}.result"
                tmp.write_text(json.dumps(result))
                os.chmod(tmp, 0o644)
                os.replace(tmp, path)  # atomic: a concurrent reader never sees half a file
                log.write(f"{path.name}\n")
                out[point] = result
    return out
