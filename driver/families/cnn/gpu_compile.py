"""Compile networks' inference for a described NVIDIA H200, on a machine without a GPU, and
analyse what XLA generated (a process of its own: Keras runs on JAX here, on TensorFlow in
the profiling backend, and XLA reads its dump flags once per process).

    python -m driver.families.cnn.gpu_compile OUT_DIR NETWORK:RESOLUTION:BATCH ...
        [--model NAME=PATH.keras]

JAX's CUDA plugin (``jax-cuda12-plugin``, ``jax-cuda12-pjrt``) compiles for a GPU
described by a target configuration (:data:`H200`: sm_90, 132 SMs, ...), with no GPU and no
``ptxas``: XLA's dump then holds the PTX of every kernel and the thunk sequence with each
launch's grid and block. OUT_DIR/INDEX.json gets, per point, :func:`.ptx.analyse`'s totals
and launches (or the point's ``error`` in one line), the HLO counts of the GPU program
(:func:`.hlo.analyse`: cuDNN convolutions and cuBLAS GEMMs as MACs), and the analysis's own
cost: CPU seconds of build, compile and count, the point's wall time
(``analysis_seconds``) and the process's start-up (``startup_seconds``: JAX and Keras
imported once for all the points).
No autotuning runs here, so the library algorithms XLA picks can differ from a real GPU's.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

#: The H200 as XLA's GpuTargetConfig (text proto): NVIDIA's data sheet (132 SMs, 1.98 GHz
#: boost, 4.8 TB/s HBM3e, 50 MiB L2, compute capability 9.0) and CUDA's sm_90 limits.
H200 = """
gpu_device_info {
  threads_per_block_limit: 1024
  threads_per_warp: 32
  shared_memory_per_block: 49152
  shared_memory_per_core: 233472
  threads_per_core_limit: 2048
  core_count: 132
  fpus_per_core: 128
  block_dim_limit_x: 2147483647
  block_dim_limit_y: 65535
  block_dim_limit_z: 65535
  memory_bandwidth: 4800000000000
  l2_cache_size: 52428800
  clock_rate_ghz: 1.98
  device_memory_size: 150000000000
  shared_memory_per_block_optin: 232448
  cuda_compute_capability { major: 9 minor: 0 }
  registers_per_core_limit: 65536
  registers_per_block_limit: 65536
}
platform_name: "CUDA"
dnn_version_info { major: 9 minor: 8 patch: 0 }
runtime_version { major: 12 minor: 8 patch: 0 }
device_description_str: "NVIDIA H200"
"""
DEVICE = "NVIDIA H200 (described, sm_90)"


def compile_and_analyse(network: str, resolution: int, batch: int, users: dict,
                        dump: Path) -> dict:
    """Build, compile for :data:`H200` (dumping into ``dump``) and analyse."""
    import jax

    from . import hlo, networks, ptx

    jax.config.update("jax_platforms", "cpu")
    import jax.numpy as jnp
    import keras
    from jax.experimental import topologies
    from jax.sharding import NamedSharding, PartitionSpec

    started = time.process_time()
    # Only the variables' shapes are needed: their initialisers (a compile each) never run.
    with keras.StatelessScope(initialize_variables=False):
        model = networks.build(network, resolution, users)
    built = time.process_time()
    topology = topologies.get_topology_desc(platform="cuda", target_config=H200,
                                            topology="1x1x1")
    sharding = NamedSharding(topologies.make_mesh(topology, (1,), ("x",)), PartitionSpec())

    def shapes(variables):
        return [jax.ShapeDtypeStruct(v.shape, v.dtype, sharding=sharding) for v in variables]

    channels = model.inputs[0].shape[-1] or 3
    image = jax.ShapeDtypeStruct((batch, resolution, resolution, channels), jnp.float32,
                                 sharding=sharding)
    infer = jax.jit(lambda tv, ntv, x: model.stateless_call(tv, ntv, x, training=False)[0])
    infer.lower(shapes(model.trainable_variables), shapes(model.non_trainable_variables),
                image).compile()
    compiled = time.process_time()
    found = ptx.analyse_dump(dump)
    gpu_hlo = sorted(dump.glob("*.sm_*_gpu_after_optimizations.txt"))
    if len(gpu_hlo) != 1:
        raise ValueError(f"expected one GPU module's optimised HLO, found {len(gpu_hlo)}")
    found["hlo_totals"] = hlo.analyse(gpu_hlo[0].read_text())["totals"]
    found.update(network=network, resolution=resolution, batch_size=batch, device=DEVICE,
                 build_seconds=round(built - started, 3),
                 compile_seconds=round(compiled - built, 3),
                 count_seconds=round(time.process_time() - compiled, 3))
    return found


def main(argv: list[str] | None = None) -> int:
    started = time.perf_counter()
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path, help="folder: one INDEX.json per point")
    parser.add_argument("points", nargs="+", metavar="NETWORK:RESOLUTION:BATCH")
    parser.add_argument("--model", action="append", default=[], metavar="NAME=PATH")
    args = parser.parse_args(argv)
    users = dict(item.split("=", 1) for item in args.model)
    dump = Path(tempfile.mkdtemp(prefix="cyclecast-xla-"))
    os.environ["KERAS_BACKEND"] = "jax"
    os.environ["JAX_PLATFORMS"] = "cpu"  # no GPU is used: the CUDA plugin only compiles
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
    os.environ["XLA_FLAGS"] = f"--xla_dump_to={dump} --xla_dump_hlo_as_text"
    try:
        import jax  # noqa: F401 - start-up paid once for all the points
        import keras  # noqa: F401

        startup = time.perf_counter() - started
        for index, point in enumerate(args.points):
            network, resolution, batch = point.rsplit(":", 2)
            begun = time.perf_counter()
            try:
                result = compile_and_analyse(network, int(resolution), int(batch), users,
                                             dump)
                result.update(analysis_seconds=round(time.perf_counter() - begun, 3),
                              startup_seconds=round(startup, 3))
            except Exception as err:  # noqa: BLE001 - this point fails, the others go on
                result = {"error": f"{type(err).__name__}: {err!s:.300}".replace("\n", " ")}
            for path in dump.iterdir():  # the next point's module alone in the dump
                shutil.rmtree(path) if path.is_dir() else path.unlink()
            out = args.out / f"{index}.json"
            tmp = out.with_name(out.name + ".tmp")
            tmp.write_text(json.dumps(result))
            os.replace(tmp, out)
    finally:
        shutil.rmtree(dump, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
