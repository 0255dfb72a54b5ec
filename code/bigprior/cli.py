"""`bigprior <command>`: one entry point for every stage.

Each command lives in its own module with a `build_parser()` and a `main(argv)`; this table only
names them, so adding a command is one line and importing the CLI stays cheap.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Sequence

from .commandline import run_cli

# command -> (module, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "train": ("bigprior.fusion.cli", "train the fusion network (the paper's code/train.py), then test it"),
    "invert": ("bigprior.inversion.cli", "inversion stage: invert <colorization|inpainting|denoising> [the paper's flags]"),
    "check-inversion": ("bigprior.inversion.check", "invert generated images to test a generator and settings"),
    "prepare-lsun": ("bigprior.lsun", "export LSUN LMDB images as 256x256 PNGs (data/lsun/<category>)"),
    "convert-pggan": ("bigprior.generators.pggan.convert", "convert an official PGGAN pickle to a PyTorch state dict + sample grid"),
    "convert-stylegan2": ("bigprior.generators.stylegan2.convert", "convert a StyleGAN2-ADA network pickle to a PyTorch config + state dict + sample grid"),
    "report": ("bigprior.report", "tables and figures of experiments (code/report.py): reports/<name>/summary.md"),
    "train-dncnn": ("bigprior.baselines.dncnn_cli", "train and test the DnCNN denoiser baseline (code/train_dncnn.py)"),
    "inpaint-baseline": ("bigprior.baselines.inpainting", "OpenCV inpainting baselines, Telea and Navier-Stokes (code/inpaint_baseline.py)"),
    "peers": ("bigprior.baselines.classical.cli", "classical peers (NL-means, TV, BM3D, Telea, biharmonic, mean chroma...) of an experiment"),
    "restore": ("bigprior.restore", "restore a photo (colorize, inpaint, denoise) with the built-in or a given prior"),
    "reblend": ("bigprior.reblend", "steer the prior's share of a saved restoration (no network): the files restore would write"),
    "app": ("bigprior.app.cli", "a local web page over restore: draw the masks, steer the prior's share with sliders, download every output"),
    "demo": ("bigprior.demo", "the whole pipeline on the built-in default, on scikit-image's sample photos"),
    "write-defaults": ("bigprior.make_defaults", "make the built-in default's fusion networks and defaults.json from tested runs"),
    "train-gan": ("bigprior.gan.cli", "train a PGGAN generator (the default generative prior) on image folders"),
}


def _usage() -> str:
    width = max(len(name) for name in COMMANDS)
    lines = ["usage: bigprior <command> [options]   (bigprior <command> --help for its options)", "", "commands:"]
    lines += [f"  {name:<{width}}  {text}" for name, (_, text) in COMMANDS.items()]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(_usage())
        return 0
    command, rest = argv[0], argv[1:]
    if command not in COMMANDS:
        print(f"error: unknown command {command!r}\n\n{_usage()}", file=sys.stderr)
        return 2
    module = importlib.import_module(COMMANDS[command][0])
    program = sys.argv[0]
    sys.argv[0] = f"bigprior {command}"  # argparse's default prog: usage lines say `bigprior <command>`
    try:
        return run_cli(module.main, rest)
    finally:
        sys.argv[0] = program


if __name__ == "__main__":
    sys.exit(main())
