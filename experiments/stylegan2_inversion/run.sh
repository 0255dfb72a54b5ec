#!/usr/bin/env bash
# check-inversion of the tiny StyleGAN2 test generator (random weights, 32x32) on its own samples, per task and
# latent space at equal steps: z, w, w+ and multi-code with N codes composed at block k (b8, b16, b32).
# Usage (from the repository root): bash experiments/stylegan2_inversion/run.sh [reports folder, default
# runs/stylegan2_inversion]; then python experiments/stylegan2_inversion/collect.py [the same folder].
# Settings: 8 generated images per task (one batch), L2 loss, Adam lr 0.1, 100 steps, sigma 25, one CPU thread.
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT="${1:-runs/stylegan2_inversion}"
GEN="${GEN:-../shared/testvectors/stylegan2/tiny_r32_official.pkl}"
COMMON=(--gan_weights "$GEN" --count "${COUNT:-8}" --batch_size 8 --loss_type L2 --vgg_lambda 0 --optimization Adam
        --lr "${LR:-0.1}" --iterations "${STEPS:-100}" --sigma_min 25 --sigma_max 25 --width_mean 10 --width_var 4
        --device cpu --seed 0)
check() {  # name [flags...]
  local name=$1; shift
  [ -f "$OUT/$name/check_inversion.json" ] && return  # done earlier
  OMP_NUM_THREADS=1 PYTHONPATH=code python -m bigprior.cli check-inversion "${COMMON[@]}" --report "$OUT/$name" "$@"
}
for space in z w w+; do check "$space" --latent_space "$space"; done
for codes in 2 4 8; do
  for block in b8 b16 b32; do check "multi_N${codes}_${block}" --latent_space multi --z_number "$codes" --composing_layer "$block"; done
done
