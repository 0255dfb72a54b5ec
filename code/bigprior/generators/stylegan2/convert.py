"""`bigprior convert-stylegan2 in.pkl out.pth`: a StyleGAN2-ADA network pickle as a plain PyTorch file.

    bigprior convert-stylegan2 ffhq.pkl stylegan2_ffhq1024.pth

Reads the network pickle without NVlabs' code and without running anything from it
(`stylegan2_pickle.py`) and writes the generator's config and state dict (`stylegan2_files.py`), which
`load_stylegan2` and `load_generator` read with `torch.load(..., weights_only=True)`, plus a grid of
samples from fixed seeds to check the conversion by eye. Converting the same file twice gives
byte-identical outputs.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from ...errors import BIGPriorError
from ..conversion import conversion_parser, output_paths, write_conversion
from .files import converted_content, load_stylegan2
from .official import NETWORK_CHOICES


def build_parser() -> argparse.ArgumentParser:
    parser = conversion_parser("stylegan2", "Convert a StyleGAN2-ADA network pickle (or a converted file) to a plain "
                                            "PyTorch config + state dict, with a sample grid.",
                               "StyleGAN2-ADA network pickle (ffhq.pkl, network-snapshot-*.pkl)",
                               "stylegan2_ffhq1024.pth", NETWORK_CHOICES)
    parser.add_argument("--class_index", type=int, default=None,
                        help="conditional generators (c_dim > 0): the class the sample grid draws (the converted "
                             "file keeps every class)")
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    output_paths(args)
    generator = load_stylegan2(args.input, which=args.which, class_index=args.class_index)
    if generator.c_dim and args.class_index is None:
        raise BIGPriorError(f"--class_index: {args.input} is conditional (c_dim {generator.c_dim}); give the class "
                            f"the sample grid draws (0..{generator.c_dim - 1})")
    output, grid = write_conversion(args, generator, converted_content(generator, args.which))
    parameters = sum(p.numel() for p in generator.parameters())
    conditional = f", {generator.c_dim} classes" if generator.c_dim else ""
    print(f"{args.input} ({args.which}) -> {output}: {generator.resolution}x{generator.resolution} StyleGAN2{conditional}, "
          f"z {generator.z_dim}, w {generator.w_dim} x {generator.num_ws}, {parameters:,} parameters; "
          f"samples (seed {args.seed}): {grid}")
