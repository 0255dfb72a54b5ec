"""The PGGAN generator (Karras et al., ICLR 2018) in the layout of the public converted checkpoints.

Blocks: for each resolution r = 4, 8, ..., R two conv blocks `layer{2b}`, `layer{2b+1}` and a toRGB
block `output{b}` (b = log2(r) - 2). A block is pixel norm, nearest x2 upsampling (first block of
every r > 4), a bias-free conv, `x * gain / sqrt(fan_in) + bias` (equalized learning rate) and
LeakyReLU(0.2) (linear for toRGB). `layer0` is a 4x4 conv with padding 3 on z viewed as (B, z, 1, 1).
Generators trained with `fused_scale` (the official `Conv0_up` layers) replace upsampling + conv in
the first block of every r > 4 by one stride-2 transposed convolution (`upsample_conv_transpose`).
Channel widths, resolution, latent size and fused layers are read from a checkpoint's shapes, so any
member of the family (and the tiny test vectors) loads.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ...errors import BIGPriorError
from ..checkpoint import PGGAN, GeneratorFile, check_state_dict, identify_generator_file
from .official import read_official_generator

INIT_RESOLUTION = 4
LEAKY_SLOPE = 0.2
PIXEL_NORM_EPS = 1e-8
GENERATOR_CHOICES = ("Gs", "G")  # the moving-average generator (published samples) or the trained one


def pixel_norm(x: torch.Tensor) -> torch.Tensor:
    """x / sqrt(mean over channels of x^2 + eps), in x's dtype. CUDA autocast runs `square` (a power) and
    `rsqrt` in float32, which would make float32 copies of a bf16 activation; `x * x` and the cast back
    keep it in bf16 (in float32 both are the same arithmetic, bit for bit)."""
    return x * torch.rsqrt((x * x).mean(dim=1, keepdim=True) + PIXEL_NORM_EPS).to(x.dtype)


def upsample_nearest_x2(x: torch.Tensor) -> torch.Tensor:
    """`F.interpolate(x, scale_factor=2, mode="nearest")` as one copy in x's dtype and memory format
    (CUDA autocast runs `interpolate` in float32, making a float32 tensor four times the bf16 input)."""
    b, c, h, w = x.shape
    if x.is_contiguous() or not x.is_contiguous(memory_format=torch.channels_last):
        return x[:, :, :, None, :, None].expand(b, c, h, 2, w, 2).reshape(b, c, 2 * h, 2 * w)
    nhwc = x.permute(0, 2, 3, 1)
    return nhwc[:, :, None, :, None].expand(b, h, 2, w, 2, c).reshape(b, 2 * h, 2 * w, c).permute(0, 3, 1, 2)


def upsample_conv_transpose(x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """The official `upscale2d_conv2d` (nearest x2 upsampling fused with a conv), unscaled.

    `weight` is (k, k, in, out) (the genforce layout of `Conv0_up`); the k x k kernel is zero-padded
    and its four one-pixel shifts summed into a (k+1) x (k+1) kernel, applied as a stride-2 transposed
    convolution with TensorFlow's SAME padding, which doubles the spatial size."""
    kernel = F.pad(weight, (0, 0, 0, 0, 1, 1, 1, 1))
    kernel = kernel[1:, 1:] + kernel[:-1, 1:] + kernel[1:, :-1] + kernel[:-1, :-1]
    return F.conv_transpose2d(x, kernel.permute(2, 3, 0, 1), stride=2, padding=(weight.shape[0] - 1) // 2)


class WScale(nn.Module):
    """Equalized learning rate: a constant scale on the conv output, plus the layer's bias."""

    def __init__(self, channels: int, scale: float) -> None:
        super().__init__()
        self.scale = scale
        self.bias = nn.Parameter(torch.zeros(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """In x's dtype: the float32 bias would promote a bf16 (autocast) activation to float32."""
        return x * self.scale + self.bias.to(x.dtype).view(1, -1, 1, 1)


class PGGANBlock(nn.Module):
    """Pixel norm, optional x2 upsampling, conv, weight scale + bias, optional LeakyReLU.

    With `fused_upsample` the upsampling and the conv are one transposed convolution whose weight is
    the block's own `weight` parameter (state-dict key `layer{i}.weight`, shape (k, k, in, out))."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int = 3,
        padding: int = 1,
        upsample: bool = False,
        fused_upsample: bool = False,
        gain: float = math.sqrt(2.0),
        activate: bool = True,
    ) -> None:
        super().__init__()
        self.fused_upsample = upsample and fused_upsample
        self.upsample = upsample and not fused_upsample
        self.activate = activate
        if self.fused_upsample:
            self.weight = nn.Parameter(torch.zeros(kernel_size, kernel_size, in_channels, out_channels))
        else:
            self.conv = nn.Conv2d(in_channels, out_channels, kernel_size, padding=padding, bias=False)
        self.wscale = WScale(out_channels, gain / math.sqrt(in_channels * kernel_size * kernel_size))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = pixel_norm(x)
        if self.fused_upsample:
            x = upsample_conv_transpose(x, self.weight)
        else:
            if self.upsample:
                x = upsample_nearest_x2(x)
            x = self.conv(x)
        x = self.wscale(x)
        return F.leaky_relu(x, LEAKY_SLOPE) if self.activate else x


class PGGANGenerator(nn.Module):
    """`forward(z: (B, z_dim)) -> (B, 3, R, R)`, images nominally in [-1, 1] (not clamped)."""

    def __init__(self, resolution: int = 256, z_dim: int = 512, channels: list[int] | None = None,
                 fmaps_base: int = 16384, fmaps_max: int = 512, image_channels: int = 3,
                 fused_scale: bool = False) -> None:
        super().__init__()
        log2 = int(round(math.log2(resolution)))
        if resolution < 8 or 2**log2 != resolution:
            raise BIGPriorError(f"PGGAN resolution must be a power of two >= 8, got {resolution}")
        self.resolution, self.z_dim, self.fused_scale = resolution, z_dim, fused_scale
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
                first = PGGANBlock(channels[b - 1], width, upsample=True, fused_upsample=fused_scale)
            self.add_module(f"layer{2 * b}", first)
            self.add_module(f"layer{2 * b + 1}", PGGANBlock(width, width))
            self.add_module(f"output{b}", PGGANBlock(width, image_channels, 1, 0, gain=1.0, activate=False))

    def composable_layers(self) -> list[nn.Module]:
        """The sequence multi-code inversion composes in: every conv block, then the last toRGB."""
        blocks = [getattr(self, f"layer{i}") for i in range(2 * self.num_blocks)]
        return blocks + [getattr(self, f"output{self.num_blocks - 1}")]

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """The fully grown generator (lod 0, the only level loading accepts): only the last toRGB runs, and
        nothing reads `lod` from the device (a host sync per call on CUDA)."""
        if z.ndim != 2 or z.shape[1] != self.z_dim:
            raise ValueError(f"expected z of shape (batch, {self.z_dim}), got {tuple(z.shape)}")
        x = z.view(z.shape[0], self.z_dim, 1, 1)
        for layer in self.composable_layers():
            x = layer(x)
        return x


# ---------------------------------------------------------------------------------------------
# state dicts


def _block_index(key: str) -> int | None:
    """b of a key belonging to resolution block b (`layer{2b}.`, `layer{2b+1}.` or `output{b}.`)."""
    if not isinstance(key, str):
        return None
    module = key.split(".", 1)[0]
    for prefix, per_block in (("layer", 2), ("output", 1)):
        digits = module[len(prefix):]
        if module.startswith(prefix) and digits.isdigit():
            return int(digits) // per_block
    return None


def _out_channels(state: Mapping[str, torch.Tensor], b: int, fused: bool) -> int | None:
    """Width of block b from whichever of its weights is present (the checks name the bad ones)."""
    candidates = [(f"layer{2 * b}.weight", 3)] if fused and b > 0 else [(f"layer{2 * b}.conv.weight", 0)]
    candidates += [(f"layer{2 * b + 1}.conv.weight", 0), (f"output{b}.conv.weight", 1)]
    for key, dim in candidates:
        value = state.get(key)
        if isinstance(value, torch.Tensor) and value.ndim == 4:
            return int(value.shape[dim])
    return None


def architecture_from_state_dict(state: Mapping[str, torch.Tensor], source: str) -> dict:
    """Resolution, latent size, channel widths and fused upsampling implied by a checkpoint's shapes."""
    first = state.get("layer0.conv.weight")
    if not isinstance(first, torch.Tensor) or first.ndim != 4:
        raise BIGPriorError(f"{source}: missing key layer0.conv.weight (not a PGGAN generator state dict)")
    blocks = [b for b in map(_block_index, state) if b is not None]
    num_blocks = max(blocks) + 1
    fused = "layer2.weight" in state
    channels = [_out_channels(state, b, fused) for b in range(num_blocks)]
    if None in channels:
        b = channels.index(None)
        key = f"layer{2 * b}.weight" if fused and b > 0 else f"layer{2 * b}.conv.weight"
        raise BIGPriorError(f"{source}: missing key {key} (the width of the {INIT_RESOLUTION * 2**b}x"
                            f"{INIT_RESOLUTION * 2**b} block cannot be read)")
    rgb = state.get(f"output{num_blocks - 1}.conv.weight")
    image_channels = int(rgb.shape[0]) if isinstance(rgb, torch.Tensor) and rgb.ndim == 4 else 3
    return {
        "resolution": INIT_RESOLUTION * 2 ** (num_blocks - 1),
        "z_dim": int(first.shape[1]),
        "channels": channels,
        "image_channels": image_channels,
        "fused_scale": fused,
    }


def generator_from_state_dict(state: Mapping[str, torch.Tensor], source: str = "state dict") -> PGGANGenerator:
    """Build the generator a converted-layout state dict describes and load it (checked, never partial)."""
    arch = architecture_from_state_dict(state, source)
    if arch["resolution"] < 8:
        raise BIGPriorError(f"{source}: a PGGAN generator of resolution {arch['resolution']}; at least 8x8 is supported")
    generator = PGGANGenerator(arch["resolution"], arch["z_dim"], arch["channels"],
                               image_channels=arch["image_channels"], fused_scale=arch["fused_scale"])
    check_state_dict(generator, state, source)
    generator.load_state_dict({k: v.float() for k, v in state.items()})
    if float(generator.lod) != 0.0:
        raise BIGPriorError(f"{source}: lod is {float(generator.lod)}; only fully grown generators (lod 0) are supported")
    return generator.eval().requires_grad_(False)


def from_genforce_layout(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """genforce/genforce's PGGAN keys (`layer{i}.weight`, `layer{i}.bias`, `output{b}.*`) -> converted layout.

    Only generators without fused upsampling (all published PGGANs) can be told apart in that layout:
    its transposed-conv weights (in, out, k, k) look like conv weights (out, in, k, k)."""
    renamed = {}
    for key, value in state.items():
        module, _, name = key.rpartition(".") if isinstance(key, str) else ("", "", "")
        renamed[f"{module}.conv.weight" if name == "weight" and module else
                f"{module}.wscale.bias" if name == "bias" and module else key] = value
    return renamed


# ---------------------------------------------------------------------------------------------
# files


def _state_dict_from_content(content: Any, path: Path, which: str) -> Mapping[str, torch.Tensor]:
    """The generator state dict in a PyTorch file's content (converted or genforce checkpoint)."""
    if not isinstance(content, Mapping):
        raise BIGPriorError(f"{path}: expected a state dict, got {type(content).__name__}")
    if "generator" in content or "generator_smooth" in content:  # a genforce checkpoint
        key = "generator_smooth" if which == "Gs" and "generator_smooth" in content else "generator"
        if key not in content:
            raise BIGPriorError(f"{path}: genforce checkpoint without a 'generator' entry (has {', '.join(map(str, content))})")
        content = content[key]
        if not isinstance(content, Mapping):
            raise BIGPriorError(f"{path}: entry {key!r} is a {type(content).__name__}, expected a state dict")
    elif which == "G":
        raise BIGPriorError(f"{path}: holds one generator's state dict; G (the non-averaged generator) can only be "
                            "taken from an official pickle or a genforce checkpoint with a 'generator' entry")
    if "layer0.weight" in content and "layer0.conv.weight" not in content:
        content = from_genforce_layout(content)
    return content


def pggan_from_file(file: GeneratorFile, which: str = "Gs") -> PGGANGenerator:
    """The PGGAN generator of an identified file (`checkpoint.identify_generator_file`)."""
    if which not in GENERATOR_CHOICES:
        raise BIGPriorError(f"which={which!r}: expected one of {', '.join(GENERATOR_CHOICES)}")
    file.require(PGGAN)
    if file.content is not None:
        return generator_from_state_dict(_state_dict_from_content(file.content, file.path, which), str(file.path))
    state = read_official_generator(file.path, which)
    return generator_from_state_dict(state, f"{file.path} ({which})")


def load_pggan(path: str | os.PathLike, which: str = "Gs") -> PGGANGenerator:
    """Load a PGGAN generator from a converted checkpoint, a genforce checkpoint or an official pickle.

    - converted checkpoints (`pggan_bedroom256_generator.pth`, ...): a state dict saved with torch.save;
    - genforce checkpoints: a dict with `generator_smooth` (taken for `which="Gs"`) and/or `generator`;
    - the official TensorFlow pickles (`karras2018iclr-lsun-bedroom-256x256.pkl`, a tuple (G, D, Gs)),
      read without TensorFlow by a restricted unpickler (`official.py`); `which` picks `Gs` (the
      moving-average generator the published samples and converted files come from) or `G`.
    A StyleGAN2 file is an error that says so (`load_generator` takes either family).
    torch files are read with `weights_only=True`. The generator comes back in eval mode with
    gradients off (inversion optimizes codes, not weights)."""
    return pggan_from_file(identify_generator_file(path), which)
