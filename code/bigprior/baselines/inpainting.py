"""`bigprior inpaint-baseline`: OpenCV's classical inpainting as a baseline for the inpainting experiments.

    bigprior inpaint-baseline --experiment inpcrop_bedroom            # Telea and Navier-Stokes
    bigprior inpaint-baseline --experiment inpvar_church --methods Telea --radius 5

The two OpenCV peers of `bigprior peers` (`bigprior.baselines.classical`) on the test images, with a
`--radius` and a `--mask` of the user's: each fills the missing pixels of the saved observation
(`input/{i}.png`) with `cv2.inpaint` and writes `inter_data/<experiment>/<Method>output/{i}.png`
(`Teleaoutput`, `NavierStokesoutput`) and its settings.json, which the report picks up as extra columns.
The mask of an image is its `mask/{i}.png` file when there is one, else `--mask`, else the task's fixed
mask (the centre hole of `inpcrop`). Finished images are kept, so an interrupted run resumes.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..degradations import read_mask
from ..errors import BIGPriorError
from ..experiment import PAPER_TRAIN_COUNT, Experiment, workspace_root
from ..commandline import add_root_flag
from .classical.inpainting import NavierStokes, OpenCVInpainting, Telea, opencv_inpaint
from .classical.stage import PeerOutputs, run_peers

# method name (its folder is <name>output) -> its peer class
INPAINTING_METHODS: dict[str, type[OpenCVInpainting]] = {"Telea": Telea, "NavierStokes": NavierStokes}
DEFAULT_RADIUS = Telea.radius  # pixels around a missing pixel that each algorithm looks at (OpenCV's inpaintRadius)


def _method(name: str, radius: int | None) -> OpenCVInpainting:
    if name not in INPAINTING_METHODS:
        raise BIGPriorError(f"--methods: unknown method {name!r}, expected one of {', '.join(INPAINTING_METHODS)}")
    if radius is not None and radius < 1:
        raise BIGPriorError(f"--radius must be at least 1, got {radius}")
    cls = INPAINTING_METHODS[name]
    return cls() if radius is None else cls(radius=radius)


def inpaint(observed: np.ndarray, missing: np.ndarray, method: str, radius: int = DEFAULT_RADIUS) -> np.ndarray:
    """Fill the `missing` pixels of an HxWx3 uint8 image with `cv2.inpaint` (the method's name is a key
    of INPAINTING_METHODS); observed pixels are returned unchanged."""
    peer = _method(method, radius)
    return opencv_inpaint(observed, missing, peer.radius, peer.flag)


def run_inpainting_baselines(
    experiment: Experiment,
    indices: Sequence[int],
    methods: Sequence[str] = tuple(INPAINTING_METHODS),
    radius: int | None = None,
    fixed_mask: np.ndarray | None = None,
) -> dict[str, Path]:
    """Write `<Method>output/{i}.png` for each method and image (existing files are kept); returns the
    folders. `radius` None: each method's default."""
    if not experiment.degradation.has_mask:
        raise BIGPriorError(f"--experiment {experiment.name}: inpainting baselines need an inpainting experiment (inpcrop_*, inpvar_*)")
    peers = [_method(name, radius) for name in methods]
    outputs = [PeerOutputs(peer, experiment.method_dir(peer.name), None) for peer in peers]
    run_peers(experiment, outputs, indices, fixed_mask)
    return {output.method.name: output.folder for output in outputs}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description="OpenCV inpainting baselines (cv2.inpaint) for an inpainting experiment.")
    parser.add_argument("--experiment", required=True, help="<task>_<dataset> with an inpainting task, e.g. inpcrop_bedroom")
    parser.add_argument("--methods", default=",".join(INPAINTING_METHODS), help="comma-separated: " + ", ".join(INPAINTING_METHODS))
    parser.add_argument("--radius", type=int, default=None, help=f"inpainting radius in pixels (default {DEFAULT_RADIUS})")
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
