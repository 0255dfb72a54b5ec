"""`bigprior inpaint-baseline`: OpenCV's classical inpainting as a baseline for the inpainting experiments.

    bigprior inpaint-baseline --experiment inpcrop_bedroom            # Telea and Navier-Stokes
    bigprior inpaint-baseline --experiment inpvar_church --methods Telea --radius 5

Each method fills the missing pixels of the saved observation (`input/{i}.png`) from their
surroundings with `cv2.inpaint` and writes `inter_data/<experiment>/<Method>output/{i}.png`
(`Teleaoutput`, `NavierStokesoutput`), which the report picks up as extra columns. The mask of an
image is its `mask/{i}.png` file when there is one, else `--mask`, else the task's fixed mask (the
centre hole of `inpcrop`). Finished images are kept, so an interrupted run resumes.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from .. import imageio
from ..degradations import read_mask
from ..errors import BIGPriorError
from ..experiment import PAPER_TRAIN_COUNT, Experiment, workspace_root
from ..commandline import add_root_flag

# method name (its folder is <name>output) -> OpenCV flag
INPAINTING_METHODS: dict[str, int] = {"Telea": cv2.INPAINT_TELEA, "NavierStokes": cv2.INPAINT_NS}
DEFAULT_RADIUS = 3  # pixels around a missing pixel that each algorithm looks at (OpenCV's inpaintRadius)


def image_mask(experiment: Experiment, index: int, height: int, width: int, fixed_mask: np.ndarray | None) -> np.ndarray:
    """HxW bool mask of image `index`, True = missing (see the module docstring for the order of sources)."""
    path = experiment.mask_path(index)
    if path.is_file():
        mask = read_mask(path)[0].numpy() > 0.5
    elif fixed_mask is not None:
        mask = fixed_mask
    else:
        default = experiment.degradation.default_mask(height, width)
        if default is None:
            raise BIGPriorError(f"{path}: mask file not found ({experiment.task} masks differ per image; or give --mask)")
        mask = default[0].numpy() > 0.5
    if mask.shape != (height, width):
        raise BIGPriorError(f"{path if path.is_file() else '--mask'}: mask is {mask.shape[1]}x{mask.shape[0]}, the image {width}x{height}")
    return mask


def inpaint(observed: np.ndarray, missing: np.ndarray, method: str, radius: int = DEFAULT_RADIUS) -> np.ndarray:
    """Fill the `missing` pixels of an HxWx3 uint8 image with `cv2.inpaint` (the method's name is a key
    of INPAINTING_METHODS); observed pixels are returned unchanged."""
    if method not in INPAINTING_METHODS:
        raise BIGPriorError(f"--methods: unknown method {method!r}, expected one of {', '.join(INPAINTING_METHODS)}")
    if radius < 1:
        raise BIGPriorError(f"--radius must be at least 1, got {radius}")
    return cv2.inpaint(np.ascontiguousarray(observed), missing.astype(np.uint8) * 255, radius, INPAINTING_METHODS[method])


def run_inpainting_baselines(
    experiment: Experiment,
    indices: Sequence[int],
    methods: Sequence[str] = tuple(INPAINTING_METHODS),
    radius: int = DEFAULT_RADIUS,
    fixed_mask: np.ndarray | None = None,
) -> dict[str, Path]:
    """Write `<Method>output/{i}.png` for each method and image (existing files are kept); returns the folders."""
    if not experiment.degradation.has_mask:
        raise BIGPriorError(f"--experiment {experiment.name}: inpainting baselines need an inpainting experiment (inpcrop_*, inpvar_*)")
    for method in methods:
        if method not in INPAINTING_METHODS:
            raise BIGPriorError(f"--methods: unknown method {method!r}, expected one of {', '.join(INPAINTING_METHODS)}")
    folders = {method: experiment.method_dir(method) for method in methods}
    for method, folder in folders.items():
        imageio.check_output_folder(folder, f"--methods {method}:")
    for index in tqdm(indices, desc=f"inpainting {experiment.name}"):
        todo = [m for m in methods if not (folders[m] / f"{index}.png").is_file()]
        if not todo:
            continue
        observed = imageio.read_rgb(experiment.input_path(index))
        missing = image_mask(experiment, index, observed.shape[0], observed.shape[1], fixed_mask)
        for method in todo:
            imageio.write_png(folders[method] / f"{index}.png", inpaint(observed, missing, method, radius))
    return folders


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description="OpenCV inpainting baselines (cv2.inpaint) for an inpainting experiment.")
    parser.add_argument("--experiment", required=True, help="<task>_<dataset> with an inpainting task, e.g. inpcrop_bedroom")
    parser.add_argument("--methods", default=",".join(INPAINTING_METHODS), help="comma-separated: " + ", ".join(INPAINTING_METHODS))
    parser.add_argument("--radius", type=int, default=DEFAULT_RADIUS, help="inpainting radius in pixels")
    parser.add_argument("--mask", default=None, help="mask image (white = missing) for images without mask/{i}.png")
    parser.add_argument("--train_count", type=int, default=PAPER_TRAIN_COUNT, help="the test images train_count..N-1 are processed")
    add_root_flag(parser, holds="inter_data/")
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    experiment = Experiment(args.experiment, workspace_root(args.root))
    fixed_mask = read_mask(Path(args.mask))[0].numpy() > 0.5 if args.mask else None
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    _, indices = experiment.split(args.train_count)
    folders = run_inpainting_baselines(experiment, indices, methods, args.radius, fixed_mask)
    for method, folder in folders.items():
        print(f"{method}: {len(indices)} images in {folder}")
