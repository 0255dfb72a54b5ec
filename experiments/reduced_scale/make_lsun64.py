"""64x64 copies of the paper's LSUN images for the reduced-scale reproduction.

The reproduction runs the whole pipeline at the built-in generator's 64x64 (inputs, priors, fusion), so
its images are made 64x64 once, up front: bicubic from 256x256, as the inversion's `--resize True` did
before it kept photos at their own resolution.

    python experiments/reduced_scale/make_lsun64.py ../shared/bigprior-paper/lsun runs/lsun64
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from PIL import Image

from bigprior import imageio

SIZE = 64
CATEGORIES = ("bedroom", "church", "conference")


def main(source: Path, target: Path) -> None:
    for category in CATEGORIES:
        files = imageio.list_images(source / category)
        for path in files:
            out = target / category / f"{path.stem}.png"
            if not out.is_file():
                small = Image.fromarray(imageio.read_rgb(path, allow_conversion=True)).resize((SIZE, SIZE), Image.BICUBIC)
                imageio.write_png(out, np.asarray(small))
        print(f"{target / category}: {len(files)} images of {SIZE}x{SIZE}")


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
