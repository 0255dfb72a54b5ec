#!/usr/bin/env bash
# The reduced-scale reproduction: the paper's 11 experiments with the project's own 64x64 generator
# (code/bigprior/assets/default/pggan_lsun64.pth) instead of the published 256x256 PGGANs.
#   inversion of LSUN images 0..299 (64x64 copies, made first), fusion trained on 0..249, tested on 250..299,
#   then the report next to the paper's table.
# Usage (from the repository root): bash experiments/reduced_scale/run.sh [workspace, default runs/reduced_scale]
# Settings are the variables below; everything resumes where it stopped when rerun.
set -euo pipefail
cd "$(dirname "$0")/../.."
WS="${1:-runs/reduced_scale}"
PAPER_LSUN="${PAPER_LSUN:-../shared/bigprior-paper/lsun}"
LSUN="${LSUN:-runs/lsun64}"  # 64x64 copies of the paper's images (made below)
GEN=code/bigprior/assets/default/pggan_lsun64.pth
DEVICE="${DEVICE:-auto}"
# inversion (no VGG term: VGG16 weights cannot be downloaded here; L2 on the visible part / luma)
INVERT=(--gan_weights "$GEN" --loss_type L2 --vgg_lambda 0 --device "$DEVICE"
        --composing_layer "${LAYER:-4}" --z_number "${CODES:-10}" --optimization Adam --lr "${LR:-0.05}"
        --iterations "${STEPS:-100}" --batch_size "${INV_BATCH:-50}" --seed 0)
# fusion (the paper's recipe; DnCNN depth and epochs reduced for a CPU)
FUSE=(--lr 0.01 --batch_size 8 --backbone D --phi_weight 1e-5 --epochs "${EPOCHS:-16}" --dncnn_layers "${LAYERS:-8}"
      --device "$DEVICE" --seed 0)

mkdir -p "$WS/inter_data"
python experiments/reduced_scale/make_lsun64.py "$PAPER_LSUN" "$LSUN"
invert() {  # script experiment category [task flags...]
  local script=$1 exp=$2 cat=$3; shift 3
  python "code/mganprior/$script.py" -i "$LSUN/$cat" -o "$WS/inter_data/$exp" "${INVERT[@]}" "$@"
}
fuse() {  # experiment: train (or resume) and test run _0 (the paper's fusion) and run _1 (--extend_input True)
  local exp=$1 id
  for id in 0 1; do
    if [ -f "$WS/net_data/${exp}_$id/metrics.json" ]; then continue; fi
    if [ -d "$WS/net_data/${exp}_$id" ]; then
      python code/train.py --resume "$WS/net_data/${exp}_$id" --device "$DEVICE"
    else
      python code/train.py --root "$WS" --experiment "$exp" "${FUSE[@]}" --extend_input "$([ $id = 1 ] && echo True || echo False)"
    fi
  done
}
# one category at a time, bedroom first (its extend-input networks become the built-in defaults)
for cat in bedroom church conference; do
  if [ "$cat" != conference ]; then invert colorization "col_$cat" "$cat"; fi
  invert inpainting "inpcrop_$cat" "$cat" --mask mask_center.png
  # the paper's random holes (mean side 64, sd 32 at 256 px) scaled to 64 px
  invert inpainting "inpvar_$cat" "$cat" --varmask True --min_p 2 --max_p 4 --width_mean 16 --width_var 8
  invert denoising "denblind_$cat" "$cat" --sigma_min 5 --sigma_max 50
  for task in col inpcrop inpvar denblind; do
    if [ -d "$WS/inter_data/${task}_$cat" ]; then fuse "${task}_$cat"; fi
  done
done

. experiments/paper_experiments.sh  # PAPER_EXPERIMENTS
for exp in "${PAPER_EXPERIMENTS[@]}"; do
  # OURoutput/ holds the last test: make it run _0's (the paper's fusion) for the report
  python code/train.py --root "$WS" --experiment "$exp" --test True --test_model 0 --test_epoch "$((${EPOCHS:-16} - 1))" --device "$DEVICE"
done
python code/report.py --root "$WS" --name reduced_scale --published "$(dirname "$PAPER_LSUN")" --out "$WS/reports"
python experiments/reduced_scale/collect.py "$WS"
