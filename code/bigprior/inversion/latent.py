"""Latent spaces of GAN inversion: what the loop optimises, where each image starts, and the image it makes.

A `LatentSpace` wraps a frozen generator. It names the tensors that are optimised (`code_names`, with
their per-image shapes `code_shapes()`), draws each image's initial values from the image's own random
stream (`initial_codes`: stream (seed, image index, STREAM_INIT), so results do not depend on batch
size, order or process count) and maps a batch of codes to images (`forward(*codes)`). The inversion
loop (`bigprior.inversion.invert`) knows nothing else about the generator.

The parametrisations: PGGAN multi-code (`multicode.MultiCodeGenerator`, mGANprior's) and StyleGAN2's
single code in z, w or w+ and multi-code composition at a synthesis block (`stylegan2_latent`);
`spaces.build_latent_space` picks one from a generator and the flags.
"""

from __future__ import annotations

import torch
from torch import nn

from ..seeding import STREAM_INIT, torch_generator

INIT_TYPES = ("Normal", "Zero")


def normal_draws(index: int, seed: int, restarts: int, shape: tuple[int, ...]) -> torch.Tensor:
    """(restarts, *shape) standard normal values from image `index`'s stream, restart r taking the r-th
    draw of `shape`: restart 0 is the single run, and a run with K restarts contains the runs with fewer."""
    stream = torch_generator(seed, index, STREAM_INIT)
    return torch.stack([torch.randn(shape, generator=stream) for _ in range(restarts)])


def weighted_sum(maps: torch.Tensor, alpha: torch.Tensor) -> torch.Tensor:
    """sum_j alpha_j * maps_j over the codes: maps (B, N, C, H, W) weighted per channel by alpha (B, N, C)
    (summed in code order, as mGANprior's loop did), in the maps' dtype: float32 alpha would promote bf16
    maps (autocast), the largest tensor of a step, to float32."""
    return (maps * alpha[..., None, None].to(maps.dtype)).sum(dim=1)


class LatentSpace(nn.Module):
    """A frozen generator seen through the codes an inversion optimises (see the module docstring).

    Subclasses set `space` (the `--latent_space` value), `code_names` and `resolution`, and implement
    `initial_codes` and `forward`."""

    space: str
    code_names: tuple[str, ...]
    resolution: int

    def code_shapes(self) -> tuple[tuple[int, ...], ...]:
        """The shape of each code of one image, in `code_names` order: those of its initial values."""
        return tuple(tuple(code.shape[1:]) for code in self.initial_codes(0, 0))

    def initial_codes(self, index: int, seed: int, init_type: str = "Normal", restarts: int = 1) -> tuple[torch.Tensor, ...]:
        """Image `index`'s initial codes for `restarts` restarts, each (restarts, *shape), float32 on the CPU."""
        raise NotImplementedError
