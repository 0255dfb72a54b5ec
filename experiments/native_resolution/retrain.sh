#!/usr/bin/env bash
# Retrain the built-in fusion networks for native-resolution restore (issue 13).
#   inversion of LSUN bedroom images 0..299 at their 256x256 with the built-in 64x64 generator (--resize True:
#   GT/input at 256, each prior inverted at 64 and enlarged to 256), fusion trained on 0..249 with the
#   bounded-phi options (docs/fusion.md: --extend_input True --phi_activation sigmoid --backbone U --augment True;
#   BACKBONE=D LAYERS=8 gives the former DnCNN-8) and tested on 250..299, then the networks and
#   defaults.json (prior_resolution 64, image_resolution 256) written by bigprior.defaults.write_defaults
#   through experiments/reduced_scale/collect.py.
# Usage (from the repository root): bash experiments/native_resolution/retrain.sh [workspace, default runs/native_retrain]
# Settings are the variables below; COUNT/TRAIN/STEPS/EPOCHS/LAYERS/CROP make a smoke test small, ASSETS sends the
# networks and defaults.json elsewhere (default: the built-in ones, code/bigprior/assets/default/). Reruns resume.
set -euo pipefail
cd "$(dirname "$0")/../.."
WS="${1:-runs/native_retrain}"
LSUN="${LSUN:-../shared/bigprior-paper/lsun/bedroom}"
GEN=code/bigprior/assets/default/pggan_lsun64.pth
DEVICE="${DEVICE:-auto}"
COUNT="${COUNT:-300}"
# inversion: the built-in default's settings (defaults.json), at the images' own size
INVERT=(--gan_weights "$GEN" --loss_type L2 --vgg_lambda 0 --resize True --device "$DEVICE" --max_images "$COUNT"
        --composing_layer 4 --z_number 10 --optimization Adam --lr 0.05 --iterations "${STEPS:-100}"
        --batch_size "${INV_BATCH:-50}" --seed 0)
# fusion: the paper's recipe with the built-in networks' depth and epochs; square crops keep a CPU epoch short
FUSE=(--lr 0.01 --batch_size 8 --backbone "${BACKBONE:-U}" --phi_weight 1e-5 --epochs "${EPOCHS:-16}" --dncnn_layers "${LAYERS:-8}"
      --extend_input True --phi_activation sigmoid --augment True --train_count "${TRAIN:-250}" --crop_size "${CROP:-64}"
      --device "$DEVICE" --seed 0)

mkdir -p "$WS/inter_data"
invert() {  # script experiment [task flags...]
  local script=$1 exp=$2; shift 2
  python "code/mganprior/$script.py" -i "$LSUN" -o "$WS/inter_data/$exp" "${INVERT[@]}" "$@"
}
invert colorization col_bedroom
invert inpainting inpcrop_bedroom --mask mask_center.png
invert inpainting inpvar_bedroom --varmask True --min_p 2 --max_p 4 --width_mean 64 --width_var 32  # the paper's, at 256
invert denoising denblind_bedroom --sigma_min 5 --sigma_max 50
for exp in col_bedroom inpcrop_bedroom inpvar_bedroom denblind_bedroom; do
  run="$WS/net_data/${exp}_0"
  if [ -f "$run/metrics.json" ]; then continue; fi
  if [ -d "$run" ]; then
    python code/train.py --resume "$run" --device "$DEVICE"
  else
    # inpcrop: phi weight 1e-3 (with 1e-5 its sigmoid phi stayed near 0.1 on known pixels: 2.6 grey levels moved, MODEL_CARD.md)
    extra=(); if [ "$exp" = inpcrop_bedroom ]; then extra=(--phi_weight 1e-3); fi
    python code/train.py --root "$WS" --experiment "$exp" "${FUSE[@]}" "${extra[@]}"
  fi
done
python experiments/reduced_scale/collect.py "$WS" --defaults_only --dataset bedroom --run_id 0 \
  --assets "${ASSETS:-code/bigprior/assets/default}"
