"""`python code/demo.py` / `bigprior demo`: the whole pipeline on the built-in default, on any machine.

For a few photographs bundled with scikit-image (never the paper's data), at their own size (300 to
640 px; 256 px with --quick), and for each task (colorization, inpainting of the centre hole and of random holes, blind
denoising), the demo degrades the photo, inverts the built-in generator onto the observation brought
to the generator's 64 px (the generative prior), enlarges the prior to the photo's size, fuses prior
and observation there with the built-in fusion network, and scores the degraded input, the prior and
BIGPrior against the photo at its own resolution. It ends with a table (PSNR/SSIM per task, mean phi)
and a figure grid (input | prior | BIGPrior | phi | ground truth) whose path it prints.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from skimage import data as skimage_data

from .progress import progress_bar
from . import figures, imageio
from .defaults import load_defaults
from .degradations import REGISTRY
from .generators import load_generator
from .pipeline import Pipeline, Restoration
from .runtime import resolve_device, return_large_frees, seed_everything
from .commandline import add_runtime_flags
from .writer import check_output_folder, figure_panels, images_of

PHOTOS = ("astronaut", "coffee", "chelsea", "rocket")
QUICK_PHOTOS = ("astronaut", "coffee")
QUICK_ITERATIONS = 30
QUICK_SIDE = 256  # --quick shrinks the photos to this short side (the fusion's cost grows with the pixels)
SCORES = ("degraded_psnr", "prior_psnr", "bigprior_psnr", "degraded_ssim", "prior_ssim", "bigprior_ssim", "phi_mean")


def photo(name: str, short_side: int | None = None) -> np.ndarray:
    """A scikit-image sample photo, HxWx3 float32 in [0, 1], at its own size or shrunk (area) to a short side."""
    image = getattr(skimage_data, name)()
    if short_side is not None:
        scale = short_side / min(image.shape[:2])
        size = (round(image.shape[1] * scale), round(image.shape[0] * scale))
        image = np.asarray(Image.fromarray(image).resize(size, Image.BOX))
    return imageio.float_from_uint8(image)


@dataclass
class TaskResult:
    name: str
    restorations: list[Restoration]
    seconds: float

    def mean(self, key: str) -> float:
        return float(np.mean([r.scores()[key] for r in self.restorations]))


def format_table(results: Sequence[TaskResult]) -> str:
    """Mean scores per task at the photos' resolution, and where BIGPrior falls below its prior."""
    lines = [f"{'task':26s} {'PSNR: degraded':>14s} {'prior':>6s} {'BIGPrior':>8s}   {'SSIM: degraded':>14s} "
             f"{'prior':>6s} {'BIGPrior':>8s} {'mean phi':>8s} {'time':>6s}"]
    for t in results:
        m = {key: t.mean(key) for key in SCORES}
        lines.append(f"{t.name:26s} {m['degraded_psnr']:14.2f} {m['prior_psnr']:6.2f} {m['bigprior_psnr']:8.2f}   "
                     f"{m['degraded_ssim']:14.4f} {m['prior_ssim']:6.4f} {m['bigprior_ssim']:8.4f} "
                     f"{m['phi_mean']:8.3f} {t.seconds:5.0f}s")
    below = [t.name for t in results if t.mean("bigprior_psnr") < t.mean("prior_psnr")]
    if below:
        lines.append(f"note: BIGPrior is below its prior on {', '.join(below)}: the built-in fusion networks were "
                     "trained on LSUN bedroom priors, and these photos lie outside that distribution")
    return "\n".join(lines)


def run_task(task: str, clean: dict[str, np.ndarray], generator: torch.nn.Module, device: torch.device,
             iterations: int | None, seed: int) -> TaskResult:
    """Restore every photo for one task with its built-in pipeline."""
    start = time.perf_counter()
    pipeline = Pipeline.from_defaults(task, generator=generator, device=device, iterations=iterations, seed=seed)
    observations = [pipeline.simulate(image, index) for index, image in enumerate(clean.values())]
    restorations = list(pipeline.restore_all(observations, list(clean.values())))
    for r in restorations:
        r.scores()  # inside the timing
    return TaskResult(REGISTRY[task].title, restorations, time.perf_counter() - start)


def run_demo(out: Path, photos: Sequence[str], iterations: int | None, device: torch.device,
             seed: int = 0, short_side: int | None = None) -> tuple[list[TaskResult], Path]:
    check_output_folder(out)
    seed_everything(seed)
    generator = load_generator(load_defaults().generator_file)
    clean = {name: photo(name, short_side) for name in photos}
    results = [run_task(task, clean, generator, device, iterations, seed) for task in progress_bar(REGISTRY, desc="demo tasks")]
    rows = [(f"{name}\n{t.name}", figure_panels(r, images_of(r)))
            for t in results for name, r in zip(photos, t.restorations)]
    figure = figures.panel_grid(rows, out / "demo_grid.png")
    table = format_table(results)
    imageio.write_text(out / "demo_table.txt", table + "\n")
    imageio.write_json(out / "demo_results.json", [
        {"task": t.name, "photo": name, **r.scores()} for t in results for name, r in zip(photos, t.restorations)
    ])
    return results, figure


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bigprior demo", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="demo_output", help="output folder (default: demo_output/)")
    parser.add_argument("--quick", action="store_true",
                        help=f"two photos shrunk to {QUICK_SIDE} px and {QUICK_ITERATIONS} inversion steps (for CI)")
    parser.add_argument("--iterations", type=int, default=None, help="inversion steps (default: the built-in setting)")
    add_runtime_flags(parser)
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    started = time.perf_counter()
    return_large_frees()
    iterations = args.iterations if args.iterations is not None else (QUICK_ITERATIONS if args.quick else None)
    results, figure = run_demo(Path(args.out), QUICK_PHOTOS if args.quick else PHOTOS, iterations,
                               resolve_device(args.device), args.seed, QUICK_SIDE if args.quick else None)
    print(format_table(results))
    print(f"demo finished in {time.perf_counter() - started:.0f} s; figure: {figure}")
