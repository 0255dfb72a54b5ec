"""`python code/train_gan.py` / `bigprior train-gan`: train a PGGAN generator on image folders.

    bigprior train-gan --data data/lsun/bedroom data/lsun/church data/lsun/conference --steps 10000
    bigprior train-gan --resume runs/gan_0                 # continue from the last checkpoint
    bigprior train-gan --resume runs/gan_0 --steps 20000   # ... and train longer
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from dataclasses import fields
from pathlib import Path

import torch

from ..commandline import add_resume_flag, add_runtime_flags, parse_invocation, str2bool
from .augment import POLICIES
from .data import DEFAULT_COUNT
from .training import GAN_PRECISIONS, GANOptions, resume, train

DEFAULTS = GANOptions()


def _int_list(text: str) -> list[int]:
    try:
        return [int(v) for v in text.split(",")]
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from exc


def _name_list(text: str) -> list[str]:
    return [v for v in text.split(",") if v]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description="Train a PGGAN generator (the default generative prior) on image folders.")
    parser.add_argument("--data", nargs="+", default=None, help="image folders; one generator is trained on all of them")
    parser.add_argument("--count", type=int, default=DEFAULT_COUNT,
                        help=f"use the first COUNT images of each folder in sorted name order (default {DEFAULT_COUNT}: "
                             "the paper's training images 0..249; 250..299 are its test images); 0: all")
    net = parser.add_argument_group("generator (bigprior.generators.PGGANGenerator)")
    net.add_argument("--resolution", type=int, default=DEFAULTS.resolution, help="image size, a power of two")
    net.add_argument("--z_dim", type=int, default=DEFAULTS.z_dim, help="latent size")
    net.add_argument("--fmaps_base", type=int, default=DEFAULTS.fmaps_base, help="width at r px: min(fmaps_base / r, fmaps_max)")
    net.add_argument("--fmaps_max", type=int, default=DEFAULTS.fmaps_max)
    net.add_argument("--channels", type=_int_list, default=None, help="explicit widths at 4, 8, ..., R px, e.g. 128,128,128,64,32")
    tr = parser.add_argument_group("training")
    tr.add_argument("--steps", type=int, default=None, help=f"total generator steps (default {DEFAULTS.steps}; with --resume: train on to this many)")
    tr.add_argument("--batch_size", type=int, default=DEFAULTS.batch_size)
    tr.add_argument("--lr", type=float, default=DEFAULTS.lr, help="Adam learning rate of both networks, betas (0, 0.99)")
    tr.add_argument("--r1_gamma", type=float, default=DEFAULTS.r1_gamma, help="weight of the R1 penalty")
    tr.add_argument("--r1_interval", type=int, default=DEFAULTS.r1_interval, help="R1 every N discriminator steps (lazy)")
    tr.add_argument("--ema_kimg", type=float, default=DEFAULTS.ema_kimg, help="half-life of the generator EMA, thousands of images")
    tr.add_argument("--ema_rampup", type=float, default=DEFAULTS.ema_rampup, help="EMA half-life at most this fraction of images seen (0: off)")
    tr.add_argument("--augment", type=_name_list, default=",".join(POLICIES), help=f"DiffAugment policy, from {','.join(POLICIES)} ('' : none)")
    tr.add_argument("--mirror", type=str2bool, default=DEFAULTS.mirror, help="random horizontal flips of the real images")
    tr.add_argument("--precision", choices=GAN_PRECISIONS, default=DEFAULTS.precision,
                    help="default (PyTorch's; cuDNN autotuning on CUDA) or fp32 (strict float32, deterministic on CUDA)")
    out = parser.add_argument_group("outputs")
    out.add_argument("--log_every", type=int, default=DEFAULTS.log_every, help="steps per line of stats.jsonl")
    out.add_argument("--sample_every", type=int, default=DEFAULTS.sample_every, help="steps per sample grid")
    out.add_argument("--checkpoint_every", type=int, default=DEFAULTS.checkpoint_every, help="steps per checkpoint")
    out.add_argument("--grid_size", type=int, default=DEFAULTS.grid_size, help="sample grids are N x N images")
    add_resume_flag(parser, "checkpoint")
    parser.add_argument("--root", type=str, default=None, help="workspace; runs go to <root>/runs/gan_<ID> (default: $BIGPRIOR_ROOT or .)")
    parser.add_argument("--threads", type=int, default=2, help="CPU threads for torch")
    parser.add_argument("--workers", type=int, default=2, help="threads reading images")
    add_runtime_flags(parser)
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    command = parse_invocation(build_parser(), argv)
    args, device = command.args, command.device
    torch.set_num_threads(max(1, args.threads))
    if args.resume:
        resume(command.resume_folder(), device, args.steps, args.workers)
        return
    known = {f.name for f in fields(GANOptions)} - {"steps", "data"}
    options = GANOptions(**{k: v for k, v in vars(args).items() if k in known})
    options.data = [str(Path(folder).resolve()) for folder in args.data or []]
    options.steps = DEFAULTS.steps if args.steps is None else args.steps
    train(options, command.root / "runs", device, args.workers)
