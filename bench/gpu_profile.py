"""Profile CNN inference on a GPU with Keras on JAX: the one script to run on a lent GPU
machine (it has JAX with CUDA, no TensorFlow and no network; Keras travels as wheels:
scripts/gpu-wheels.sh). Runs on JAX's CPU too (``--platform cpu``), which is how it is
tested here.

    python bench/gpu_profile.py --out OUT.json [--platform gpu] [--networks ...]
        [--resolutions 96 160 224] [--batches 1 8] [--warmups 5] [--repeats 30]
        [--model NAME=PATH.keras]

Per point (network, resolution, batch size): the network built with ``weights=None``, its
inference jitted (``stateless_call``, parameters on the device), ``warmups`` calls, then
``repeats`` samples, each of as many calls as last ``--min-sample-seconds``, timed by wall
clock around the calls and ``block_until_ready`` (a GPU's own time: the host only waits);
``seconds`` is the median per call, ``spread`` (q75 - q25) / median. A point that does not
build or run is one failure with its reason; the others go on. OUT.json records the
device, versions and protocol beside every point (written after each point).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

NETWORKS = ("MobileNet", "MobileNetV2", "MobileNetV3Small", "MobileNetV3Large",
            "EfficientNetB0", "EfficientNetB1", "EfficientNetB2", "EfficientNetB3",
            "EfficientNetB4", "EfficientNetB5", "EfficientNetB6", "EfficientNetB7",
            "EfficientNetV2B0", "EfficientNetV2B1", "EfficientNetV2B2", "EfficientNetV2B3",
            "ResNet50", "ResNet101", "ResNet50V2", "ResNet101V2", "DenseNet121",
            "DenseNet169", "Xception", "InceptionV3", "ConvNeXtTiny", "NASNetMobile", "VGG16")
MIN_SIDE = {"Xception": 71, "InceptionV3": 75}


def time_point(keras, jax, network: str, resolution: int, batch: int, args) -> dict:
    import numpy as np

    started = time.perf_counter()
    if network in args.user_models:  # a user's own .keras file, at its input size
        inner = keras.models.load_model(args.user_models[network], compile=False)
        inputs = keras.Input((resolution, resolution, inner.inputs[0].shape[-1]))
        model = keras.Model(inputs, inner(inputs))
    else:
        model = getattr(keras.applications, network)(weights=None,
                                                     input_shape=(resolution, resolution, 3))
    device = jax.devices()[0]
    tv = [jax.device_put(v.value, device) for v in model.trainable_variables]
    ntv = [jax.device_put(v.value, device) for v in model.non_trainable_variables]
    image = jax.device_put(np.random.default_rng(0).random(
        (batch, resolution, resolution, 3), dtype=np.float32), device)
    infer = jax.jit(lambda tv, ntv, x: model.stateless_call(tv, ntv, x, training=False)[0])
    infer(tv, ntv, image).block_until_ready()  # compile
    built = time.perf_counter() - started
    for _ in range(args.warmups):
        infer(tv, ntv, image).block_until_ready()
    one = time.perf_counter()
    infer(tv, ntv, image).block_until_ready()
    calls = max(1, int(args.min_sample_seconds / max(time.perf_counter() - one, 1e-9)))
    samples = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        for _ in range(calls):
            out = infer(tv, ntv, image)
        out.block_until_ready()
        samples.append((time.perf_counter() - start) / calls)
    q = statistics.quantiles(samples, n=4)
    median = statistics.median(samples)
    return {"network": network, "resolution": resolution, "batch_size": batch,
            "seconds": median, "spread": (q[2] - q[0]) / median, "calls_per_sample": calls,
            "samples": len(samples), "build_and_compile_s": round(built, 3)}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--platform", choices=("gpu", "cpu"), default="gpu")
    p.add_argument("--networks", nargs="+", default=list(NETWORKS))
    p.add_argument("--resolutions", type=int, nargs="+", default=[96, 160, 224])
    p.add_argument("--batches", type=int, nargs="+", default=[1, 8])
    p.add_argument("--warmups", type=int, default=5)
    p.add_argument("--repeats", type=int, default=30)
    p.add_argument("--min-sample-seconds", type=float, default=0.02)
    p.add_argument("--model", action="append", default=[], metavar="NAME=PATH.keras",
                   help="a network of your own, profiled under NAME (repeatable)")
    args = p.parse_args(argv)
    args.user_models = dict(item.split("=", 1) for item in args.model)
    args.networks += [name for name in args.user_models if name not in args.networks]
    os.environ["KERAS_BACKEND"] = "jax"
    os.environ.setdefault("JAX_PLATFORMS", "cuda" if args.platform == "gpu" else "cpu")
    try:
        import jax
        import keras
    except ImportError as err:
        print(f"gpu_profile: {err}; install JAX and Keras (scripts/gpu-wheels.sh)",
              file=sys.stderr)
        return 2
    device = jax.devices()[0]
    result = {"command": "python bench/gpu_profile.py " + " ".join(sys.argv[1:] if argv is None
                                                                    else argv),
              "device": getattr(device, "device_kind", str(device)),
              "platform": device.platform, "host": platform.node(),
              "versions": {"jax": jax.__version__, "keras": keras.__version__,
                           "python": platform.python_version()},
              "protocol": f"wall clock with block_until_ready, {args.warmups} warm-ups, "
                          f"{args.repeats} samples of >= {args.min_sample_seconds} s, median",
              "points": [], "failures": []}
    write(args.out, result)
    for network in args.networks:
        for resolution in args.resolutions:
            if network in NETWORKS and resolution < MIN_SIDE.get(network, 32):
                continue  # below what Keras builds that application at
            for batch in args.batches:
                try:
                    result["points"].append(time_point(keras, jax, network, resolution,
                                                       batch, args))
                    print(json.dumps(result["points"][-1]), flush=True)
                except Exception as err:  # noqa: BLE001 - one failure, the rest go on
                    kind = "oom" if "RESOURCE_EXHAUSTED" in str(err) else "build"
                    result["failures"].append({"network": network, "resolution": resolution,
                                               "batch_size": batch, "kind": kind,
                                               "reason": f"{type(err).__name__}: "
                                                         f"{str(err)[:200]}"})
                keras.backend.clear_session()
                write(args.out, result)
    return 0


def write(path: Path, result: dict) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(result, indent=1) + "\n")
    os.replace(tmp, path)


if __name__ == "__main__":
    sys.exit(main())
