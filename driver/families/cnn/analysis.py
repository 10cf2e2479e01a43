"""One dynamic code analysis per (network, resolution, batch size), cached on disk.

The network is built with Keras on TensorFlow and compiled by XLA for this machine's CPU
(``tf.function(jit_compile=True).experimental_get_compiler_ir(...)(stage="optimized_hlo")``:
the optimised HLO, after fusion, that XLA would run); :mod:`.hlo` counts it. The analysis
records its own cost (``build_seconds``, ``compile_seconds``, ``count_seconds``: CPU time
of this process) so that the time to predict a new network can be set against the time
to profile it.

Analyses are cached as JSON under ``build/cnn_analysis/`` (or ``$CYCLECAST_CNN_ANALYSIS``)
by network, resolution, batch size, TensorFlow and Keras versions (and a user file's
contents), so a study analyses each once, whoever asks first (the backend after timing a
point, or the family when a model needs features).
"""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
import time
from pathlib import Path

from . import networks

BUILD = Path(__file__).resolve().parents[3] / "build"
FORMAT = 1  # bumped when an analysis of the same network would come out different
RUNS_LOG = "runs.log"  # one line per analysis really run (tests count them)


def cache_dir() -> Path:
    return Path(os.environ.get("CYCLECAST_CNN_ANALYSIS", BUILD / "cnn_analysis"))


def _versions() -> str:
    from importlib.metadata import PackageNotFoundError, version

    found = []
    for name in ("tensorflow-cpu", "tensorflow", "keras"):
        try:
            found.append(f"{name}{version(name)}")
        except PackageNotFoundError:
            continue
    return "-".join(found)


def point_key(network: str, resolution: int, batch_size: int, user_models: dict) -> str:
    """The point's part of a cache key (a user file by its contents), for every analysis."""
    extra = ""
    if network in user_models:
        extra = "-" + hashlib.sha256(Path(user_models[network]).read_bytes()).hexdigest()[:16]
    return f"{network}{extra}-r{int(resolution)}-b{int(batch_size)}"


def key(network: str, resolution: int, batch_size: int, user_models: dict) -> str:
    return (f"{point_key(network, resolution, batch_size, user_models)}-v{FORMAT}-"
            f"{_versions()}")


def cached(network: str, resolution: int, batch_size: int, user_models: dict) -> dict | None:
    path = cache_dir() / f"{key(network, resolution, batch_size, user_models)}.json"
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def optimized_hlo(model, resolution: int, batch_size: int) -> str:
    """XLA's optimised HLO text of ``model``'s inference on one batch (TensorFlow)."""
    import tensorflow as tf

    channels = model.inputs[0].shape[-1] or 3
    function = tf.function(lambda x: model(x, training=False), jit_compile=True)
    spec = tf.TensorSpec((batch_size, resolution, resolution, channels), tf.float32)
    return function.experimental_get_compiler_ir(spec)(stage="optimized_hlo")


def analysis(network: str, resolution: int, batch_size: int, user_models: dict,
             model=None, build_seconds: float | None = None) -> dict:
    """The cached analysis of one point, computed (and cached) if missing. ``model``: the
    network already built (its ``build_seconds`` then count as the analysis's own)."""
    from .hlo import analyse

    found = cached(network, resolution, batch_size, user_models)
    if found is not None:
        return found
    from ...errors import EvaluationFailed

    started = time.process_time()
    try:
        if model is None:
            model = networks.build(network, resolution, user_models)
            build_seconds = time.process_time() - started
        compiled = time.process_time()
        text = optimized_hlo(model, resolution, batch_size)
    except Exception as err:  # noqa: BLE001 - this point's analysis fails, recorded
        raise EvaluationFailed(f"{network} at {resolution} px, batch {batch_size}: XLA "
                               f"analysis failed: {type(err).__name__}: {err!s:.200}",
                               "build") from None
    counted = time.process_time()
    result = analyse(text)
    result.update(network=network, resolution=int(resolution), batch_size=int(batch_size),
                  build_seconds=round(build_seconds or 0.0, 3),
                  compile_seconds=round(counted - compiled, 3),
                  count_seconds=round(time.process_time() - counted, 3),
                  hlo_lines=text.count("\n") + 1, versions=_versions())
    directory = cache_dir()
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{key(network, resolution, batch_size, user_models)}.json"
    with tempfile.NamedTemporaryFile("w", dir=directory, delete=False, suffix=".tmp") as tmp:
        json.dump(result, tmp)
    os.chmod(tmp.name, 0o644)
    os.replace(tmp.name, path)  # atomic: a concurrent reader never sees half a file
    with open(directory / RUNS_LOG, "a") as log:
        log.write(f"{path.name}\n")
    return result
