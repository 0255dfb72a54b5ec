#!/usr/bin/env bash
# The classical peers of the 256 px benchmark (issue 19): every peer of each experiment's task (BM3D too when the
# bm3d extra is importable) on every image of experiments/benchmark_256/invert.sh's workspace, written into the
# experiment contract (inter_data/<exp>/<Method>output/, settings.json); the colorization peers learn from the
# training split only. Reruns keep finished images.
# Usage (from the repository root): bash experiments/benchmark_256/peers.sh [workspace] [experiment ...]
#   TRAIN_COUNT=N: the training split 0..N-1 (as invert.sh's TRAIN_IMAGES; default 250)
set -euo pipefail
cd "$(dirname "$0")/../.."
WS="${1:-runs/benchmark_256}"
shift $(( $# > 0 ? 1 : 0 ))
. experiments/paper_experiments.sh  # EXPERIMENTS: the arguments, else the paper's eleven
for exp in "${EXPERIMENTS[@]}"; do
  python -m bigprior.cli peers --root "$WS" --experiment "$exp" --train_count "${TRAIN_COUNT:-250}"
done
