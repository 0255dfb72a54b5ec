"""The fusion model: phi = x - D(x) (or D(cat(x, g)) with `extend_input`), out = (1 - phi) x + phi g.

State dicts use the paper's keys: the release wrapped its model in `nn.DataParallel`, so its files
hold `module.backbone.dncnn.{i}.*`. `paper_state_dict` writes that layout and
`load_fusion_state_dict` reads it (or the same keys without `module.`), so checkpoints move freely
between this project and the paper's code.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Mapping

import torch
from torch import nn

from ..errors import BIGPriorError

PAPER_PREFIX = "module."
BACKBONES = {"D": "DnCNN"}  # the paper's other backbones (M, R, N) are not part of this project


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

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dncnn(x)


class BIGPriorFusion(nn.Module):
    """Fuses an observation x (C_x channels) and a prior g (3 channels), both shifted to [-0.5, 0.5].

    phi has 3 channels, is not squashed (no sigmoid or clamp, as in the paper), and is the per-pixel
    share of the output taken from the prior."""

    def __init__(self, observation_channels: int, layers: int = 17, extend_input: bool = False) -> None:
        super().__init__()
        self.observation_channels = observation_channels
        self.extend_input = extend_input
        in_channels = observation_channels + (3 if extend_input else 0)
        self.backbone = DnCNN(in_channels, out_channels=3, layers=layers)

    def phi(self, x: torch.Tensor, prior: torch.Tensor) -> torch.Tensor:
        features = torch.cat((x, prior), dim=1) if self.extend_input else x
        return x - self.backbone(features)

    def forward(self, x: torch.Tensor, prior: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if x.shape[1] != self.observation_channels or prior.shape[1] != 3:
            raise ValueError(
                f"expected an observation with {self.observation_channels} channel(s) and a 3-channel prior, "
                f"got {tuple(x.shape)} and {tuple(prior.shape)}"
            )
        phi = self.phi(x, prior)
        return (1 - phi) * x + phi * prior, phi


def init_paper_weights(model: nn.Module) -> None:
    """The release's `weights_init_kaiming`: Kaiming-normal convs, small clamped BatchNorm scales."""
    for module in model.modules():
        if isinstance(module, nn.Conv2d):
            nn.init.kaiming_normal_(module.weight, a=0, mode="fan_in")
        elif isinstance(module, nn.BatchNorm2d):
            with torch.no_grad():
                module.weight.normal_(0, math.sqrt(2.0 / 9.0 / 64.0)).clamp_(-0.025, 0.025)
                module.bias.zero_()


def build_fusion_model(observation_channels: int, backbone: str = "D", layers: int = 17, extend_input: bool = False) -> BIGPriorFusion:
    if backbone not in BACKBONES:
        raise BIGPriorError(f"--backbone {backbone!r}: only D (DnCNN) is implemented")
    model = BIGPriorFusion(observation_channels, layers=layers, extend_input=extend_input)
    init_paper_weights(model)
    return model


def paper_state_dict(model: BIGPriorFusion) -> OrderedDict[str, torch.Tensor]:
    """The model's state dict with the release's `module.` prefix, tensors on the CPU."""
    return OrderedDict((PAPER_PREFIX + key, value.detach().cpu()) for key, value in model.state_dict().items())


def load_fusion_state_dict(model: BIGPriorFusion, state: Mapping[str, torch.Tensor], source: str = "checkpoint") -> None:
    """Load a state dict with or without the `module.` prefix; a missing, extra or mis-shaped key
    is a BIGPriorError naming the first such key."""
    stripped = {key.removeprefix(PAPER_PREFIX): value for key, value in state.items()}
    own = model.state_dict()
    for key, value in own.items():
        if key not in stripped:
            raise BIGPriorError(f"{source}: missing key {PAPER_PREFIX + key} (is it a fusion checkpoint of this task?)")
        if tuple(stripped[key].shape) != tuple(value.shape):
            raise BIGPriorError(
                f"{source}: key {PAPER_PREFIX + key} has shape {tuple(stripped[key].shape)}, the model expects "
                f"{tuple(value.shape)} (wrong task, --dncnn_layers or --extend_input?)"
            )
    for key in stripped:
        if key not in own:
            raise BIGPriorError(f"{source}: unexpected key {PAPER_PREFIX + key}")
    model.load_state_dict(stripped)
