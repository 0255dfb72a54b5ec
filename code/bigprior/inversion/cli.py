"""The paper's inversion command lines: `python code/mganprior/{colorization,inpainting,denoising}.py`
and `bigprior invert <script> ...`.

    python code/mganprior/colorization.py --gan_model pggan_bedroom --target_images data/lsun/bedroom \\
        --outputs inter_data/col_bedroom --composing_layer 6 --z_number 20

Flags, their order and their defaults are the release's (so mGANargs.txt has its keys, in its order),
then this project's. The scripts differ only in their defaults, their task flags and the degradation
those flags make; everything else is the shared stage (`bigprior.inversion.stage`).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields
from pathlib import Path

import torch

from ..degradations import BlindAWGN, Colorization, Degradation, Inpainting, RandomMaskInpainting, read_mask
from ..errors import BIGPriorError
from ..generators import load_generator as load_generator_file
from ..zoo import resolve_generator_path
from ..runtime import PRECISIONS, resolve_device, str2bool
from .losses import build_loss
from .spaces import LATENT_SPACES, composing_layer_arg
from .distributed import ProcessShare, gather_summaries, process_group
from .stage import InversionSettings, Inverter, experiment_for_outputs, input_files, run_stage

MASKS_DIR = Path(__file__).resolve().parents[2] / "mganprior" / "masks"
CENTER_MASK = "mask_center.png"  # the paper's centre hole, built in (center_mask)
INVERSION_TYPE = "PGGAN-Multi-Z"


def inpainting_degradation(args: argparse.Namespace) -> Degradation:
    if args.varmask:
        return RandomMaskInpainting(args.min_p, args.max_p, args.width_mean, args.width_var)
    if args.mask == CENTER_MASK:
        return Inpainting(None)
    for path in (Path(args.mask), MASKS_DIR / args.mask):
        if path.is_file():
            return Inpainting(read_mask(path))
    raise BIGPriorError(
        f"-m/--mask {args.mask}: not a file, nor in {MASKS_DIR} ({CENTER_MASK} is built in; or use --varmask True)"
    )


def add_inpainting_flags(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("random masks")
    group.add_argument("--varmask", type=str2bool, default=False, help="True: random rectangles per image, saved as mask/{i}.png")
    group.add_argument("--min_p", type=int, default=2, help="minimum number of rectangles in a mask")
    group.add_argument("--max_p", type=int, default=4, help="maximum number of rectangles in a mask")
    group.add_argument("--width_mean", type=int, default=64, help="mean side of a rectangle (normal)")
    group.add_argument("--width_var", type=int, default=32, help="standard deviation of a rectangle's side")


def add_denoising_flags(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("noise")
    group.add_argument("--single_level", type=str2bool, default=False, help="True: every image gets sigma_min")
    group.add_argument("--sigma_min", type=int, default=5, help="smallest AWGN sigma (0..255 scale)")
    group.add_argument("--sigma_max", type=int, default=75, help="largest AWGN sigma (0..255 scale)")


@dataclass(frozen=True)
class Script:
    """What distinguishes one of the release's three inversion scripts."""

    name: str
    description: str
    composing_layer: int
    z_number: int
    vgg_lambda: float
    iterations: int
    mask_default: str | None  # the release's -m/--mask flag (denoising has it too, unused)
    release_batch_flag: bool  # the release's own --batch_size flag (not in colorization)
    add_task_flags: Callable[[argparse.ArgumentParser], None] | None
    degradation: Callable[[argparse.Namespace], Degradation]


SCRIPTS: dict[str, Script] = {
    "colorization": Script("colorization", "Colorization prior by multi-code GAN inversion (loss on luma).",
                           4, 20, 1.0, 1500, None, False, None, lambda args: Colorization()),
    "inpainting": Script("inpainting", "Inpainting prior by multi-code GAN inversion (loss on the known pixels).",
                         4, 30, 0.1, 3000, CENTER_MASK, True, add_inpainting_flags, inpainting_degradation),
    "denoising": Script("denoising", "Blind AWGN denoising prior by multi-code GAN inversion.",
                        4, 30, 0.1, 3000, "./examples/masks/mask-2.png", True, add_denoising_flags,
                        lambda args: BlindAWGN(args.sigma_min, args.sigma_max, args.single_level)),
}


def build_parser(script: Script, io: bool = True) -> argparse.ArgumentParser:
    """The script's flags; `io=False` leaves out -i/--target_images and -o/--outputs (check-inversion)."""
    p = argparse.ArgumentParser(prog=f"{script.name}.py", description=script.description)
    if io:
        p.add_argument("-i", "--target_images", required=True, help="folder of clean RGB images (sorted by name; index i = position)")
    if script.mask_default is not None:
        p.add_argument("-m", "--mask", default=script.mask_default,
                       help=f"mask file (white = missing), a name in code/mganprior/masks/, or {CENTER_MASK} (built in)")
    if io:
        p.add_argument("-o", "--outputs", required=True, help="experiment folder <workspace>/inter_data/<task>_<dataset>")
    p.add_argument("--inversion_type", default=INVERSION_TYPE, help=f"only {INVERSION_TYPE} (multi-code GAN prior)")
    p.add_argument("--composing_layer", type=composing_layer_arg, default=script.composing_layer,
                   help="layer where the codes are composed (StyleGAN2: the first block the shared code drives, "
                        "an index or a name such as b16)")
    p.add_argument("--z_number", type=int, default=script.z_number, help="number of latent codes")
    p.add_argument("--image_size", type=int, default=256, help="size the VGG loss resizes images to")
    p.add_argument("--loss_type", default="Combine", help="Combine (l1/l2/vgg lambdas), L2, L1 or VGG")
    p.add_argument("--vgg_loss_type", default="L1", help="distance of VGG features: L1 or L2")
    p.add_argument("--vgg_layer", type=int, default=16, help="VGG16 features[:vgg_layer] (16: relu3_3)")
    p.add_argument("--l1_lambda", type=float, default=0.0, help="weight of L1 in Combine")
    p.add_argument("--l2_lambda", type=float, default=1.0, help="weight of MSE in Combine")
    p.add_argument("--vgg_lambda", type=float, default=script.vgg_lambda, help="weight of the VGG loss in Combine (0: no VGG file needed)")
    batch_help = "images inverted at once (results do not depend on it)"
    if script.release_batch_flag:
        p.add_argument("--batch_size", type=int, default=8, help=batch_help)
    p.add_argument("--optimization", default="GD", help="GD (plain SGD) or Adam")
    p.add_argument("--init_type", default="Normal", help="initial codes: Normal (z ~ N(0, 1)) or Zero")
    p.add_argument("--lr", type=float, default=1.0, help="learning rate")
    p.add_argument("--iterations", type=int, default=script.iterations, help="optimization steps")
    p.add_argument("--gan_model", default="pggan_churchoutdoor", help="generator name, e.g. pggan_bedroom")
    p.add_argument("--video", type=str2bool, default=False, help="not supported (the release's inversion videos)")
    p.add_argument("--fps", type=int, default=24, help="frame rate of the (unsupported) video")
    if script.add_task_flags is not None:
        script.add_task_flags(p)
    ours = p.add_argument_group("this project's options")
    ours.add_argument("--gan_weights", default=None, help="generator weights file (instead of --gan_model's)")
    if not script.release_batch_flag:
        ours.add_argument("--batch_size", type=int, default=8, help=batch_help)
    ours.add_argument("--seed", type=int, default=0, help="seed of the per-image initial codes, masks and noise")
    ours.add_argument("--device", default="auto", help="auto (CUDA when present), cpu, cuda or cuda:N")
    ours.add_argument("--max_images", type=int, default=300, help="use the first N images (the paper: 300)")
    ours.add_argument("--start", type=int, default=0, help="first image index to process")
    ours.add_argument("--end", type=int, default=None, help="one past the last image index to process")
    ours.add_argument("--resize", type=str2bool, default=False, help="True: bicubic-resize images to the generator's size")
    ours.add_argument("--vgg_weights", default=None, help="torchvision's vgg16-397923af.pth (default: torch's caches)")
    ours.add_argument("--restarts", type=int, default=1, help="initialisations per image; the lowest final loss is kept")
    ours.add_argument("--precision", choices=PRECISIONS, default="default",
                      help="default (PyTorch's; TF32 convs on CUDA), fp32 (strict: on CPU batches equal single images bit for bit) or bf16 (autocast)")
    ours.add_argument("--fold_layers", type=str2bool, default=False,
                      help="True: run the PGGAN blocks folded (faster; equal up to float rounding)")
    ours.add_argument("--compile", type=str2bool, default=False, help="True: torch.compile the inversion step")
    ours.add_argument("--latent_space", choices=LATENT_SPACES, default="multi",
                      help="multi (multi-code composition, PGGAN and StyleGAN2), or StyleGAN2's z, w or w+ (one code)")
    return p


def settings_from_args(args: argparse.Namespace) -> InversionSettings:
    return InversionSettings(**{f.name: getattr(args, f.name) for f in fields(InversionSettings)})


def check_release_flags(args: argparse.Namespace) -> None:
    if args.video:
        raise BIGPriorError("--video True: inversion videos are not supported (the inversion is batched); drop the flag")
    if args.inversion_type != INVERSION_TYPE:
        raise BIGPriorError(f"--inversion_type {args.inversion_type!r}: only {INVERSION_TYPE} is supported")
    if args.max_images < 1:
        raise BIGPriorError(f"--max_images must be at least 1, got {args.max_images}")


def load_generator(args: argparse.Namespace) -> torch.nn.Module:
    """The PGGAN or StyleGAN2 generator of --gan_model / --gan_weights (the family read from the file)."""
    return load_generator_file(resolve_generator_path(args.gan_model, args.gan_weights))


def build_inverter(args: argparse.Namespace, degradation: Degradation, device: torch.device,
                   generator: torch.nn.Module | None = None) -> Inverter:
    """Generator, loss and settings of the parsed flags (shared by the scripts and check-inversion)."""
    generator = generator or load_generator(args)
    loss = build_loss(args.loss_type, args.l1_lambda, args.l2_lambda, args.vgg_lambda, args.vgg_loss_type,
                      args.vgg_layer, args.image_size, args.vgg_weights)
    return Inverter(generator, loss, degradation, settings_from_args(args), device)


def run_script(script: Script, argv: Sequence[str] | None = None) -> None:
    args = build_parser(script).parse_args(argv)
    check_release_flags(args)
    degradation = script.degradation(args)
    experiment = experiment_for_outputs(args.outputs, degradation)
    files = input_files(args.target_images, args.max_images)
    share = ProcessShare.from_environment()
    inverter = build_inverter(args, degradation, share.device(resolve_device(args.device)))
    with process_group(share):
        summary = run_stage(inverter, experiment, list(enumerate(files))[args.start : args.end],
                            total_images=len(files), args=vars(args),
                            batch_size=args.batch_size, resize=args.resize, share=share)
        summary = gather_summaries(summary, share)
    if share.rank == 0:
        print(summary.format(experiment, share.world))


def script_main(name: str) -> Callable[[Sequence[str] | None], None]:
    """The `main(argv)` of one script (for the thin wrappers in code/mganprior/)."""
    return lambda argv=None: run_script(SCRIPTS[name], argv)


def main(argv: Sequence[str] | None = None) -> None:
    """`bigprior invert <colorization|inpainting|denoising> [flags]`."""
    argv = list(argv or [])
    if not argv or argv[0] not in SCRIPTS:
        choices = "|".join(SCRIPTS)
        if argv and argv[0] in ("-h", "--help"):
            print(f"usage: bigprior invert <{choices}> [flags]   (bigprior invert <script> --help)")
            return
        raise BIGPriorError(f"usage: bigprior invert <{choices}> [flags]")
    run_script(SCRIPTS[argv[0]], argv[1:])
