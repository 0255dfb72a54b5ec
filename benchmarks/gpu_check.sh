#!/usr/bin/env bash
# The one GPU check of issue 10: inversion and fusion speed, col_bedroom from scratch (3 seeds, plain and
# --extend_input), resume and torchrun on CUDA, in at most 8 minutes; writes results/gpu/<date>_<gpu>.md.
# Before: `python benchmarks/pack_gpu_data.py pack` (the paper data, as lossless WebP in cache/gpu_data).
# Usage (repository root or anywhere):  bash benchmarks/gpu_check.sh [--smoke] [--only PARTS] [--budget S]
#   --smoke: every part at toy sizes on the CPU, in seconds (CI runs it). PYTHON picks the interpreter.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
exec "$PYTHON" benchmarks/gpu_check.py "$@"
