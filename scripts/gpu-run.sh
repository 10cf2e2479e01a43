#!/usr/bin/env bash
# On the lent GPU machine (one prepared run): Keras from build/gpu_wheels/ (no network
# there), then bench/gpu_profile.py over the networks, results into $OUT (or ./gpu_out).
#   scripts/gpu-run.sh [extra bench/gpu_profile.py arguments]
set -euo pipefail
cd "$(dirname "$0")/.."
out="${OUT:-gpu_out}"
mkdir -p "$out"
python3 -m pip install -q --no-index --find-links build/gpu_wheels keras==3.15.1
nvidia-smi --query-gpu=name,clocks.max.sm,memory.total --format=csv > "$out/nvidia-smi.csv" || true
python3 bench/gpu_profile.py --out "$out/gpu_profile.json" "$@"
