"""The StyleGAN2(-ADA) generator (Karras et al., CVPR 2020 / NeurIPS 2020), written from the papers'
equations and the file layout of NVlabs' network pickles (parameter names, shapes and constructor
arguments), in float32.

Mapping: z normalised by its second moment, (for conditional generators) concatenated with the
normalised embedding of a one-hot class vector, `mapping_layers` fully connected layers with an
equalised learning rate (weight gain `lr_multiplier / sqrt(fan_in)`, bias gain `lr_multiplier`) and
leaky ReLU 0.2 with gain sqrt(2); w is broadcast to `num_ws` copies and truncated toward `w_avg`.

Synthesis: one block per resolution 4, 8, ..., R (`b4`, `b8`, ...). b4 starts from a learned constant;
every other block's `conv0` up-samples by 2 inside its convolution. Each conv is a modulated 3x3
convolution (style = affine(w), bias initialised to 1) with weight demodulation, plus constant noise
`noise_const * noise_strength`, bias, leaky ReLU with gain sqrt(2), clamped at `conv_clamp * sqrt(2)`.
Each block's `torgb` (a modulated 1x1 convolution without demodulation, weight gain 1/sqrt(fan_in),
clamped at `conv_clamp`) is added to the running image, which is up-sampled by 2 from block to block
(the `skip` architecture). Up-sampling is zero insertion followed by the FIR filter stored in each
`resample_filter` buffer (the outer product of [1, 3, 3, 1], normalised, times 4).

Which codes each block reads: block i reads `num_conv + num_torgb` consecutive rows of ws (B x num_ws
x w_dim) starting at the sum of the earlier blocks' `num_conv` (`Synthesis.block_ws(i)`): b4 reads
rows 0, 1 (conv1, torgb); b8 reads 1, 2, 3 (conv0, conv1, torgb); b16 reads 3, 4, 5; ... The torgb
of a block and the conv0 of the next share a row. `num_ws = sum(num_conv) + 1`.

Modulated convolutions run either as one grouped convolution for the whole batch (`fused=True`, the
default) or sample by sample (`fused=False`, the plain reference path); both give the same numbers up
to float rounding. The plain path also runs the fully connected layers (mapping, affines) sample by
sample: a CPU matrix product of one row takes another code path than that of several rows, so only
then does a sample's result not depend on the batch it is in, bit for bit (with PyTorch's own CPU
convolutions, `bigprior.runtime.numeric_mode("fp32", cpu, batch_invariant=True)`), where it is also the faster path.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ...errors import BIGPriorError

LRELU_SLOPE = 0.2
LRELU_GAIN = math.sqrt(2.0)
EPS = 1e-8


@dataclass(frozen=True)
class StyleGAN2Config:
    """What fixes a StyleGAN2 generator's layers: NVlabs' constructor arguments, flattened.

    `embed_features` / `layer_features` None mean NVlabs' defaults (w_dim, or 0 embedding features for
    an unconditional generator). `conv_clamp` None: no clamping."""

    z_dim: int
    c_dim: int
    w_dim: int
    resolution: int
    img_channels: int = 3
    mapping_layers: int = 8
    mapping_lr_multiplier: float = 0.01
    embed_features: int | None = None
    layer_features: int | None = None
    channel_base: int = 32768
    channel_max: int = 512
    conv_clamp: float | None = None
    use_noise: bool = True
    kernel_size: int = 3
    resample_filter: tuple[float, ...] = (1, 3, 3, 1)

    @property
    def num_ws(self) -> int:
        """Codes the synthesis reads: one per convolution (1 at 4x4, 2 above) and one for the last torgb."""
        return 2 * (int(math.log2(self.resolution)) - 1)

    def channels(self, resolution: int) -> int:
        return min(self.channel_base // resolution, self.channel_max)

    def check(self, source: str) -> None:
        """Raise naming the first setting this generator cannot be built with."""
        def count(value: object, least: int = 1) -> bool:
            return isinstance(value, int) and not isinstance(value, bool) and value >= least

        def positive(value: object) -> bool:
            return isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0

        taps = self.resample_filter
        rules = [(name, count(getattr(self, name)), "a positive integer")
                 for name in ("z_dim", "w_dim", "img_channels", "mapping_layers", "channel_base", "channel_max")]
        rules += [("c_dim", count(self.c_dim, 0), "an integer >= 0"),
                  ("embed_features", self.embed_features is None or count(self.embed_features), "a positive integer"),
                  ("layer_features", self.layer_features is None or count(self.layer_features), "a positive integer"),
                  ("mapping_lr_multiplier", positive(self.mapping_lr_multiplier), "a positive number"),
                  ("conv_clamp", self.conv_clamp is None or positive(self.conv_clamp), "a positive number or none"),
                  ("use_noise", isinstance(self.use_noise, bool), "true or false"),
                  ("resolution", count(self.resolution, 4) and self.resolution & (self.resolution - 1) == 0
                   and self.resolution <= self.channel_base, "a power of two >= 4, at most channel_base"),
                  ("kernel_size", self.kernel_size == 3, "3 (NVlabs' convolutions)"),
                  ("resample_filter", isinstance(taps, tuple) and len(taps) % 2 == 0 and len(taps) > 0
                   and all(positive(t) for t in taps), "an even number of positive taps")]
        for name, ok, expected in rules:
            if not ok:
                raise BIGPriorError(f"{source}: {name} {getattr(self, name)!r}; expected {expected}")


def fir_kernel(taps: Sequence[float]) -> torch.Tensor:
    """The 2-D FIR filter of 1-D taps: their outer product, normalised to sum 1."""
    f = torch.as_tensor(taps, dtype=torch.float32)
    f = torch.outer(f, f)
    return f / f.sum()


def upsample2x(x: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    """Zero insertion then the FIR filter (gain 4): a depthwise transposed convolution of stride 2."""
    channels, size = x.shape[1], kernel.shape[-1]
    weight = (kernel * 4).to(x.dtype).expand(channels, 1, size, size)
    return F.conv_transpose2d(x, weight, stride=2, padding=(size - 2) // 2, groups=channels)


def fir_filter(x: torch.Tensor, kernel: torch.Tensor, pad: int, gain: float) -> torch.Tensor:
    """Convolution of each channel with the FIR filter (true convolution: the kernel is flipped)."""
    channels, size = x.shape[1], kernel.shape[-1]
    weight = (kernel.flip(0, 1) * gain).to(x.dtype).expand(channels, 1, size, size)
    return F.conv2d(F.pad(x, [pad] * 4), weight, groups=channels)


def modulate(weight: torch.Tensor, styles: torch.Tensor, demodulate: bool) -> torch.Tensor:
    """Per-sample weights (B, out, in, k, k): scaled per input channel by the style and, with
    demodulation, each output filter rescaled to unit L2 norm."""
    w = weight.unsqueeze(0) * styles[:, None, :, None, None]
    if demodulate:
        w = w * torch.rsqrt(w.square().sum(dim=(2, 3, 4), keepdim=True) + EPS)
    return w


def grouped_conv(x: torch.Tensor, w: torch.Tensor, up: bool, kernel: torch.Tensor | None) -> torch.Tensor:
    """Every sample of x (B, in, H, W) convolved with its own weights w (B, out, in, k, k): one grouped
    convolution. With `up`, the input is up-sampled by 2 inside the convolution: a stride-2 transposed
    convolution (true convolution with w in the up-sampled grid) followed by the FIR filter (gain 4),
    cropped symmetrically to 2H x 2W."""
    batch, out_channels, in_channels, k = w.shape[:4]
    x = x.reshape(1, batch * in_channels, *x.shape[2:])
    if up:
        w = w.transpose(1, 2).reshape(batch * in_channels, out_channels, k, k)
        x = F.conv_transpose2d(x, w, stride=2, groups=batch)
        x = fir_filter(x, kernel, (kernel.shape[-1] - k + 1) // 2, gain=4.0)
    else:
        x = F.conv2d(x, w.reshape(batch * out_channels, in_channels, k, k), padding=k // 2, groups=batch)
    return x.reshape(batch, out_channels, *x.shape[2:])


def modulated_conv(x: torch.Tensor, w: torch.Tensor, up: bool, kernel: torch.Tensor | None,
                   fused: bool) -> torch.Tensor:
    """`grouped_conv` for the whole batch at once (fused) or sample by sample (the plain path)."""
    if fused:
        return grouped_conv(x, w, up, kernel)
    return torch.cat([grouped_conv(x[i:i + 1], w[i:i + 1], up, kernel) for i in range(x.shape[0])])


def bias_lrelu(x: torch.Tensor, bias: torch.Tensor, clamp: float | None) -> torch.Tensor:
    """Bias, leaky ReLU 0.2 with gain sqrt(2), then clamping to [-clamp, clamp] (when given)."""
    x = F.leaky_relu(x + bias.view(1, -1, 1, 1), LRELU_SLOPE) * LRELU_GAIN
    return x.clamp(-clamp, clamp) if clamp is not None else x


class FullyConnected(nn.Module):
    """y = x W^T * weight_gain + b * bias_gain (equalised learning rate), optionally leaky ReLU * sqrt(2).

    Weights are stored divided by `lr_multiplier` (so they train at a reduced rate)."""

    def __init__(self, in_features: int, out_features: int, lr_multiplier: float = 1.0, activate: bool = False,
                 bias_init: float = 0.0) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_features, in_features) / lr_multiplier)
        self.bias = nn.Parameter(torch.full([out_features], float(bias_init)))
        self.weight_gain = lr_multiplier / math.sqrt(in_features)
        self.bias_gain = lr_multiplier
        self.activate = activate

    def forward(self, x: torch.Tensor, per_sample: bool = False) -> torch.Tensor:
        weight, bias = self.weight * self.weight_gain, self.bias * self.bias_gain
        if per_sample:  # one row at a time: each row's arithmetic independent of the batch (module docstring)
            x = torch.cat([F.linear(row, weight, bias) for row in x.split(1)])
        else:
            x = F.linear(x, weight, bias)
        return F.leaky_relu(x, LRELU_SLOPE) * LRELU_GAIN if self.activate else x


def normalize_2nd_moment(x: torch.Tensor) -> torch.Tensor:
    return x * torch.rsqrt(x.square().mean(dim=1, keepdim=True) + EPS)


class Mapping(nn.Module):
    """z (and a class for conditional generators) -> ws (B, num_ws, w_dim), with truncation."""

    def __init__(self, config: StyleGAN2Config, num_ws: int) -> None:
        super().__init__()
        self.z_dim, self.c_dim, self.w_dim, self.num_ws = config.z_dim, config.c_dim, config.w_dim, num_ws
        self.num_layers = config.mapping_layers
        embed = config.embed_features if config.embed_features is not None else (config.w_dim if config.c_dim else 0)
        hidden = config.layer_features if config.layer_features is not None else config.w_dim
        widths = [config.z_dim + (embed if config.c_dim else 0)] + [hidden] * (config.mapping_layers - 1)
        widths.append(config.w_dim)
        self.class_index: int | None = None  # the class of conditional generators when no c is given
        if config.c_dim:
            self.embed = FullyConnected(config.c_dim, embed)
        for i in range(config.mapping_layers):
            self.add_module(f"fc{i}", FullyConnected(widths[i], widths[i + 1], config.mapping_lr_multiplier, True))
        self.register_buffer("w_avg", torch.zeros(config.w_dim))

    def condition(self, c: torch.Tensor | None, batch: int, device: torch.device) -> torch.Tensor:
        """c as given, or the one-hot vector of `class_index` for every sample."""
        if c is not None:
            if c.shape != (batch, self.c_dim):
                raise ValueError(f"expected c of shape ({batch}, {self.c_dim}), got {tuple(c.shape)}")
            return c
        if self.class_index is None:
            raise BIGPriorError(f"conditional generator (c_dim {self.c_dim}): give a class (class_index 0.."
                                f"{self.c_dim - 1}) or a c vector")
        return F.one_hot(torch.full((batch,), self.class_index, device=device), self.c_dim).float()

    def forward(self, z: torch.Tensor, c: torch.Tensor | None = None, truncation_psi: float = 1.0,
                truncation_cutoff: int | None = None, fused: bool = True) -> torch.Tensor:
        """`fused=False`: the layers run sample by sample (see the module docstring)."""
        if z.ndim != 2 or z.shape[1] != self.z_dim:
            raise ValueError(f"expected z of shape (batch, {self.z_dim}), got {tuple(z.shape)}")
        x = normalize_2nd_moment(z)
        if self.c_dim:
            y = normalize_2nd_moment(self.embed(self.condition(c, z.shape[0], z.device).to(z.dtype), not fused))
            x = torch.cat([x, y], dim=1)
        for i in range(self.num_layers):
            x = getattr(self, f"fc{i}")(x, not fused)
        ws = x.unsqueeze(1).expand(-1, self.num_ws, -1)
        if truncation_psi != 1:
            cutoff = self.num_ws if truncation_cutoff is None else truncation_cutoff
            truncated = self.w_avg.lerp(ws[:, :cutoff], truncation_psi)
            ws = torch.cat([truncated, ws[:, cutoff:]], dim=1)
        return ws.contiguous()


class SynthesisLayer(nn.Module):
    """Modulated, demodulated convolution (up-sampling by 2 with `up`), noise, bias, leaky ReLU, clamp."""

    def __init__(self, in_channels: int, out_channels: int, resolution: int, config: StyleGAN2Config,
                 up: bool = False) -> None:
        super().__init__()
        k = config.kernel_size
        self.up, self.resolution, self.use_noise = up, resolution, config.use_noise
        self.clamp = config.conv_clamp * LRELU_GAIN if config.conv_clamp is not None else None
        self.affine = FullyConnected(config.w_dim, in_channels, bias_init=1.0)
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, k, k))
        if self.use_noise:
            self.noise_strength = nn.Parameter(torch.zeros([]))
        self.bias = nn.Parameter(torch.zeros(out_channels))
        self.register_buffer("resample_filter", fir_kernel(config.resample_filter))
        if self.use_noise:
            self.register_buffer("noise_const", torch.randn(resolution, resolution))

    def forward(self, x: torch.Tensor, w: torch.Tensor, fused: bool = True) -> torch.Tensor:
        weights = modulate(self.weight, self.affine(w, not fused), demodulate=True)
        x = modulated_conv(x, weights, self.up, self.resample_filter, fused)
        if self.use_noise:
            x = x + self.noise_const * self.noise_strength
        return bias_lrelu(x, self.bias, self.clamp)


class ToRGB(nn.Module):
    """Modulated 1x1 convolution without demodulation (weight gain 1/sqrt(fan_in)), bias, clamp."""

    def __init__(self, in_channels: int, config: StyleGAN2Config) -> None:
        super().__init__()
        self.affine = FullyConnected(config.w_dim, in_channels, bias_init=1.0)
        self.weight = nn.Parameter(torch.randn(config.img_channels, in_channels, 1, 1))
        self.bias = nn.Parameter(torch.zeros(config.img_channels))
        self.weight_gain = 1 / math.sqrt(in_channels)
        self.clamp = config.conv_clamp

    def forward(self, x: torch.Tensor, w: torch.Tensor, fused: bool = True) -> torch.Tensor:
        weights = modulate(self.weight, self.affine(w, not fused) * self.weight_gain, demodulate=False)
        x = modulated_conv(x, weights, False, None, fused) + self.bias.view(1, -1, 1, 1)
        return x.clamp(-self.clamp, self.clamp) if self.clamp is not None else x


class SynthesisBlock(nn.Module):
    """One resolution: (const | conv0 with up-sampling), conv1, torgb added to the up-sampled image."""

    def __init__(self, in_channels: int, out_channels: int, resolution: int, config: StyleGAN2Config) -> None:
        super().__init__()
        self.resolution = resolution
        if not in_channels:
            self.const = nn.Parameter(torch.randn(out_channels, resolution, resolution))
        self.register_buffer("resample_filter", fir_kernel(config.resample_filter))
        if in_channels:
            self.conv0 = SynthesisLayer(in_channels, out_channels, resolution, config, up=True)
        self.conv1 = SynthesisLayer(out_channels, out_channels, resolution, config)
        self.torgb = ToRGB(out_channels, config)
        self.num_conv = 2 if in_channels else 1
        self.num_torgb = 1

    def forward(self, x: torch.Tensor | None, img: torch.Tensor | None, ws: torch.Tensor,
                fused: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
        """ws: (B, num_conv + num_torgb, w_dim), this block's rows. Returns (features, running image)."""
        if self.num_conv == 1:
            x = self.const.unsqueeze(0).expand(ws.shape[0], -1, -1, -1)
        else:
            x = self.conv0(x, ws[:, 0], fused)
        x = self.conv1(x, ws[:, self.num_conv - 1], fused)
        rgb = self.torgb(x, ws[:, self.num_conv], fused)
        img = rgb if img is None else upsample2x(img, self.resample_filter) + rgb
        return x, img


class Synthesis(nn.Module):
    """ws (B, num_ws, w_dim) -> image (B, img_channels, R, R), raw (not clamped to [-1, 1]).

    Blocks can be run in two parts, for multi-code inversion: `run_blocks(ws, 0, k)` gives the
    features and running image after block k-1; `run_blocks(ws, k, None, x, img)` finishes from there."""

    def __init__(self, config: StyleGAN2Config) -> None:
        super().__init__()
        self.w_dim, self.resolution = config.w_dim, config.resolution
        self.block_resolutions = [2**i for i in range(2, int(math.log2(config.resolution)) + 1)]
        self.ws_starts: list[int] = []
        num_ws = 0
        for r in self.block_resolutions:
            in_channels = config.channels(r // 2) if r > 4 else 0
            block = SynthesisBlock(in_channels, config.channels(r), r, config)
            self.add_module(f"b{r}", block)
            self.ws_starts.append(num_ws)
            num_ws += block.num_conv
        self.num_ws = num_ws + block.num_torgb

    @property
    def blocks(self) -> list[SynthesisBlock]:
        return [getattr(self, f"b{r}") for r in self.block_resolutions]

    def block_ws(self, index: int) -> range:
        """The rows of ws block `index` reads: its convolutions', then its torgb's."""
        block = self.blocks[index]
        return range(self.ws_starts[index], self.ws_starts[index] + block.num_conv + block.num_torgb)

    def run_blocks(self, ws: torch.Tensor, start: int = 0, stop: int | None = None, x: torch.Tensor | None = None,
                   img: torch.Tensor | None = None, fused: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
        """Blocks [start, stop) on ws (all num_ws rows; each block takes its own, `block_ws`).

        From block 0, x and img are not given; from a later block, they are the outputs of the block
        before it (features and running image). Returns the features and running image of block stop-1."""
        blocks = self.blocks
        stop = len(blocks) if stop is None else stop
        if not 0 <= start < stop <= len(blocks):
            raise ValueError(f"blocks [{start}, {stop}) out of range: the synthesis has {len(blocks)} blocks")
        if (start > 0) != (x is not None and img is not None):
            raise ValueError("give x and img exactly when starting after block 0")
        if ws.ndim != 3 or ws.shape[1:] != (self.num_ws, self.w_dim):
            raise ValueError(f"expected ws of shape (batch, {self.num_ws}, {self.w_dim}), got {tuple(ws.shape)}")
        for index in range(start, stop):
            rows = self.block_ws(index)
            x, img = blocks[index](x, img, ws[:, rows.start:rows.stop], fused)
        return x, img

    def forward(self, ws: torch.Tensor, fused: bool = True) -> torch.Tensor:
        return self.run_blocks(ws, fused=fused)[1]


class StyleGAN2Generator(nn.Module):
    """NVlabs' call shape: `mapping(z, c=None, truncation_psi=1.0) -> ws`, `synthesis(ws) -> image`,
    `forward(z) -> image`; images nominally in [-1, 1], not clamped; constant noise."""

    def __init__(self, config: StyleGAN2Config) -> None:
        super().__init__()
        config.check("StyleGAN2Config")
        self.config = config
        self.synthesis = Synthesis(config)  # registered first: NVlabs' state-dict order
        self.num_ws = self.synthesis.num_ws
        self.mapping = Mapping(config, self.num_ws)
        self.z_dim, self.c_dim, self.w_dim = config.z_dim, config.c_dim, config.w_dim
        self.resolution, self.img_channels = config.resolution, config.img_channels

    def set_class_index(self, class_index: int | None) -> None:
        """The class a conditional generator draws when no c is given (NVlabs' one-hot c)."""
        if class_index is not None and not self.c_dim:
            raise BIGPriorError(f"class_index {class_index}: the generator is unconditional (c_dim 0)")
        if class_index is not None and not 0 <= class_index < self.c_dim:
            raise BIGPriorError(f"class_index {class_index}: expected 0..{self.c_dim - 1} (c_dim {self.c_dim})")
        self.mapping.class_index = class_index

    def forward(self, z: torch.Tensor, c: torch.Tensor | None = None, truncation_psi: float = 1.0,
                truncation_cutoff: int | None = None, fused: bool = True) -> torch.Tensor:
        return self.synthesis(self.mapping(z, c, truncation_psi, truncation_cutoff, fused), fused)
