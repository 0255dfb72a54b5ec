"""A residual discriminator matched to a PGGAN generator's channel widths.

Layers use the equalized learning rate of the generator (weights drawn from N(0, 1), scaled by
gain / sqrt(fan_in) at run time), so one Adam learning rate suits both networks. From the image
resolution R down to 4x4: a 1x1 fromRGB, then per resolution a residual block (conv3x3, 2x2 average
pooling, conv3x3; a pooled 1x1 skip; sum / sqrt(2)), and at 4x4 minibatch standard deviation,
conv3x3, and two fully connected layers to one logit per image.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

LEAKY_SLOPE = 0.2
LRELU_GAIN = math.sqrt(2.0)
MBSTD_GROUP = 4


class EqualConv2d(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, gain: float = LRELU_GAIN, bias: bool = True) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, kernel_size, kernel_size))
        self.bias = nn.Parameter(torch.zeros(out_channels)) if bias else None
        self.scale = gain / math.sqrt(in_channels * kernel_size * kernel_size)
        self.padding = kernel_size // 2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.weight * self.scale, self.bias, padding=self.padding)


class EqualLinear(nn.Module):
    def __init__(self, in_features: int, out_features: int, gain: float = LRELU_GAIN) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_features, in_features))
        self.bias = nn.Parameter(torch.zeros(out_features))
        self.scale = gain / math.sqrt(in_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.weight * self.scale, self.bias)


def lrelu(x: torch.Tensor) -> torch.Tensor:
    return F.leaky_relu(x, LEAKY_SLOPE)


class ResidualDownBlock(nn.Module):
    """(B, C_in, r, r) -> (B, C_out, r/2, r/2)."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.conv0 = EqualConv2d(in_channels, in_channels, 3)
        self.conv1 = EqualConv2d(in_channels, out_channels, 3)
        self.skip = EqualConv2d(in_channels, out_channels, 1, gain=1.0, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skip = self.skip(F.avg_pool2d(x, 2))
        x = lrelu(self.conv1(F.avg_pool2d(lrelu(self.conv0(x)), 2)))
        return (x + skip) / math.sqrt(2.0)


def minibatch_stddev(x: torch.Tensor, group_size: int = MBSTD_GROUP) -> torch.Tensor:
    """Append one channel: the feature standard deviation within groups of images (Karras et al.)."""
    batch, channels, height, width = x.shape
    group = min(group_size, batch)
    if batch % group:
        group = 1 if batch == 1 else math.gcd(batch, group)
    y = x.view(group, -1, channels, height, width)
    std = (y.var(dim=0, unbiased=False) + 1e-8).sqrt().mean(dim=(1, 2, 3))  # one value per group slot
    std = std.view(-1, 1, 1, 1).repeat(group, 1, height, width)
    return torch.cat([x, std], dim=1)


class Discriminator(nn.Module):
    """`forward(images: (B, C, R, R)) -> (B,)` logits. `channels[b]` is the width at 4 * 2**b pixels,
    as in `PGGANGenerator.channels`."""

    def __init__(self, resolution: int, channels: Sequence[int], image_channels: int = 3) -> None:
        super().__init__()
        num_blocks = int(round(math.log2(resolution))) - 1
        if len(channels) != num_blocks:
            raise ValueError(f"need {num_blocks} channel widths for resolution {resolution}, got {len(channels)}")
        self.resolution = resolution
        self.from_rgb = EqualConv2d(image_channels, channels[-1], 1)
        self.blocks = nn.ModuleList(
            ResidualDownBlock(channels[b], channels[b - 1]) for b in range(num_blocks - 1, 0, -1)
        )
        self.epilogue_conv = EqualConv2d(channels[0] + 1, channels[0], 3)
        self.fc = EqualLinear(channels[0] * 16, channels[0])
        self.out = EqualLinear(channels[0], 1, gain=1.0)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        if images.shape[-1] != self.resolution or images.shape[-2] != self.resolution:
            raise ValueError(f"expected {self.resolution}x{self.resolution} images, got {tuple(images.shape)}")
        x = lrelu(self.from_rgb(images))
        for block in self.blocks:
            x = block(x)
        x = lrelu(self.epilogue_conv(minibatch_stddev(x)))
        return self.out(lrelu(self.fc(x.flatten(1)))).squeeze(1)
