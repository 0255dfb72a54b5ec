"""`bigprior restore`: restore photos with a generative prior and a fusion network, at their own size.

    bigprior restore --task denoise --input photo.png --out results/
    bigprior restore --task colorize --input photo.png --out results/ --degrade True

A photo is the observation (a grayscale or colour photo to colorize, a photo with holes and their
mask, a noisy photo), or with `--degrade True` a clean photo from which the observation is simulated,
and PSNR/SSIM against it are reported. The defaults are the built-in generator and fusion networks
(`bigprior.defaults`); `--gan_model/--gan_weights` and `--fusion_run` take others.

The generator works at its own resolution (64 px for the built-in one): the observation is brought to
it, the prior is made there and enlarged to the photo's size, and the fusion network runs on the
photo's own pixels (`bigprior.pipeline`). Every output and metric is at the photo's size. Photos are
read whatever their mode (16-bit, palette, CMYK...; transparency flattened onto white, EXIF orientation
applied); a grayscale photo is colour for inpainting (its grey replicated) but an error for denoising.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import torch

from . import imageio
from .defaults import load_defaults
from .degradations import Degradation, Observation, read_mask, restore_class, restore_verbs
from .errors import BIGPriorError
from .generators import load_generator
from .inversion.spaces import LATENT_SPACES
from .photos import Photo, probe_photo, read_photo
from .pipeline import Pipeline, Progress, simulate
from .restoration import Restoration, Steering, steering_of
from .writer import OUTPUT_KINDS, check_output_folder, write_restoration
from .runtime import resolve_device
from .commandline import add_runtime_flags, str2bool
from .zoo import add_weights_dir_flag, resolve_generator_path

BATCH = 8  # photos read, inverted and written at a time, at most
BATCH_PIXELS = 16_000_000  # and at most this many pixels (a 4000x3000 photo goes alone)


def warn(message: str) -> None:
    print(f"warning: {message}", file=sys.stderr)


# ---------------------------------------------------------------------------------------------
# checking the command before any work


def output_names(paths: Sequence[Path]) -> list[str]:
    """Each photo's output name: its file name without suffix, made unique with _2, _3... (and said so)."""
    names: list[str] = []
    for path in paths:
        name, k = path.stem, 2
        while name in names:
            name, k = f"{path.stem}_{k}", k + 1
        if name != path.stem:
            warn(f"{path}: its outputs are named {name}_* ({path.stem}_* belong to {paths[names.index(path.stem)]})")
        names.append(name)
    return names


def observation_of(photo: Photo, degradation: Degradation, degrade: bool, index: int, seed: int,
                   reference_side: int) -> tuple[Observation, np.ndarray | None]:
    """The observation of a photo, and its ground truth when it is degraded here."""
    degradation.check_photo(photo.size[1], photo.size[0], photo.is_gray, degrade, str(photo.path))
    if degrade:
        observation, clean = simulate(degradation, photo.pixels, index, seed, reference_side), photo.pixels
    else:
        observation, clean = degradation.observe_photo(imageio.hwc_to_chw(photo.pixels), index, seed, str(photo.path)), None
    observation.notes[:0] = photo.notes
    return observation, clean


def check_photos(paths: Sequence[Path], degradation: Degradation, degrade: bool) -> list[list[int]]:
    """Check every photo from its header before any model is loaded (a bad one stops the run here), and
    plan the batches (photo positions) of at most BATCH photos and BATCH_PIXELS pixels."""
    batches: list[list[int]] = [[]]
    pixels = 0
    for index, path in enumerate(paths):
        header = probe_photo(path)
        width, height = header.size
        degradation.check_photo(height, width, header.is_gray, degrade, str(path))
        if batches[-1] and (len(batches[-1]) == BATCH or pixels + width * height > BATCH_PIXELS):
            batches.append([])
            pixels = 0
        batches[-1].append(index)
        pixels += width * height
    return batches


def format_table(rows: Sequence[tuple[str, dict]]) -> str:
    """One line per photo: size, prior resolution, mean phi and, when degraded here, PSNR and SSIM."""
    degrade = "bigprior_psnr" in rows[0][1]
    header = f"{'image':16s} {'size':>10s} {'prior':>6s} {'mean phi':>8s}"
    if degrade:
        header += f" {'degraded':>9s} {'prior':>7s} {'BIGPrior':>9s} (PSNR dB)  {'degraded':>8s} {'prior':>6s} {'BIGPrior':>8s} (SSIM)"
    lines = [header]
    for name, s in rows:
        line = f"{name:16s} {s['width']:>4d}x{s['height']:<5d} {s['prior_resolution']:>4d}px {s['phi_mean']:8.3f}"
        if degrade:
            line += (f" {s['degraded_psnr']:9.2f} {s['prior_psnr']:7.2f} {s['bigprior_psnr']:9.2f}           "
                     f"{s['degraded_ssim']:8.4f} {s['prior_ssim']:6.4f} {s['bigprior_ssim']:8.4f}")
        lines.append(line)
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# the command


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bigprior restore", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--task", required=True, help=f"one of {', '.join(restore_verbs())}")
    parser.add_argument("--input", required=True, nargs="+", help="photo(s) to restore")
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument("--degrade", type=str2bool, default=False,
                        help="True: the input is clean; simulate the degradation and report PSNR/SSIM")
    parser.add_argument("--mask", default=None, help="inpainting mask, white = missing, the photo's size (default: centre hole)")
    parser.add_argument("--random_mask", type=str2bool, default=False, help="with --degrade: random rectangular holes")
    parser.add_argument("--keep_known", type=str2bool, default=True,
                        help="inpainting: paste the known pixels back exactly (default True)")
    parser.add_argument("--gan_model", default=None, help="a published generator's name instead of the built-in one")
    add_weights_dir_flag(parser)
    parser.add_argument("--gan_weights", default=None, help="a generator weights file instead of the built-in one")
    parser.add_argument("--fusion_run", default=None, help="a fusion run folder (net_data/<exp>_<ID>) instead of the built-in network")
    parser.add_argument("--fusion_epoch", type=int, default=None, help="checkpoint epoch of --fusion_run (default: the one its test_epoch_rule picks, else the last)")
    parser.add_argument("--iterations", type=int, default=None, help="inversion steps (default: the built-in setting)")
    parser.add_argument("--latent_space", choices=LATENT_SPACES, default=None,
                        help="inversion latent space (default: the built-in setting's multi); z, w, w+ for StyleGAN2 priors")
    parser.add_argument("--tile", type=int, default=512, help="side of the tiles the fusion runs in (bounds memory)")
    add_steering_flags(parser)
    add_runtime_flags(parser)
    return parser


def add_steering_flags(parser: argparse.ArgumentParser) -> None:
    """The flags that steer the generative share (`restoration.Steering`), for restore and reblend."""
    group = parser.add_argument_group("steering the prior's share (phi: in the multi-source fusion, the generative share)")
    group.add_argument("--prior_strength", type=float, default=1.0, help="phi' = S * phi (default 1: as the network says)")
    group.add_argument("--max_phi", type=float, default=1.0, help="phi' <= C, in [0, 1] (default 1)")
    group.add_argument("--protect", default=None, help="mask image (white = region), the photo's size: phi' = 0 there")
    group.add_argument("--prior_region", default=None, help="mask image (white = region), the photo's size: phi' = 1 there")


def steering_from_args(args: argparse.Namespace, size: tuple[int, int]) -> Steering:
    """The steering of a photo of `size` (width, height) from the flags (masks read and checked)."""
    masks = [read_mask(Path(path))[0].numpy() > 0.5 if path else None for path in (args.protect, args.prior_region)]
    return steering_of(args.prior_strength, args.max_phi, *masks, size)


def task_degradation(args: argparse.Namespace, mask: torch.Tensor | None) -> tuple[str, Degradation]:
    """The task (experiment prefix) whose networks restore `--task`, and its degradation."""
    cls = restore_class(args.task, varied_masks=mask is not None or args.random_mask)
    if (mask is not None or args.random_mask) and not cls.has_mask:
        raise BIGPriorError(f"--mask and --random_mask are for masked tasks, not --task {args.task}")
    if args.random_mask and not args.degrade:
        raise BIGPriorError("--random_mask True needs --degrade True (the holes of a degraded photo are given with --mask)")
    degradation = load_defaults().task(cls.task).make_degradation()
    return cls.task, degradation if mask is None else degradation.with_mask(mask)


def build_pipeline(args: argparse.Namespace, task: str, degradation: Degradation) -> Pipeline:
    device = resolve_device(args.device)
    options = {"degradation": degradation, "device": device, "iterations": args.iterations, "seed": args.seed,
               "latent_space": args.latent_space, "keep_known": args.keep_known, "tile": args.tile}
    custom = args.gan_model or args.gan_weights
    generator = load_generator(resolve_generator_path(args.gan_model, args.gan_weights, args.weights_dir)) if custom else None
    if args.fusion_run:
        return Pipeline.from_files(task, generator or load_defaults().generator_file, args.fusion_run,
                                   epoch=args.fusion_epoch, **options)
    return Pipeline.from_defaults(task, generator=generator, **options)


def restore_batch(pipeline: Pipeline, degradation: Degradation, args: argparse.Namespace, paths: Sequence[Path],
                  batch: Sequence[int], progress: Progress | None = None) -> Iterator[tuple[int, Restoration]]:
    """(position, restoration) of the photos of one batch, each read and degraded once, inverted
    together, fused one by one; not yet steered (`Restoration.reblend`). The app calls it too."""
    made = []
    for index in batch:
        photo = read_photo(paths[index])
        made.append(observation_of(photo, degradation, args.degrade, index, args.seed, pipeline.reference_side))
        if (note := pipeline.scale_warning(*photo.size)) is not None:
            made[-1][0].notes.append(note)
    restored = pipeline.restore_all([o for o, _ in made], [c for _, c in made], batch_size=len(batch),
                                    first_index=batch[0], progress=progress)
    del made
    yield from zip(batch, restored)


def main(argv: Sequence[str] | None = None) -> list[tuple[str, dict]]:
    args = build_parser().parse_args(argv)
    out, paths = Path(args.out), [Path(p) for p in args.input]
    check_output_folder(out)
    mask = read_mask(Path(args.mask)) if args.mask else None
    task, degradation = task_degradation(args, mask)
    batches = check_photos(paths, degradation, args.degrade)
    names = output_names(paths)
    pipeline = build_pipeline(args, task, degradation)
    rows = []
    for batch in batches:
        for index, r in restore_batch(pipeline, degradation, args, paths, batch):
            steering = steering_from_args(args, r.size)
            r = r.reblend(steering)
            for note in r.notes:
                warn(note)
            write_restoration(r, names[index], out, steering)
            rows.append((names[index], r.scores()))
    print(format_table(rows))
    print(f"outputs: {out}/<name>_{{{','.join(OUTPUT_KINDS)}}}.png, <name>_metrics.json, <name>_phi.npy and "
          "<name>_restoration.npz (`bigprior reblend` reads them)")
    return rows
