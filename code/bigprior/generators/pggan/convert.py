"""`bigprior convert-pggan in.pkl out.pth`: a PGGAN generator in the converted PyTorch layout.

    bigprior convert-pggan karras2018iclr-lsun-bedroom-256x256.pkl pggan_bedroom256_generator.pth

Reads anything `load_pggan` reads (the official TensorFlow pickles, without TensorFlow; genforce
checkpoints; converted state dicts) and writes the generator's state dict in the layout mGANprior and
the paper's code load (`lod`, `layer{i}.conv.weight`, `layer{i}.wscale.bias`, `output{b}.*`), plus a
grid of samples from fixed seeds to check the conversion by eye. Converting the same file twice gives
byte-identical outputs. The output flags, the sample grid and the writing are shared with
`convert-stylegan2` (`generators/conversion.py`).
"""

from __future__ import annotations

import argparse
from collections import OrderedDict
from collections.abc import Sequence

from ..conversion import conversion_parser, output_paths, write_conversion
from .network import GENERATOR_CHOICES, load_pggan


def build_parser() -> argparse.ArgumentParser:
    return conversion_parser("pggan", "Convert a PGGAN generator (official .pkl, genforce or converted .pth) to the "
                                      "converted PyTorch state-dict layout, with a sample grid.",
                             "official PGGAN pickle (karras2018iclr-*.pkl), or a genforce / converted .pth",
                             "pggan_bedroom256_generator.pth", GENERATOR_CHOICES)




def main(argv: Sequence[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    output_paths(args)
    generator = load_pggan(args.input, which=args.which)
    output, grid = write_conversion(args, generator, OrderedDict(generator.state_dict()))
    parameters = sum(p.numel() for p in generator.parameters())
    fused = ", fused upsampling" if generator.fused_scale else ""
    print(f"{args.input} ({args.which}) -> {output}: {generator.resolution}x{generator.resolution} PGGAN{fused}, "
          f"latent size {generator.z_dim}, {parameters:,} parameters; samples (seed {args.seed}): {grid}")
