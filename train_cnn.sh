#!/usr/bin/env bash
# Fusion-stage training of the paper's eleven experiments (run from the repository root, after the
# inversion stage has written inter_data/<experiment>/; see runall_mGAN.sh). Each run goes to a new
# net_data/<experiment>_<ID>/ and is tested at the end. Extra flags are passed to every run,
# e.g. `bash train_cnn.sh --device cuda --seed 1` or `bash train_cnn.sh --extend_input True`.
set -euo pipefail
cd "$(dirname "$0")"
for experiment in col_bedroom col_church \
    denblind_bedroom denblind_church denblind_conference \
    inpcrop_bedroom inpcrop_church inpcrop_conference \
    inpvar_bedroom inpvar_church inpvar_conference; do
  python code/train.py --experiment "$experiment" --lr 0.01 --batch_size 8 --backbone D --phi_weight 1e-5 "$@"
done
