#!/usr/bin/env bash
# The inversion stage of the 256 px benchmark (issue 19): the paper's 11 experiments on LSUN images 0..299 of
# ../shared/bigprior-paper/lsun/<category> at their own 256x256, the prior of each made as `bigprior restore`
# makes it (the built-in 64x64 generator and inversion settings, defaults.json: the observation brought to 64 px,
# inverted there, the prior enlarged back; --resize True). Reruns resume.
# Usage (from the repository root): bash experiments/benchmark_256/invert.sh [workspace, default runs/benchmark_256]
#   TRAIN_IMAGES=N (< 250) keeps only training images 0..N-1 and the 50 test images 250..299: they are linked
#   into runs/lsun<N+50>/<category>/ (file names kept, so the test images come last, at positions N..N+49;
#   fuse with TRAIN_COUNT=N). COUNT=N inverts only the first N images (a smoke test); CATEGORIES="bedroom" and
#   TASKS="inpvar denblind" only some categories and tasks (to run parts side by side, e.g. OMP_NUM_THREADS=1 each).
set -euo pipefail
cd "$(dirname "$0")/../.."
WS="${1:-runs/benchmark_256}"
PAPER_LSUN="${PAPER_LSUN:-../shared/bigprior-paper/lsun}"
TRAIN_IMAGES="${TRAIN_IMAGES:-250}"
if [ "$TRAIN_IMAGES" -lt 250 ]; then  # a subset: training images 0..N-1 and the test images 250..299
  SUBSET="runs/lsun$((TRAIN_IMAGES + 50))"
  for cat in ${CATEGORIES:-bedroom church conference}; do
    mkdir -p "$SUBSET/$cat"
    ls "$PAPER_LSUN/$cat" | sort | sed -n "1,${TRAIN_IMAGES}p;251,300p" | while read -r name; do
      [ -e "$SUBSET/$cat/$name" ] || ln -s "$(realpath "$PAPER_LSUN/$cat/$name")" "$SUBSET/$cat/$name"
    done
  done
  PAPER_LSUN="$SUBSET"
fi
GEN=code/bigprior/assets/default/pggan_lsun64.pth
DEVICE="${DEVICE:-auto}"
INVERT=(--gan_weights "$GEN" --loss_type L2 --vgg_lambda 0 --resize True --device "$DEVICE" --max_images "${COUNT:-$((TRAIN_IMAGES + 50))}"
        --composing_layer 4 --z_number 10 --optimization Adam --lr 0.05 --iterations "${STEPS:-100}"
        --batch_size "${INV_BATCH:-50}" --seed 0)
mkdir -p "$WS/inter_data"
invert() {  # script experiment category [task flags...]
  local script=$1 exp=$2 cat=$3; shift 3
  python "code/mganprior/$script.py" -i "$PAPER_LSUN/$cat" -o "$WS/inter_data/$exp" "${INVERT[@]}" "$@"
}
wanted() { [[ " ${TASKS:-col inpcrop inpvar denblind} " == *" $1 "* ]]; }
for cat in ${CATEGORIES:-bedroom church conference}; do
  if [ "$cat" != conference ] && wanted col; then invert colorization "col_$cat" "$cat"; fi
  if wanted inpcrop; then invert inpainting "inpcrop_$cat" "$cat" --mask mask_center.png; fi
  if wanted inpvar; then
    invert inpainting "inpvar_$cat" "$cat" --varmask True --min_p 2 --max_p 4 --width_mean 64 --width_var 32
  fi
  if wanted denblind; then invert denoising "denblind_$cat" "$cat" --sigma_min 5 --sigma_max 50; fi
done
