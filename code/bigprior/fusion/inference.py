"""A trained fusion network prepared for inference only: the same function in fewer passes over memory.

In evaluation mode a BatchNorm after a convolution is a fixed per-channel scale and shift, so it is folded
into the convolution's weight and bias (one pass over the activations instead of two), and the weights are
made channels-last, the layout oneDNN's (and cuDNN's) fastest convolutions read: on this project's 2-core
CPU the built-in U-Net ran 1.5 to 2.4 times faster per tile (benchmarks/restore_speed.py). The results equal
the network's own up to float rounding (about 1e-6). The trained network is never changed: a copy is made.
Any backbone and either fusion (the paper's two sources, the multi-source softmax) is handled: only
`nn.Sequential` runs of Conv2d then BatchNorm2d are folded, and everything else is copied as it is.

With a `compute_dtype` (bfloat16, where the CPU multiplies it natively: `runtime.native_bf16_cpu`) the
backbone's convolutions run under autocast to it, the way a GPU's default mode runs TF32, except its last
convolution: the logits (or the paper's residual) are computed in float32 from the rounded features, and
the softmax and the blend stay float32. On the built-in networks the restored 8-bit image is then within
1/255 of the float32 one (tests/test_restore_folders.py checks it on a real photo's sources).
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from .networks import FusionNetwork


def folded_conv(conv: nn.Conv2d, norm: nn.BatchNorm2d) -> nn.Conv2d:
    """One convolution computing `norm(conv(x))` of a BatchNorm in evaluation mode."""
    scale = norm.weight.detach() / torch.sqrt(norm.running_var + norm.eps)
    bias = conv.bias.detach() if conv.bias is not None else torch.zeros_like(norm.running_mean)
    folded = nn.Conv2d(conv.in_channels, conv.out_channels, conv.kernel_size, stride=conv.stride, padding=conv.padding,
                       dilation=conv.dilation, groups=conv.groups, bias=True, padding_mode=conv.padding_mode)
    with torch.no_grad():
        folded.weight.copy_(conv.weight.detach() * scale.view(-1, 1, 1, 1))
        folded.bias.copy_((bias - norm.running_mean) * scale + norm.bias.detach())
    return folded.to(device=conv.weight.device, dtype=conv.weight.dtype)


def fold_batch_norms(module: nn.Module) -> None:
    """Fold every Conv2d directly followed by a BatchNorm2d inside an nn.Sequential of `module` (in place)."""
    for child in module.children():
        fold_batch_norms(child)
    if not isinstance(module, nn.Sequential):
        return
    layers, folded = list(module), []
    while layers:
        layer = layers.pop(0)
        if isinstance(layer, nn.Conv2d) and layers and isinstance(layers[0], nn.BatchNorm2d) and layers[0].track_running_stats:
            layer = folded_conv(layer, layers.pop(0))
        folded.append(layer)
    for name in list(module._modules):
        del module._modules[name]
    for index, layer in enumerate(folded):
        module.add_module(str(index), layer)


class Float32Layer(nn.Module):
    """A layer computed in float32 inside an autocast region (its input cast up from the region's dtype)."""

    def __init__(self, layer: nn.Module) -> None:
        super().__init__()
        self.layer = layer

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        with torch.autocast(x.device.type, enabled=False):
            return self.layer(x.float())


class AutocastBackbone(nn.Module):
    """A backbone run under autocast to `dtype`, its last convolution in float32 (`Float32Layer`); it
    returns float32 and states the backbone's `receptive_radius` and `size_multiple`."""

    def __init__(self, backbone: nn.Module, dtype: torch.dtype) -> None:
        super().__init__()
        last = [name for name, module in backbone.named_modules() if isinstance(module, nn.Conv2d)][-1]
        parent_name, _, child = last.rpartition(".")
        parent = backbone.get_submodule(parent_name)
        setattr(parent, child, Float32Layer(getattr(parent, child)))
        self.backbone, self.dtype = backbone, dtype
        self.receptive_radius, self.size_multiple = backbone.receptive_radius, backbone.size_multiple

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        with torch.autocast(x.device.type, dtype=self.dtype):
            return self.backbone(x).float()


def inference_copy(network: FusionNetwork, channels_last: bool = True, compute_dtype: torch.dtype | None = None) -> FusionNetwork:
    """A copy of the trained network in evaluation mode, its batch norms folded into its convolutions and,
    with `channels_last`, its weights in that layout; with `compute_dtype`, its backbone computes in it
    (`AutocastBackbone`). The trained network is left as it is."""
    prepared = copy.deepcopy(network).eval().requires_grad_(False)
    fold_batch_norms(prepared)
    if channels_last:
        prepared = prepared.to(memory_format=torch.channels_last)
    if compute_dtype is not None:
        prepared.backbone = AutocastBackbone(prepared.backbone, compute_dtype)
    return prepared
