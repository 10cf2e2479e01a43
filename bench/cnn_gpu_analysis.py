"""The GPU program's analysis for every network of the CPU study, and the paper's (Metz et
al.: EfficientNet B3-B7, Xception, MobileNetV2), compiled for a described H200 on this
machine (no GPU): what it counts and what it costs.

    .venv/bin/python bench/cnn_gpu_analysis.py [--resolution 224] [--batch 1]

Per network: the analysis's wall time (all networks in one process: build with the
variables shaped but never initialised, XLA's GPU compile, PTX count; the process's
start-up, JAX and Keras imported, apart; the paper's dynamic code analysis took 6.8-60 s
per network), kernel launches and library calls, thread
instructions, the MACs of the cuDNN convolutions against the CPU program's counted MACs
(the same network: they should agree apart from the layers XLA lowers differently), and
the nominal-rate estimate (features.GPU_RATES: a data-sheet roofline, not fitted: no GPU
was measured). Analyses already cached are not redone (delete build/cnn_analysis/*gpu* to
time them again). Writes bench/results/cnn_gpu_analysis.md and .json.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from importlib.metadata import version
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]

from driver.families.cnn import analysis, features, gpu_analysis, runtime  # noqa: E402
from driver.spec import load_spec  # noqa: E402

RESULTS = ROOT / "bench" / "results"
PAPER = ("EfficientNetB4", "EfficientNetB5", "EfficientNetB6", "EfficientNetB7")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--resolution", type=int, default=224)
    p.add_argument("--batch", type=int, default=1)
    args = p.parse_args()
    spec = load_spec(ROOT / "dakota_inputs" / "cnn_cpu.yaml")
    networks = next(q.values for q in spec.parameters if q.name == "network")
    networks = list(networks) + [n for n in PAPER if n not in networks]
    started = time.monotonic()
    rows = []
    points = [(network, args.resolution, args.batch) for network in networks]
    fresh = {p for p in points if gpu_analysis.cached(*p, {}) is None}
    analysed = gpu_analysis.gpu_analyses(points, {})  # one process: its start-up paid once
    runtime.tensorflow(1)  # the CPU program's analyses, for the MAC comparison
    for point in points:
        network, found = point[0], analysed[point]
        if isinstance(found, Exception):
            rows.append({"network": network, "failed": str(found)})
            print(f"{network}: {found}", flush=True)
            continue
        cpu = analysis.analysis(network, args.resolution, args.batch, {})
        macs = {name: sum(r[k] for k in features.MACS) for name, r in
                (("gpu", found["hlo_totals"]), ("cpu", cpu["totals"]))}
        totals = found["totals"]
        rows.append({"network": network, "fresh": point in fresh,
                     "analysis_s": found["analysis_seconds"],
                     "startup_s": found["startup_seconds"],
                     "build_s": found["build_seconds"], "compile_s": found["compile_seconds"],
                     "count_s": found["count_seconds"], "launches": totals["launches"],
                     "library_calls": totals["library_calls"],
                     "thread_instructions": totals["instructions"],
                     "gpu_macs": macs["gpu"], "cpu_macs": macs["cpu"],
                     "est_gpu_ms": 1e3 * features.gpu_estimate_seconds(found)})
        print(f"{network}: {rows[-1]}", flush=True)
    result = {"command": "python bench/cnn_gpu_analysis.py " + " ".join(sys.argv[1:]),
              "resolution": args.resolution, "batch": args.batch,
              "versions": {**gpu_analysis.jax_versions(), "keras": version("keras")},
              "device": "NVIDIA H200, described (no GPU here)",
              "wall_s": round(time.monotonic() - started, 1), "rows": rows}
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "cnn_gpu_analysis.json").write_text(json.dumps(result, indent=1) + "\n")
    (RESULTS / "cnn_gpu_analysis.md").write_text(report(result))
    return 0


def report(result: dict) -> str:
    ok = [r for r in result["rows"] if "failed" not in r]
    timed = [r["analysis_s"] for r in ok]
    alone = [r["analysis_s"] + r["startup_s"] for r in ok]
    lines = ["# The GPU program's analysis (described H200, no GPU)", "",
             f"Command: `{result['command']}` ({result['resolution']} px, batch "
             f"{result['batch']}; {result['wall_s']:.0f} s; versions {result['versions']}). "
             "The analyses run in one process (build: the variables shaped, never "
             "initialised; XLA's GPU compile, PTX count); analysis s is each one's wall time "
             "on this 2-core machine, start-up s the process's (JAX and Keras imported, once); "
             "fresh = computed in this run (not read from the cache). GMACs: the cuDNN "
             "convolutions of the GPU program and the counted "
             "MACs of the CPU program (TensorFlow's XLA) of the same network. The estimate "
             "is the nominal-rate roofline (features.GPU_RATES: data sheet, not fitted).", "",
             f"Analysis time per network, in one process for all of them: median "
             f"{np.median(timed):.1f} s, {min(timed):.1f}-{max(timed):.1f} s over "
             f"{len(timed)} networks; a new network alone (the process's start-up, JAX and "
             f"Keras imported, added): {min(alone):.1f}-{max(alone):.1f} s (the paper: "
             "6.8-60 s of dynamic code analysis per network, then 1-11 s of prediction).", "",
             "| network | fresh | analysis s | start-up s | build s | compile s | launches | "
             "library calls | thread instructions (M) | GMACs GPU / CPU | estimate ms |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in result["rows"]:
        if "failed" in r:
            lines.append(f"| {r['network']} | failed: {r['failed']} ||||||||||")
            continue
        lines.append(f"| {r['network']} | {'yes' if r['fresh'] else 'no'} | "
                     f"{r['analysis_s']:.1f} | {r['startup_s']:.1f} | {r['build_s']:.1f} | "
                     f"{r['compile_s']:.1f} | "
                     f"{r['launches']:.0f} | {r['library_calls']:.0f} | "
                     f"{r['thread_instructions'] / 1e6:.1f} | {r['gpu_macs'] / 1e9:.3f} / "
                     f"{r['cpu_macs'] / 1e9:.3f} | {r['est_gpu_ms']:.3f} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
