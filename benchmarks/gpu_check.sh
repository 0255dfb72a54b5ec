#!/usr/bin/env bash
# The one GPU check (issue 20): every figure the goals read, in one run planned to fit 480 s on one H200; the
# orchestration lives in gpu_check/ (gpu_check/README.md), this is its one entry point.
# Before: `python -m gpu_check.pack_data pack` (the paper data, as lossless WebP in cache/gpu_data).
# Usage (from anywhere):  bash benchmarks/gpu_check.sh [--plan] [--smoke] [--only PARTS] [--budget S]
#   --plan: the parts, their limits and estimates, nothing run; --smoke: every part at toy sizes on the CPU (CI).
#   PYTHON picks the interpreter (default python3, the one holding PyTorch on the device machine).
set -euo pipefail
cd "$(dirname "$0")/.."
exec "${PYTHON:-python3}" -m gpu_check "$@"
