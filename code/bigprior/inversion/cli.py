"""The paper's inversion command lines: `python code/mganprior/{colorization,inpainting,denoising}.py`
and `bigprior invert <script> ...`.

    python code/mganprior/colorization.py --gan_model pggan_bedroom --target_images data/lsun/bedroom \\
        --outputs inter_data/col_bedroom --composing_layer 6 --z_number 20

Flags, their order and their defaults are the release's (so mGANargs.txt has its keys, in its order),
then this project's. The scripts differ only in their defaults (`degradations.ReleaseScript`) and their tasks, whose
degradations add their own flags and are built from them (`bigprior.degradations`); everything else
is the shared stage (`bigprior.inversion.stage`).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence

import torch

from ..degradations import CENTER_MASK, Degradation, ReleaseScript, release_scripts, script_classes, script_degradation
from ..errors import BIGPriorError
from ..generators import load_generator as load_generator_file
from ..imageio import check_output_folder
from ..zoo import add_weights_dir_flag, resolve_generator_path
from ..runtime import PRECISIONS, resolve_device
from ..commandline import str2bool
from .losses import build_loss
from .spaces import LATENT_SPACES, composing_layer_arg
from ..distributed import ProcessShare, process_group
from .stage import (
    GENERATOR, NATIVE, Inverter, experiment_for_outputs, gather_summaries, input_files, run_stage,
    settings_from_args,
)

INVERSION_TYPE = "PGGAN-Multi-Z"
SCRIPTS: dict[str, ReleaseScript] = release_scripts()
# flags that say how a run executes or where its files are (which may move): a resumed run may change them
RUN_ONLY_FLAGS = frozenset({"batch_size", "weights_dir", "device", "max_images", "start", "end", "video", "fps", "compile",
                            "target_images", "outputs", "gan_weights", "vgg_weights"})


def resize_mode(value: str | bool) -> bool | str:
    """--resize: False (images must be the generator's size), True (each image at its own size, recorded
    as "native") or "generator" (images resized to the generator's size)."""
    if isinstance(value, str) and value.strip().lower() in (NATIVE, GENERATOR):
        return value.strip().lower()
    return NATIVE if str2bool(value) else False


def add_degradation_flags(parser: argparse.ArgumentParser, cls: type[Degradation]) -> None:
    """Add the flags a degradation class declares (its own `flags`, not those of a class it derives
    from) to its inversion script's parser, as one help group; `bool` flags take True/False."""
    if "flags" in vars(cls):
        group = parser.add_argument_group(cls.flag_group)
        for name, kind, default, text in cls.flags:
            group.add_argument(name, type=str2bool if kind is bool else kind, default=default, help=text)


def build_parser(script: ReleaseScript, io: bool = True) -> argparse.ArgumentParser:
    """The script's flags; `io=False` leaves out -i/--target_images and -o/--outputs (check-inversion)."""
    p = argparse.ArgumentParser(prog=f"{script.name}.py", description=script.description)
    if io:
        p.add_argument("-i", "--target_images", required=True, help="folder of clean RGB images (sorted by name; index i = position)")
    if script.mask_default is not None:
        p.add_argument("-m", "--mask", default=script.mask_default,
                       help=f"mask file (white = missing) or {CENTER_MASK} (the centre hole, built in)")
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
    if script.batch_flag:
        p.add_argument("--batch_size", type=int, default=8, help=batch_help)
    p.add_argument("--optimization", default="GD", help="GD (plain SGD) or Adam")
    p.add_argument("--init_type", default="Normal", help="initial codes: Normal (z ~ N(0, 1)) or Zero")
    p.add_argument("--lr", type=float, default=1.0, help="learning rate")
    p.add_argument("--iterations", type=int, default=script.iterations, help="optimization steps")
    p.add_argument("--gan_model", default="pggan_churchoutdoor", help="generator name, e.g. pggan_bedroom")
    p.add_argument("--video", type=str2bool, default=False, help="not supported (the release's inversion videos)")
    p.add_argument("--fps", type=int, default=24, help="frame rate of the (unsupported) video")
    for cls in script_classes(script.name):
        add_degradation_flags(p, cls)
    ours = p.add_argument_group("this project's options")
    ours.add_argument("--gan_weights", default=None, help="generator weights file (instead of --gan_model's)")
    if not script.batch_flag:
        ours.add_argument("--batch_size", type=int, default=8, help=batch_help)
    ours.add_argument("--seed", type=int, default=0, help="seed of the per-image initial codes, masks and noise")
    ours.add_argument("--device", default="auto", help="auto (CUDA when present), cpu, cuda or cuda:N")
    ours.add_argument("--max_images", type=int, default=300, help="use the first N images (the paper: 300)")
    ours.add_argument("--start", type=int, default=0, help="first image index to process")
    ours.add_argument("--end", type=int, default=None, help="one past the last image index to process")
    ours.add_argument("--resize", type=resize_mode, default=False,
                      help="True: images of any size, each file at the image's size (the prior is made at the generator's "
                      "size and resized back); generator: bicubic-resize images to the generator's size first")
    ours.add_argument("--vgg_weights", default=None, help="torchvision's vgg16-397923af.pth (default: the weights folders)")
    add_weights_dir_flag(ours)
    ours.add_argument("--restarts", type=int, default=1, help="initialisations per image; the lowest final loss is kept")
    ours.add_argument("--precision", choices=PRECISIONS, default="default",
                      help="default (PyTorch's; TF32 convs on CUDA), fp32 (strict: on CPU batches equal single images bit for bit) or bf16 (autocast)")
    ours.add_argument("--fold_layers", type=str2bool, default=False,
                      help="True: run the PGGAN blocks folded (faster; equal up to float rounding)")
    ours.add_argument("--compile", type=str2bool, default=False, help="True: torch.compile the inversion step")
    ours.add_argument("--latent_space", choices=LATENT_SPACES, default="multi",
                      help="multi (multi-code composition, PGGAN and StyleGAN2), or StyleGAN2's z, w or w+ (one code)")
    return p


def check_release_flags(args: argparse.Namespace) -> None:
    if args.video:
        raise BIGPriorError("--video True: inversion videos are not supported (the inversion is batched); drop the flag")
    if args.inversion_type != INVERSION_TYPE:
        raise BIGPriorError(f"--inversion_type {args.inversion_type!r}: only {INVERSION_TYPE} is supported")
    if args.max_images < 1:
        raise BIGPriorError(f"--max_images must be at least 1, got {args.max_images}")


def load_generator(args: argparse.Namespace) -> torch.nn.Module:
    """The PGGAN or StyleGAN2 generator of --gan_model / --gan_weights (the family read from the file)."""
    return load_generator_file(resolve_generator_path(args.gan_model, args.gan_weights, args.weights_dir))


def build_inverter(args: argparse.Namespace, degradation: Degradation, device: torch.device,
                   generator: torch.nn.Module | None = None) -> Inverter:
    """Generator, loss and settings of the parsed flags (shared by the scripts and check-inversion)."""
    generator = generator or load_generator(args)
    loss = build_loss(args.loss_type, args.l1_lambda, args.l2_lambda, args.vgg_lambda, args.vgg_loss_type,
                      args.vgg_layer, args.image_size, args.vgg_weights, args.weights_dir)
    return Inverter(generator, loss, degradation, settings_from_args(args), device)


def run_script(script: ReleaseScript, argv: Sequence[str] | None = None) -> None:
    args = build_parser(script).parse_args(argv)
    check_release_flags(args)
    degradation = script_degradation(script.name, args)
    experiment = experiment_for_outputs(args.outputs, degradation)
    check_output_folder(experiment.dir, "-o/--outputs")
    files = input_files(args.target_images, args.max_images)
    share = ProcessShare.from_environment()
    inverter = build_inverter(args, degradation, share.device(resolve_device(args.device)))
    args.prior_resolution = inverter.resolution  # recorded: the side of the priors before any resizing
    with process_group(share):
        summary = run_stage(inverter, experiment, list(enumerate(files))[args.start : args.end],
                            total_images=len(files), args=vars(args), run_only=RUN_ONLY_FLAGS,
                            batch_size=args.batch_size, resize=args.resize or None, share=share)
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
