#!/usr/bin/env bash
# Wheels the lent GPU machine lacks for bench/gpu_profile.py (it has Python 3.12 and JAX
# with CUDA, no Keras and no network): Keras 3.15.1 and its dependencies for CPython 3.12,
# into build/gpu_wheels/ (carried there by the device tool; see scripts/gpu-run.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
out=build/gpu_wheels
mkdir -p "$out"
.venv/bin/python -m pip download -q --only-binary=:all: --python-version 3.12 \
    --implementation cp --platform manylinux2014_x86_64 --platform manylinux_2_17_x86_64 \
    -d "$out" keras==3.15.1
du -sh "$out"
