#!/usr/bin/env bash
# The fusion stage of the 256 px benchmark (issue 19): on each experiment of experiments/benchmark_256/invert.sh's
# workspace (with the classical peers' outputs of `bigprior peers` in it), train and test
#   the paper's fusion (run found by its options: DnCNN-17 as the release, its recipe) and
#   the multi-source fusion over the observation, the prior and the task's classical peers (--sources).
# Usage (from the repository root): bash experiments/benchmark_256/fuse.sh [workspace] [experiment ...]
#   SOURCES_<task>="x,gan,..." overrides a task's sources; TRAIN_COUNT (the training split 0..N-1, as invert.sh's
#   TRAIN_IMAGES; default 250), EPOCHS, CROP, LR, DEVICE, SEED as below. Reruns resume.
set -euo pipefail
cd "$(dirname "$0")/../.."
WS="${1:-runs/benchmark_256}"
shift $(( $# > 0 ? 1 : 0 ))
. experiments/paper_experiments.sh  # EXPERIMENTS: the arguments, else the paper's eleven
DEVICE="${DEVICE:-auto}"
declare -A SOURCES
SOURCES[col]="${SOURCES_col:-x,gan,MeanChroma,LumaChroma}"
SOURCES[inpcrop]="${SOURCES_inpcrop:-x,gan,Telea,NavierStokes,Biharmonic}"
SOURCES[inpvar]="${SOURCES_inpvar:-x,gan,Telea,NavierStokes,Biharmonic}"
SOURCES[denblind]="${SOURCES_denblind:-x,gan,NLMeans,TV,FastNLMeans}"
COMMON=(--train_count "${TRAIN_COUNT:-250}" --epochs "${EPOCHS:-24}" --crop_size "${CROP:-64}" --device "$DEVICE" --seed "${SEED:-0}")
MULTI=(--backbone U --lr "${LR:-0.004}" --batch_size 8 --augment True --phi_weight 0 "${COMMON[@]}")
PAPER=(--lr 0.01 --batch_size 8 --backbone D --phi_weight 1e-5 "${COMMON[@]}")

train_or_resume() {  # experiment flags...: find the run by its options, resume it or train it
  local exp=$1; shift
  local folder
  folder="$(python experiments/fusion_options/collect.py find "$WS" "$exp" "$@")"
  if [ -n "$folder" ] && [ -f "$folder/metrics.json" ]; then
    echo "$exp: done ($folder)"
  elif [ -n "$folder" ]; then
    python code/train.py --resume "$folder" --device "$DEVICE"
  else
    echo "$exp: python code/train.py --root $WS --experiment $exp $*"
    python code/train.py --root "$WS" --experiment "$exp" "$@"
  fi
}

for exp in "${EXPERIMENTS[@]}"; do
  task="${exp%%_*}"
  train_or_resume "$exp" "${MULTI[@]}" --sources "${SOURCES[$task]}"
  if [ -n "${WITH_PAPER:-}" ]; then train_or_resume "$exp" "${PAPER[@]}"; fi
done
