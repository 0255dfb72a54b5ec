"""Which latent space inverts a generator: the `--latent_space` and `--composing_layer` flags and the
factory that turns them and a generator (PGGAN or StyleGAN2) into a `LatentSpace`."""

from __future__ import annotations

from torch import nn

from ..errors import BIGPriorError
from ..generators import PGGANGenerator, StyleGAN2Generator
from .latent import LatentSpace
from .multicode import MultiCodeGenerator
from .stylegan2_latent import StyleGAN2MultiCode, WSpace, ZSpace

LATENT_SPACES = ("multi", "z", "w", "w+")


def composing_layer_arg(value: str) -> int | str:
    """`--composing_layer`: a layer (PGGAN) or block (StyleGAN2) index, or a StyleGAN2 block's name b<resolution>."""
    try:
        return int(value)
    except ValueError:
        return value


def build_latent_space(generator: nn.Module, latent_space: str = "multi", composing_layer: int | str = 4,
                       z_number: int = 30, *, fold: bool = False, fused: bool = True) -> LatentSpace:
    """The latent space of `generator` (its family read from its class). `fold` is PGGAN's folded blocks;
    `fused` StyleGAN2's grouped convolutions."""
    if latent_space not in LATENT_SPACES:
        raise BIGPriorError(f"--latent_space {latent_space!r}: expected one of {', '.join(LATENT_SPACES)}")
    if isinstance(generator, PGGANGenerator):
        if latent_space != "multi":
            raise BIGPriorError(f"--latent_space {latent_space}: PGGAN generators are inverted with multi-code "
                                "composition only (multi); z, w and w+ are StyleGAN2 spaces")
        if not isinstance(composing_layer, int):
            raise BIGPriorError(f"--composing_layer {composing_layer}: block names are for StyleGAN2 generators; "
                                "a PGGAN takes a layer index")
        return MultiCodeGenerator(generator, composing_layer, z_number, fold=fold)
    if isinstance(generator, StyleGAN2Generator):
        if latent_space == "multi":
            return StyleGAN2MultiCode(generator, composing_layer, z_number, fused=fused)
        if latent_space == "z":
            return ZSpace(generator, fused)
        return WSpace(generator, per_row=latent_space == "w+", fused=fused)
    raise BIGPriorError(f"cannot invert a {type(generator).__name__}: expected a PGGAN or StyleGAN2 generator")
