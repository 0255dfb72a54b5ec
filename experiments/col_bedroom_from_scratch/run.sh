#!/usr/bin/env bash
# Fusion training from scratch on the paper's col_bedroom priors (../shared/bigprior-paper), several seeds,
# with the paper's fusion, with --extend_input True and (VARIANTS) with bounded phi; tested on images 250..299 at the epoch the
# run's --test_epoch_rule picks (lr_min: the last epoch that ends a cosine cycle), then tabulated.
# Usage (repository root): bash experiments/col_bedroom_from_scratch/run.sh [workspace]
#   full scale (GPU):  SEEDS="0 1 2" EPOCHS=50 CROP=0 DEVICE=cuda bash experiments/col_bedroom_from_scratch/run.sh
#   reduced (CPU):     SEEDS="0" EPOCHS=16 CROP=128 bash experiments/col_bedroom_from_scratch/run.sh
# VARIANTS="extendFalse extendTrue" (the paper's fusion, --extend_input True; "bounded" adds issue 15's bounded
# phi, "multi" issue 19's multi-source fusion, its peers made first; each variant's train.py flags are in variants.py beside this) and TRAIN_COUNT=250 can be set too;
# COLLECT=False leaves table.md alone.
set -euo pipefail
cd "$(dirname "$0")/../.."
WS="${1:-runs/col_bedroom_from_scratch}"
PAPER="${PAPER:-../shared/bigprior-paper}"
SEEDS="${SEEDS:-0 1 2}"
EPOCHS="${EPOCHS:-50}"; CROP="${CROP:-0}"; DEVICE="${DEVICE:-auto}"; PRECISION="${PRECISION:-default}"
VARIANTS="${VARIANTS:-extendFalse extendTrue}"; TRAIN_COUNT="${TRAIN_COUNT:-250}"

# the paper's data, linked file by file (nothing is ever written into ../shared): one cp per folder, not a process per file
mkdir -p "$WS/inter_data/col_bedroom"
for sub in GT input mGANoutput; do
  cp -rsf "$(realpath "$PAPER/inter_data/col_bedroom/$sub")" "$WS/inter_data/col_bedroom/"
done
if grep -q -- "--sources" <<< "$(for v in $VARIANTS; do python experiments/col_bedroom_from_scratch/variants.py "$v"; done)"; then
  # the multi-source variant's classical sources: the colorization peers, fitted on the training images only
  python -m bigprior.cli peers --root "$WS" --experiment col_bedroom --methods MeanChroma,LumaChroma --train_count "$TRAIN_COUNT"
fi
for variant in $VARIANTS; do
  flags_line=$(python experiments/col_bedroom_from_scratch/variants.py "$variant")
  read -r -a flags <<< "$flags_line"
  for seed in $SEEDS; do
    tag="seed${seed}_${variant}"
    if grep -qs "^$tag " "$WS/runs.txt"; then continue; fi
    start=$(date +%s)
    python code/train.py --root "$WS" --experiment col_bedroom --lr 0.01 --batch_size 8 --backbone D --phi_weight 1e-5 \
      --epochs "$EPOCHS" --crop_size "$CROP" --seed "$seed" "${flags[@]}" --device "$DEVICE" \
      --precision "$PRECISION" --train_count "$TRAIN_COUNT" | tee "$WS/last.log"
    run=$(grep -o 'Completed: .*' "$WS/last.log" | sed 's/Completed: //')
    echo "$tag $run $(( $(date +%s) - start ))" >> "$WS/runs.txt"
  done
done
if [ "${COLLECT:-True}" = True ]; then python experiments/col_bedroom_from_scratch/collect.py "$WS"; fi
