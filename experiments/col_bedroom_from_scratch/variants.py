"""The fusion variants of col_bedroom trained from scratch: name -> `code/train.py` flags. `run.sh` beside this
and the GPU check's col_bedroom part (gpu_check/fusion_parts.py: every variant here, 3 seeds each) read this
table, so a new variant (say the multi-source fusion's `--sources ...`) is one line here.

    python experiments/col_bedroom_from_scratch/variants.py NAME     # NAME's flags, as run.sh reads them
"""

from __future__ import annotations

import sys

VARIANTS: dict[str, tuple[str, ...]] = {
    "extendFalse": ("--extend_input", "False"),  # the paper's fusion
    "extendTrue": ("--extend_input", "True"),  # phi also sees the prior
    "bounded": ("--extend_input", "True", "--phi_activation", "sigmoid", "--backbone", "U", "--augment", "True",
                "--self_ensemble", "True"),  # issue 15's bounded phi
    "multi": ("--sources", "x,gan,MeanChroma,LumaChroma", "--backbone", "U", "--lr", "0.004", "--phi_weight", "0",
              "--augment", "True"),  # issue 19's multi-source fusion over the prior and the colorization peers
}

if __name__ == "__main__":
    if len(sys.argv) != 2 or sys.argv[1] not in VARIANTS:
        sys.exit(f"usage: variants.py NAME, NAME one of {', '.join(VARIANTS)}")
    print(" ".join(VARIANTS[sys.argv[1]]))
