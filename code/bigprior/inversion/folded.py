"""The PGGAN blocks rewritten for the inversion loop: the same function in fewer passes over memory.

A `PGGANBlock` computes pixel norm -> (nearest x2 upsample) -> bias-free conv -> `* scale + bias`
-> LeakyReLU. Its equalized-learning-rate scale and bias are constants during inversion, so they are
folded into the convolution's weight and bias (one kernel instead of three passes). Nearest x2
upsampling followed by a 3x3 convolution equals a stride-2 transposed convolution with a 4x4 kernel
made by summing shifted copies of the 3x3 kernel (the official PGGAN code's `upscale2d_conv2d`), which
skips the 4x larger upsampled tensor and needs 16/36 of the multiply-adds. Layers of any other type are
used as they are, so a generator with other blocks still works (unfolded).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..generators.pggan.network import LEAKY_SLOPE, PGGANBlock, pixel_norm


def upsample_conv_kernel(weight: torch.Tensor) -> torch.Tensor:
    """(out, in, 3, 3) kernel of `conv3x3(upsample_nearest_x2(x))` -> the (in, out, 4, 4) kernel of the
    equal `conv_transpose2d(x, kernel, stride=2, padding=1)`."""
    if weight.shape[-2:] != (3, 3):
        raise ValueError(f"expected a 3x3 kernel, got {tuple(weight.shape)}")
    flipped = F.pad(weight.flip(-2, -1), (1, 1, 1, 1))  # transposed conv scatters: kernel reversed
    summed = flipped[..., 1:, 1:] + flipped[..., :-1, 1:] + flipped[..., 1:, :-1] + flipped[..., :-1, :-1]
    return summed.transpose(0, 1).contiguous()


class FoldedBlock(nn.Module):
    """A frozen `PGGANBlock` with its scale folded into the conv and its upsampling fused into it."""

    def __init__(self, block: PGGANBlock) -> None:
        super().__init__()
        conv = block.conv
        weight = conv.weight.detach() * block.wscale.scale
        self.upsample = block.upsample
        self.activate = block.activate
        self.padding = conv.padding
        self.register_buffer("weight", upsample_conv_kernel(weight) if self.upsample else weight.contiguous())
        self.register_buffer("bias", block.wscale.bias.detach().clone())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = pixel_norm(x)
        if self.upsample:
            x = F.conv_transpose2d(x, self.weight, self.bias, stride=2, padding=1)
        else:
            x = F.conv2d(x, self.weight, self.bias, padding=self.padding)
        return F.leaky_relu(x, LEAKY_SLOPE) if self.activate else x


def foldable(layer: nn.Module) -> bool:
    """Only the plain block layout is folded: nearest x2 + 3x3 conv, or a conv without upsampling
    (blocks of generators trained with fused upsampling are used as they are)."""
    if type(layer) is not PGGANBlock or layer.fused_upsample or layer.conv.bias is not None:
        return False
    conv = layer.conv
    plain = conv.stride == (1, 1) and conv.dilation == (1, 1) and conv.groups == 1
    return plain and (not layer.upsample or (conv.kernel_size == (3, 3) and conv.padding == (1, 1)))


def fold_layers(layers: list[nn.Module]) -> list[nn.Module]:
    return [FoldedBlock(layer) if foldable(layer) else layer for layer in layers]
