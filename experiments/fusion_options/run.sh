#!/usr/bin/env bash
# The fusion options of issue 15 at reduced scale: per experiment and seed, fusion runs on the same priors
# (a workspace whose inter_data/ is experiments/reduced_scale/run.sh's), with the recipe of its runs and
#   P: the paper's fusion (its run _0), E: --extend_input True (its run _1)
#   A: --extend_input True --phi_activation sigmoid
#   B: A + --backbone U --augment True --self_ensemble True
#   C: B + --test_epoch_rule holdout --holdout 25 (the epoch picked on 25 held-out training images)
# Usage (from the repository root):
#   bash experiments/fusion_options/run.sh [workspace, default runs/reduced_scale] [experiment ...]
#   (default: the 11 experiments; CONFIGS="A B" and SEEDS="0" by default; EPOCHS, LAYERS, DEVICE as
#   reduced_scale/run.sh; TRAIN_COUNT 250, HOLDOUT 25, CROP 0 = whole images)
# A run is found again by its options (collect.py find), so rerunning resumes unfinished runs and skips
# tested ones. Ends with results/fusion_options/table.md (collect.py table).
set -euo pipefail
cd "$(dirname "$0")/../.."
WS="${1:-runs/reduced_scale}"
shift $(( $# > 0 ? 1 : 0 ))
. experiments/paper_experiments.sh  # EXPERIMENTS: the arguments, else the paper's eleven
DEVICE="${DEVICE:-auto}"
# the recipe of experiments/reduced_scale/run.sh's fusion runs
FUSE=(--lr 0.01 --batch_size 8 --backbone D --phi_weight 1e-5 --epochs "${EPOCHS:-16}" --dncnn_layers "${LAYERS:-8}"
      --train_count "${TRAIN_COUNT:-250}" --crop_size "${CROP:-0}")
declare -A CONFIG
CONFIG[P]=""  # the paper's fusion (experiments/reduced_scale/run.sh's run _0)
CONFIG[E]="--extend_input True"  # its run _1
CONFIG[A]="--extend_input True --phi_activation sigmoid"
CONFIG[B]="${CONFIG[A]} --backbone U --augment True --self_ensemble True"
CONFIG[C]="${CONFIG[B]} --test_epoch_rule holdout --holdout ${HOLDOUT:-25}"

for exp in "${EXPERIMENTS[@]}"; do
  for seed in ${SEEDS:-0}; do
    for config in ${CONFIGS:-A B}; do
      read -r -a flags <<< "${CONFIG[$config]}"
      options=("${FUSE[@]}" "${flags[@]}" --seed "$seed")
      folder="$(python experiments/fusion_options/collect.py find "$WS" "$exp" "${options[@]}")"
      if [ -n "$folder" ] && [ -f "$folder/metrics.json" ]; then
        echo "$exp seed $seed config $config: done ($folder)"
      elif [ -n "$folder" ]; then
        python code/train.py --resume "$folder" --device "$DEVICE"
      else
        echo "$exp seed $seed config $config: python code/train.py --root $WS --experiment $exp ${options[*]}"
        python code/train.py --root "$WS" --experiment "$exp" "${options[@]}" --device "$DEVICE"
      fi
    done
  done
done
python experiments/fusion_options/collect.py table "$WS" --out "${TABLE:-results/fusion_options/table.md}"
