"""The fusion networks (torch only): phi = x - D(x) (or D(cat(x, g)) with `extend_input`), out = (1 - phi) x + phi g.

The model takes images in [0, 1] and returns its output in [0, 1]; inside, as the paper's code did
outside, it works on images shifted to [-0.5, 0.5] (`INPUT_SHIFT`, a constant: no state-dict key).
Options beyond the paper (each off by default, all in `FusionSpec`): phi bounded to [0, 1]
(`phi_activation`), a U-Net backbone (`UNet`, larger receptive field) and test-time self-ensemble.
Every backbone states its `receptive_radius` and the `size_multiple` its input needs; the model pads to
the multiple itself, so any image size works, and the tiled fusion (`pipeline.fuse_tiled`) reads both.
Checkpoints and run folders are read by `loading.py`.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import BIGPriorError
from .geometry import DIHEDRAL, dihedral, pad_to_multiple, undo_dihedral
from .spec import FusionSpec

INPUT_SHIFT = 0.5  # the paper's networks see images in [-0.5, 0.5]
SIGMOID_SLOPE = 4.0  # phi = sigmoid(4 (raw - 1/2)): slope 1 and value 1/2 at raw = 1/2, like the paper's phi
WARM_START_SHARE = 0.9  # a multi-source fusion starts training as 90% of its best source on the training images


class DnCNN(nn.Module):
    """conv3x3+ReLU, (layers - 2) x [conv3x3, BatchNorm, ReLU], conv3x3 to `out_channels`; no biases.

    Returns the residual D(x); the caller subtracts it (the release's DnCNN returned x - D(x),
    which only works when input and output have the same channels)."""

    def __init__(self, in_channels: int, out_channels: int = 3, layers: int = 17, features: int = 64) -> None:
        super().__init__()
        if layers < 2:
            raise BIGPriorError(f"--dncnn_layers: need at least 2 layers, got {layers}")
        modules: list[nn.Module] = [nn.Conv2d(in_channels, features, 3, padding=1, bias=False), nn.ReLU(inplace=True)]
        for _ in range(layers - 2):
            modules += [nn.Conv2d(features, features, 3, padding=1, bias=False), nn.BatchNorm2d(features), nn.ReLU(inplace=True)]
        modules.append(nn.Conv2d(features, out_channels, 3, padding=1, bias=False))
        self.dncnn = nn.Sequential(*modules)
        self.receptive_radius = layers  # one pixel per 3x3 convolution
        self.size_multiple = 1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dncnn(x)


def _conv_block(in_channels: int, out_channels: int, convs: int) -> nn.Sequential:
    """`convs` x [conv3x3 (no bias), BatchNorm, ReLU]."""
    modules: list[nn.Module] = []
    for i in range(convs):
        modules += [nn.Conv2d(in_channels if i == 0 else out_channels, out_channels, 3, padding=1, bias=False),
                    nn.BatchNorm2d(out_channels), nn.ReLU(inplace=True)]
    return nn.Sequential(*modules)


class UNet(nn.Module):
    """A small U-Net: per level a block of `convs` [conv3x3, BatchNorm, ReLU], 2x2 max pooling down,
    2x2 stride-2 transposed convolutions up, skip connections concatenated, a 1x1 convolution to
    `out_channels`; `features` per level (len(features) - 1 downsamplings). Returns a residual, as DnCNN.

    The input's height and width must be multiples of `size_multiple` (BIGPriorFusion pads to it).
    `receptive_radius` bounds how far (in pixels, on each side) an output pixel sees: at level l (pixel
    pitch 2^l) the encoder's and decoder's convolutions add convs * 2^l each, pooling and upsampling
    together add 2^l (a pooled pixel covers 2 pixels; an upsampled pixel comes from one pooled pixel,
    so the pair shifts the field by at most one fine pixel, to one side or the other by parity), and
    the bottleneck adds convs * 2^L. For (32, 64, 128) and 2 convs: 5 * (1 + 2) + 2 * 4 = 23 pixels
    (DnCNN's 17 layers: 17)."""

    def __init__(self, in_channels: int, out_channels: int = 3, features: tuple[int, ...] = (32, 64, 128), convs: int = 2) -> None:
        super().__init__()
        levels = len(features) - 1
        self.encoders = nn.ModuleList(_conv_block(c_in, c_out, convs) for c_in, c_out in zip((in_channels, *features[:-2]), features[:-1]))
        self.bottleneck = _conv_block(features[-2], features[-1], convs)
        self.ups = nn.ModuleList(nn.ConvTranspose2d(features[l + 1], features[l], 2, stride=2, bias=False) for l in range(levels))
        self.decoders = nn.ModuleList(_conv_block(2 * features[l], features[l], convs) for l in range(levels))
        self.head = nn.Conv2d(features[0], out_channels, 1, bias=False)
        self.size_multiple = 2**levels
        self.receptive_radius = sum((2 * convs + 1) * 2**l for l in range(levels)) + convs * 2**levels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = []
        for encoder in self.encoders:
            x = encoder(x)
            skips.append(x)
            x = F.max_pool2d(x, 2)
        x = self.bottleneck(x)
        for up, decoder, skip in reversed(list(zip(self.ups, self.decoders, skips))):
            x = decoder(torch.cat((up(x), skip), dim=1))
        return self.head(x)


BACKBONE_BUILDERS: dict[str, Callable[[int, int, int], nn.Module]] = {
    "D": lambda in_channels, out_channels, layers: DnCNN(in_channels, out_channels=out_channels, layers=layers),
    "U": lambda in_channels, out_channels, layers: UNet(in_channels, out_channels=out_channels),
}  # (input channels, output channels, DnCNN depth) -> backbone; one per key of spec.BACKBONES


class BIGPriorFusion(nn.Module):
    """Fuses an observation x (C_x channels) and a prior g (3 channels), both in [0, 1].

    phi has 3 channels and is the per-pixel share of the output taken from the prior. From the
    backbone's residual D, raw = x - D (the paper's phi, shifted images); then by `phi_activation`:

    - `none` (the paper): phi = raw, unbounded.
    - `sigmoid`: phi = sigmoid(4 (raw - 1/2)), in (0, 1). Its value (1/2) and slope (1) at raw = 1/2
      are those of the identity, so with the same (paper-initialised) weights it starts as the paper's
      phi where that is near 1/2 and bends smoothly into (0, 1) beyond; gradients never vanish
      entirely, and phi reaches 0 or 1 only in the limit (the fusion can still take ~all of x or g).
    - `clamp`: phi = raw clamped to [0, 1]: equal to the paper's phi inside [0, 1], but where raw is
      outside, the gradient of phi with respect to raw is 0, so those pixels give the network no
      gradient (from the MSE or from |mean(phi)|) until other weight changes bring them back.

    With `self_ensemble` (test time), phi is averaged over the 8 flips / quarter turns of the inputs
    (each result turned back). The output is then (1 - mean phi) x + mean(phi) g: the average of the 8
    fused outputs, as the output is linear in phi (equal up to float rounding)."""

    def __init__(self, spec: FusionSpec, self_ensemble: bool = False) -> None:
        super().__init__()
        self.spec = spec
        self.self_ensemble = self_ensemble
        in_channels = spec.observation_channels + (3 if spec.extend_input else 0)
        self.backbone = BACKBONE_BUILDERS[spec.backbone](in_channels, 3, spec.layers)

    @property
    def observation_channels(self) -> int:
        return self.spec.observation_channels

    def fuse(self, x: torch.Tensor, sources: torch.Tensor, mask: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """The fusions' common call: (output, shares (B, 1, 3, H, W)) of x and sources (B, 1, 3, H, W): the prior."""
        out, phi = self(x, sources[:, 0])
        return out, phi[:, None]

    def loss_outputs(self, x: torch.Tensor, sources: torch.Tensor, gt: torch.Tensor,
                     mask: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The fusions' common training call: `training_outputs` of the prior (sources[:, 0])."""
        return self.training_outputs(x, sources[:, 0], gt)

    @property
    def receptive_radius(self) -> int:
        """Pixels on each side of an output pixel that its value depends on (the backbone's)."""
        return self.backbone.receptive_radius

    @property
    def size_multiple(self) -> int:
        """Tiles aligned to multiples of this see the backbone's grid as the whole image does."""
        return self.backbone.size_multiple

    def forward(self, x: torch.Tensor, prior: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(output in [0, 1] nominally, not clamped; phi)."""
        out, phi = self.fuse_shifted(x - INPUT_SHIFT, prior - INPUT_SHIFT)
        return out + INPUT_SHIFT, phi

    def fuse_shifted(self, xs: torch.Tensor, gs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(output, phi) of inputs already shifted by -INPUT_SHIFT; the output is shifted too."""
        if xs.shape[1] != self.observation_channels or gs.shape[1] != 3:
            raise ValueError(
                f"expected an observation with {self.observation_channels} channel(s) and a 3-channel prior, "
                f"got {tuple(xs.shape)} and {tuple(gs.shape)}"
            )
        phi = self.phi_shifted(xs, gs)
        return (1 - phi) * xs + phi * gs, phi

    def phi_shifted(self, xs: torch.Tensor, gs: torch.Tensor) -> torch.Tensor:
        """phi of shifted inputs: on inputs padded to the size multiple (bottom and right), averaged
        over the 8 dihedral transforms with `self_ensemble`, cropped back to the input's size."""
        height, width = xs.shape[-2:]
        xs, gs = pad_to_multiple(xs, self.size_multiple), pad_to_multiple(gs, self.size_multiple)
        if self.self_ensemble:
            phi = sum(undo_dihedral(self._phi(dihedral(xs, k), dihedral(gs, k)), k) for k in range(DIHEDRAL)) / DIHEDRAL
        else:
            phi = self._phi(xs, gs)
        return phi[..., :height, :width]

    def _phi(self, xs: torch.Tensor, gs: torch.Tensor) -> torch.Tensor:
        features = torch.cat((xs, gs), dim=1) if self.spec.extend_input else xs
        raw = xs - self.backbone(features)
        if self.spec.phi_activation == "sigmoid":
            return torch.sigmoid(SIGMOID_SLOPE * (raw - 0.5))
        if self.spec.phi_activation == "clamp":
            return raw.clamp(0, 1)
        return raw

    def training_outputs(self, x: torch.Tensor, prior: torch.Tensor, gt: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(output, target, phi) for the training loss, output and target in the shifted domain.

        The paper's loss is MSE(out - 0.5, gt - 0.5) on the shifted tensors; MSE(out, gt) is the same
        number only up to float rounding (adding 0.5 back rounds), and rounding differences grow over
        an epoch's steps, so training on the shifted pair keeps every run bit for bit what it was."""
        out, phi = self.fuse_shifted(x - INPUT_SHIFT, prior - INPUT_SHIFT)
        return out, gt - INPUT_SHIFT, phi


class MultiSourceFusion(nn.Module):
    """Fuses an observation x (C_x channels) with S source images (3 channels each: the generative prior,
    classical restorations), all in [0, 1]: out = sum_k w_k s_k over s_0 = x (grey broadcast) and the
    sources, with per-pixel weights w = softmax over the backbone's S + 1 logits (w_k >= 0, sum 1).

    The backbone sees the observation, every source and, for masked tasks (`spec.mask_channel`), the mask
    (1 = missing); where the observation has no data its logit is -inf, so its weight is 0 there by
    construction. Each source's logit also has a learnt offset (`source_logits`, 0 at the start: a uniform
    blend): the backbones have no biases (the paper's convolutions), and without an offset the network can
    favour a source everywhere only through its weights, which the first epochs spend on exactly that.
    Images are shifted to [-0.5, 0.5] inside, as in the paper's fusion. With `self_ensemble` the weights
    are averaged over the 8 flips / quarter turns (still a convex blend)."""

    def __init__(self, spec: FusionSpec, self_ensemble: bool = False) -> None:
        super().__init__()
        self.spec = spec
        self.self_ensemble = self_ensemble
        count = len(spec.sources)  # the observation and the sources
        in_channels = spec.observation_channels + 3 * (count - 1) + (1 if spec.mask_channel else 0)
        self.backbone = BACKBONE_BUILDERS[spec.backbone](in_channels, count, spec.layers)
        self.source_logits = nn.Parameter(torch.zeros(count))

    @property
    def observation_channels(self) -> int:
        return self.spec.observation_channels

    @property
    def receptive_radius(self) -> int:
        return self.backbone.receptive_radius

    @property
    def size_multiple(self) -> int:
        return self.backbone.size_multiple

    def forward(self, x: torch.Tensor, sources: torch.Tensor, mask: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        return self.fuse(x, sources, mask)

    def start_with(self, source: int, share: float = WARM_START_SHARE) -> None:
        """Start training from a blend that gives `source` (0: the observation) `share` of every pixel
        where it has data, the others equal parts of the rest: its logit offset log(share (S - 1) / (1 - share))."""
        with torch.no_grad():
            self.source_logits.zero_()
            self.source_logits[source] = math.log(share * (len(self.spec.sources) - 1) / (1 - share))

    def fuse(self, x: torch.Tensor, sources: torch.Tensor, mask: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """(output in [0, 1] nominally, not clamped; shares of the sources (B, S, 1, H, W)) of an
        observation (B, C_x, H, W), sources (B, S, 3, H, W) and, for masked tasks, the mask (B, 1, H, W)."""
        out, weights = self.fuse_shifted(x - INPUT_SHIFT, sources - INPUT_SHIFT, mask)
        return out + INPUT_SHIFT, weights[:, 1:, None]

    def loss_outputs(self, x: torch.Tensor, sources: torch.Tensor, gt: torch.Tensor,
                     mask: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(output, target, phi = 1 - the observation's weight) in the shifted domain, for the training loss."""
        out, weights = self.fuse_shifted(x - INPUT_SHIFT, sources - INPUT_SHIFT, mask)
        return out, gt - INPUT_SHIFT, 1 - weights[:, :1]

    def fuse_shifted(self, xs: torch.Tensor, ss: torch.Tensor, mask: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        """(output, weights (B, S + 1, H, W)) of shifted inputs; the output is shifted too."""
        batch, count = ss.shape[:2]
        if xs.shape[1] != self.observation_channels or ss.shape[2] != 3 or count != len(self.spec.sources) - 1:
            raise ValueError(f"expected an observation with {self.observation_channels} channel(s) and "
                             f"{len(self.spec.sources) - 1} 3-channel sources, got {tuple(xs.shape)} and {tuple(ss.shape)}")
        if self.spec.mask_channel and mask is None:
            raise ValueError("this fusion network takes the mask of the missing pixels")
        weights = self.weights_shifted(xs, ss.flatten(1, 2), mask if self.spec.mask_channel else None)
        blend = weights[:, :1] * xs.expand(batch, 3, *xs.shape[-2:])
        for k in range(count):
            blend = blend + weights[:, k + 1 : k + 2] * ss[:, k]
        return blend, weights

    def weights_shifted(self, xs: torch.Tensor, ss: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        """The weights on inputs padded to the size multiple, averaged over the 8 dihedral transforms with
        `self_ensemble`, cropped back to the input's size."""
        height, width = xs.shape[-2:]
        xs, ss = pad_to_multiple(xs, self.size_multiple), pad_to_multiple(ss, self.size_multiple)
        mask = pad_to_multiple(mask, self.size_multiple) if mask is not None else None
        if self.self_ensemble:
            weights = sum(undo_dihedral(self._weights(*(dihedral(t, k) if t is not None else None for t in (xs, ss, mask))), k)
                          for k in range(DIHEDRAL)) / DIHEDRAL
        else:
            weights = self._weights(xs, ss, mask)
        return weights[..., :height, :width]

    def _weights(self, xs: torch.Tensor, ss: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        features = [xs, ss] + ([mask.to(xs.dtype)] if mask is not None else [])
        logits = self.backbone(torch.cat(features, dim=1)) + self.source_logits.to(xs.dtype)[:, None, None]
        if mask is not None:  # no data, no weight
            observation = logits[:, :1].masked_fill(mask > 0.5, float("-inf"))
            logits = torch.cat((observation, logits[:, 1:]), dim=1)
        return torch.softmax(logits.float(), dim=1).to(logits.dtype)


FusionNetwork = BIGPriorFusion | MultiSourceFusion


def init_paper_weights(model: nn.Module) -> None:
    """The release's `weights_init_kaiming`: Kaiming-normal convs, small clamped BatchNorm scales
    (a U-Net's transposed convolutions keep PyTorch's default initialisation)."""
    for module in model.modules():
        if isinstance(module, nn.Conv2d):
            nn.init.kaiming_normal_(module.weight, a=0, mode="fan_in")
        elif isinstance(module, nn.BatchNorm2d):
            with torch.no_grad():
                module.weight.normal_(0, math.sqrt(2.0 / 9.0 / 64.0)).clamp_(-0.025, 0.025)
                module.bias.zero_()


def build_fusion_model(spec: FusionSpec) -> FusionNetwork:
    """A fusion network with the release's initialisation (from torch's global random state): the paper's
    two-source fusion, or the multi-source one when the spec names its sources."""
    model = MultiSourceFusion(spec) if spec.sources else BIGPriorFusion(spec)
    init_paper_weights(model)
    return model
