"""What the convert commands share (`bigprior convert-pggan`, `bigprior convert-stylegan2`): their
output flags, a grid of samples from fixed seeds to check a conversion by eye, and the writing
(converting the same file twice gives byte-identical outputs)."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..errors import BIGPriorError
from ..imageio import check_output_file, image_grid, torch_save, write_png
from ..runtime import resolve_device
from ..commandline import add_runtime_flags


def conversion_parser(family: str, description: str, input_help: str, output_example: str,
                      networks: tuple[str, ...]) -> argparse.ArgumentParser:
    """The flags every convert command has: input, output, --which (the first network is the published,
    moving-average one), the sample grid, --overwrite and the runtime flags."""
    parser = argparse.ArgumentParser(prog=f"bigprior convert-{family}", description=description)
    parser.add_argument("input", help=input_help)
    parser.add_argument("output", help=f"file to write, e.g. {output_example}")
    parser.add_argument("--which", choices=networks, default=networks[0],
                        help=f"{networks[0]}: the moving-average generator (the published one, default); "
                             f"{networks[1]}: the trained one")
    parser.add_argument("--grid", default=None, help="sample grid PNG (default: <output stem>_samples.png beside it)")
    parser.add_argument("--samples", type=int, default=16, help="images in the sample grid (default 16)")
    parser.add_argument("--overwrite", action="store_true", help="replace existing output files")
    add_runtime_flags(parser)
    return parser


def sample_grid(generator: nn.Module, count: int, seed: int, device: torch.device, batch_size: int = 8) -> np.ndarray:
    """Images of `count` codes z ~ N(0, 1) drawn from `seed` (on the CPU, so any device draws the same)."""
    codes = torch.randn(count, generator.z_dim, generator=torch.Generator().manual_seed(seed))
    generator = generator.to(device)
    with torch.inference_mode():
        images = torch.cat([generator(chunk.to(device)).cpu() for chunk in codes.split(batch_size)])
    return image_grid((images + 1) / 2)


def output_paths(args: argparse.Namespace) -> tuple[Path, Path]:
    """The converted file and the sample grid, checked before anything is read or written."""
    output = Path(args.output)
    grid = Path(args.grid) if args.grid else output.with_name(f"{output.stem}_samples.png")
    if args.samples < 1:
        raise BIGPriorError(f"--samples: expected at least 1, got {args.samples}")
    for path, flag in ((output, "output"), (grid, "--grid")):
        if path.exists() and not args.overwrite:
            raise BIGPriorError(f"{path}: exists already (pass --overwrite to replace it)")
        check_output_file(path, flag)
    return output, grid


def write_conversion(args: argparse.Namespace, generator: nn.Module, content: object) -> tuple[Path, Path]:
    """Write `content` (torch_save: the same content gives the same bytes) and the sample grid."""
    output, grid = output_paths(args)
    torch_save(output, content)
    write_png(grid, sample_grid(generator, args.samples, args.seed, resolve_device(args.device)))
    return output, grid


