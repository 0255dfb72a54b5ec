#!/usr/bin/env bash
# The reduced-scale reproduction: the paper's 11 experiments with the project's own 64x64 generator
# (code/bigprior/assets/default/pggan_lsun64.pth) instead of the published 256x256 PGGANs.
#   inversion of LSUN images 0..299 (resized to 64x64), fusion trained on 0..249, tested on 250..299,
#   then the report next to the paper's table.
# Usage (from the repository root): bash results/reduced_scale/run.sh [workspace, default runs/reduced_scale]
# Settings are the variables below; everything resumes where it stopped when rerun.
set -euo pipefail
cd "$(dirname "$0")/../.."
WS="${1:-runs/reduced_scale}"
LSUN="${LSUN:-../shared/bigprior-paper/lsun}"
GEN=code/bigprior/assets/default/pggan_lsun64.pth
DEVICE="${DEVICE:-auto}"
# inversion (no VGG term: VGG16 weights cannot be downloaded here; L2 on the visible part / luma)
INVERT=(--gan_weights "$GEN" --loss_type L2 --vgg_lambda 0 --resize True --device "$DEVICE"
        --composing_layer "${LAYER:-2}" --z_number "${CODES:-10}" --optimization Adam --lr "${LR:-0.05}"
        --iterations "${STEPS:-100}" --batch_size "${INV_BATCH:-50}" --seed 0)
# fusion (the paper's recipe; DnCNN depth and epochs reduced for a CPU)
FUSE=(--lr 0.01 --batch_size 8 --backbone D --phi_weight 1e-5 --epochs "${EPOCHS:-16}" --dncnn_layers "${LAYERS:-8}"
      --device "$DEVICE" --seed 0)

mkdir -p "$WS/inter_data"
invert() {  # script experiment category [task flags...]
  local script=$1 exp=$2 cat=$3; shift 3
  python "code/mganprior/$script.py" -i "$LSUN/$cat" -o "$WS/inter_data/$exp" "${INVERT[@]}" "$@"
}
for cat in bedroom church; do invert colorization "col_$cat" "$cat"; done
for cat in bedroom church conference; do
  invert inpainting "inpcrop_$cat" "$cat" --mask mask_center.png
  # the paper's random holes (mean side 64, sd 32 at 256 px) scaled to 64 px
  invert inpainting "inpvar_$cat" "$cat" --varmask True --min_p 2 --max_p 4 --width_mean 16 --width_var 8
  invert denoising "denblind_$cat" "$cat" --sigma_min 5 --sigma_max 50
done

for exp in col_bedroom col_church inpcrop_bedroom inpcrop_church inpcrop_conference \
           inpvar_bedroom inpvar_church inpvar_conference denblind_bedroom denblind_church denblind_conference; do
  if [ -f "$WS/net_data/${exp}_0/metrics.json" ]; then continue; fi
  if [ -d "$WS/net_data/${exp}_0" ]; then
    python code/train.py --resume "$WS/net_data/${exp}_0" --device "$DEVICE"
  else
    python code/train.py --root "$WS" --experiment "$exp" "${FUSE[@]}"
  fi
done

python code/report.py --root "$WS" --name reduced_scale --published "$(dirname "$LSUN")" --out "$WS/reports"
python results/reduced_scale/collect.py "$WS"
