#!/bin/sh
# Makes bench/baselines/.venv with NVIDIA's local GPU verifier for bench/gpu.bench.ts (optional).
set -e
cd "$(dirname "$0")"
python3 -m venv .venv
.venv/bin/pip install -q nv-local-gpu-verifier==2.7.3
