#!/usr/bin/env bash
# Test the paper's eleven trained fusion networks: net_data/<experiment>_1/net_24.pth (the released
# checkpoints) on the test images 250..299 of inter_data/<experiment>/. Writes OURoutput/ images and
# the per-image metrics (MSE.npy, Mphi.npy, AUC.npy, metrics.json) into each run folder.
# Usage: bash test_cnn.sh [model ID, default 1] [epoch, default 24] [extra flags...]
set -euo pipefail
cd "$(dirname "$0")"
model="${1:-1}"; epoch="${2:-24}"; shift $(( $# > 2 ? 2 : $# ))
for experiment in col_bedroom col_church \
    denblind_bedroom denblind_church denblind_conference \
    inpcrop_bedroom inpcrop_church inpcrop_conference \
    inpvar_bedroom inpvar_church inpvar_conference; do
  python code/train.py --experiment "$experiment" --test True --test_model "$model" --test_epoch "$epoch" "$@"
done
