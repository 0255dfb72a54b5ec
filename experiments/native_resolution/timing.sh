#!/usr/bin/env bash
# Wall time, CPU time and peak memory of restoring a 1024x768 and a 4000x3000 photo (scikit-image's rocket,
# enlarged) with the built-in default, denoising and inpainting, --degrade True (so the scores at full size are included).
# Usage (from the repository root): bash experiments/native_resolution/timing.sh [workspace, default runs/native_timing]
# Writes results/native_resolution/timing.txt (GNU time's figures per run).
set -euo pipefail
cd "$(dirname "$0")/../.."
WS="${1:-runs/native_timing}"
OUT=results/native_resolution/timing.txt
mkdir -p "$WS"
export PYTHONPATH="$PWD/code${PYTHONPATH:+:$PYTHONPATH}"  # this checkout, also when another one is installed
python - "$WS" <<'EOF'
import sys
from PIL import Image
from skimage import data
for width, height in ((1024, 768), (4000, 3000)):
    Image.fromarray(data.rocket()).resize((width, height), Image.BICUBIC).save(f"{sys.argv[1]}/rocket{width}.png")
EOF
: > "$OUT.tmp"
for size in 1024 4000; do
  for task in denoise inpaint; do
    /usr/bin/time -v -o "$WS/time.txt" python -m bigprior.cli restore --task "$task" --input "$WS/rocket$size.png" \
      --out "$WS/$task$size" --degrade True --device cpu > "$WS/log.txt" 2>&1
    {
      echo "rocket$size $task: $(grep -o '[0-9]*x[0-9]* *64px.*' "$WS/log.txt" | head -1)"
      grep -E "Elapsed|User time|System time|Maximum resident" "$WS/time.txt"
    } >> "$OUT.tmp"
  done
done
mv "$OUT.tmp" "$OUT"
cat "$OUT"
