"""The PGGAN generator (Karras et al., ICLR 2018) in the layout of the public converted checkpoints.

Blocks: for each resolution r = 4, 8, ..., R two conv blocks `layer{2b}`, `layer{2b+1}` and a toRGB
block `output{b}` (b = log2(r) - 2). A block is pixel norm, nearest x2 upsampling (first block of
every r > 4), a bias-free conv, `x * gain / sqrt(fan_in) + bias` (equalized learning rate) and
LeakyReLU(0.2) (linear for toRGB). `layer0` is a 4x4 conv with padding 3 on z viewed as (B, z, 1, 1).
Channel widths, resolution and latent size are read from a checkpoint's shapes, so any member of
the family (and the tiny test vectors) loads.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import BIGPriorError

INIT_RESOLUTION = 4
LEAKY_SLOPE = 0.2
PIXEL_NORM_EPS = 1e-8


def pixel_norm(x: torch.Tensor) -> torch.Tensor:
    return x * torch.rsqrt(x.square().mean(dim=1, keepdim=True) + PIXEL_NORM_EPS)


class WScale(nn.Module):
    """Equalized learning rate: a constant scale on the conv output, plus the layer's bias."""

    def __init__(self, channels: int, scale: float) -> None:
        super().__init__()
        self.scale = scale
        self.bias = nn.Parameter(torch.zeros(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.scale + self.bias.view(1, -1, 1, 1)


class PGGANBlock(nn.Module):
    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int = 3,
        padding: int = 1,
        upsample: bool = False,
        gain: float = math.sqrt(2.0),
        activate: bool = True,
    ) -> None:
        super().__init__()
        self.upsample = upsample
        self.activate = activate
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size, padding=padding, bias=False)
        self.wscale = WScale(out_channels, gain / math.sqrt(in_channels * kernel_size * kernel_size))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = pixel_norm(x)
        if self.upsample:
            x = F.interpolate(x, scale_factor=2, mode="nearest")
        x = self.wscale(self.conv(x))
        return F.leaky_relu(x, LEAKY_SLOPE) if self.activate else x


class PGGANGenerator(nn.Module):
    """`forward(z: (B, z_dim)) -> (B, 3, R, R)`, images nominally in [-1, 1] (not clamped)."""

    def __init__(self, resolution: int = 256, z_dim: int = 512, channels: list[int] | None = None,
                 fmaps_base: int = 16384, fmaps_max: int = 512, image_channels: int = 3) -> None:
        super().__init__()
        log2 = int(round(math.log2(resolution)))
        if resolution < 8 or 2**log2 != resolution:
            raise BIGPriorError(f"PGGAN resolution must be a power of two >= 8, got {resolution}")
        self.resolution, self.z_dim = resolution, z_dim
        self.num_blocks = log2 - 1
        if channels is None:
            channels = [min(fmaps_base // (INIT_RESOLUTION * 2**b), fmaps_max) for b in range(self.num_blocks)]
        if len(channels) != self.num_blocks:
            raise ValueError(f"need {self.num_blocks} channel widths for resolution {resolution}, got {len(channels)}")
        self.channels = list(channels)
        self.register_buffer("lod", torch.zeros(()))
        for b, width in enumerate(channels):
            if b == 0:
                first = PGGANBlock(z_dim, width, kernel_size=INIT_RESOLUTION, padding=INIT_RESOLUTION - 1)
            else:
                first = PGGANBlock(channels[b - 1], width, upsample=True)
            self.add_module(f"layer{2 * b}", first)
            self.add_module(f"layer{2 * b + 1}", PGGANBlock(width, width))
            self.add_module(f"output{b}", PGGANBlock(width, image_channels, 1, 0, gain=1.0, activate=False))

    def composable_layers(self) -> list[nn.Module]:
        """The sequence multi-code inversion composes in: every conv block, then the last toRGB."""
        blocks = [getattr(self, f"layer{i}") for i in range(2 * self.num_blocks)]
        return blocks + [getattr(self, f"output{self.num_blocks - 1}")]

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        if z.ndim != 2 or z.shape[1] != self.z_dim:
            raise ValueError(f"expected z of shape (batch, {self.z_dim}), got {tuple(z.shape)}")
        x = z.view(z.shape[0], self.z_dim, 1, 1)
        lod = int(self.lod.item())
        image = None
        for b in range(self.num_blocks):
            if b < self.num_blocks - lod:  # blocks above the current level of detail are skipped
                x = getattr(self, f"layer{2 * b + 1}")(getattr(self, f"layer{2 * b}")(x))
                image = getattr(self, f"output{b}")(x)
            else:
                image = F.interpolate(image, scale_factor=2, mode="nearest")
        return image


def architecture_from_state_dict(state: Mapping[str, torch.Tensor], source: str) -> dict:
    """Resolution, latent size and channel widths implied by a converted checkpoint's shapes."""
    if "layer0.conv.weight" not in state:
        raise BIGPriorError(f"{source}: missing key layer0.conv.weight (not a PGGAN generator state dict)")
    num_blocks = 0
    while f"layer{2 * num_blocks}.conv.weight" in state:
        num_blocks += 1
    first = state["layer0.conv.weight"]
    channels = [int(state[f"layer{2 * b}.conv.weight"].shape[0]) for b in range(num_blocks)]
    image_key = f"output{num_blocks - 1}.conv.weight"
    image_channels = int(state[image_key].shape[0]) if image_key in state else 3
    return {
        "resolution": INIT_RESOLUTION * 2 ** (num_blocks - 1),
        "z_dim": int(first.shape[1]),
        "channels": channels,
        "image_channels": image_channels,
    }


def check_state_dict(model: nn.Module, state: Mapping[str, torch.Tensor], source: str) -> None:
    """Raise naming the first missing, extra or mis-shaped key (never load partially)."""
    own = model.state_dict()
    for key, value in own.items():
        if key not in state:
            raise BIGPriorError(f"{source}: missing key {key}")
        if tuple(state[key].shape) != tuple(value.shape):
            raise BIGPriorError(f"{source}: key {key} has shape {tuple(state[key].shape)}, expected {tuple(value.shape)}")
    for key in state:
        if key not in own:
            raise BIGPriorError(f"{source}: unexpected key {key}")


def generator_from_state_dict(state: Mapping[str, torch.Tensor], source: str = "state dict") -> PGGANGenerator:
    arch = architecture_from_state_dict(state, source)
    generator = PGGANGenerator(arch["resolution"], arch["z_dim"], arch["channels"], image_channels=arch["image_channels"])
    check_state_dict(generator, state, source)
    generator.load_state_dict({k: v.float() for k, v in state.items()})
    if float(generator.lod) != 0.0:
        raise BIGPriorError(f"{source}: lod is {float(generator.lod)}; only fully grown generators (lod 0) are supported")
    return generator.eval().requires_grad_(False)


def load_pggan(path: str | os.PathLike) -> PGGANGenerator:
    """Load a converted PGGAN generator checkpoint (a state dict saved with torch.save).

    The generator comes back in eval mode with gradients off (inversion optimizes codes, not weights)."""
    path = Path(path)
    if not path.is_file():
        raise BIGPriorError(f"{path}: generator weights not found")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises several exception types for foreign or corrupt files
        raise BIGPriorError(f"{path}: not a readable PyTorch checkpoint ({exc.__class__.__name__}: {exc})") from exc
    if not isinstance(state, Mapping):
        raise BIGPriorError(f"{path}: expected a state dict, got {type(state).__name__}")
    return generator_from_state_dict(state, str(path))
