"""The fusion model: phi = x - D(x) (or D(cat(x, g)) with `extend_input`), out = (1 - phi) x + phi g.

The model takes images in [0, 1] and returns its output in [0, 1]; inside, as the paper's code did
outside, it works on images shifted to [-0.5, 0.5] (`INPUT_SHIFT`, a constant: no state-dict key).

State dicts use the paper's keys: the release wrapped its model in `nn.DataParallel`, so its files
hold `module.backbone.dncnn.{i}.*`. `paper_state_dict` writes that layout and
`load_fusion_state_dict` reads it (or the same keys without `module.`), so checkpoints move freely
between this project and the paper's code. `load_fusion_run` builds the network of a run folder.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Mapping
from pathlib import Path

import torch
from torch import nn

from ..degradations import degradation_class
from ..errors import BIGPriorError
from ..experiment import split_experiment_name
from ..run import Run, chosen_test_epoch, load_weights
from .options import FusionOptions

INPUT_SHIFT = 0.5  # the paper's networks see images in [-0.5, 0.5]
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
    """Fuses an observation x (C_x channels) and a prior g (3 channels), both in [0, 1].

    phi has 3 channels, is not squashed (no sigmoid or clamp, as in the paper), and is the per-pixel
    share of the output taken from the prior."""

    def __init__(self, observation_channels: int, layers: int = 17, extend_input: bool = False) -> None:
        super().__init__()
        self.observation_channels = observation_channels
        self.extend_input = extend_input
        in_channels = observation_channels + (3 if extend_input else 0)
        self.backbone = DnCNN(in_channels, out_channels=3, layers=layers)

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
        features = torch.cat((xs, gs), dim=1) if self.extend_input else xs
        phi = xs - self.backbone(features)
        return (1 - phi) * xs + phi * gs, phi

    def training_outputs(self, x: torch.Tensor, prior: torch.Tensor, gt: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(output, target, phi) for the training loss, output and target in the shifted domain.

        The paper's loss is MSE(out - 0.5, gt - 0.5) on the shifted tensors; MSE(out, gt) is the same
        number only up to float rounding (adding 0.5 back rounds), and rounding differences grow over
        an epoch's steps, so training on the shifted pair keeps every run bit for bit what it was."""
        out, phi = self.fuse_shifted(x - INPUT_SHIFT, prior - INPUT_SHIFT)
        return out, gt - INPUT_SHIFT, phi


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


def load_fusion_file(path: Path, observation_channels: int, backbone: str = "D", layers: int = 17,
                     extend_input: bool = False) -> BIGPriorFusion:
    """A fusion network from a state-dict file (the paper's layout, float32 or float16: the built-in
    files are float16), in float32 on the CPU, in eval mode."""
    model = build_fusion_model(observation_channels, backbone, layers, extend_input)
    state = load_weights(path)
    load_fusion_state_dict(model, {k: v.float() if v.is_floating_point() else v for k, v in state.items()}, str(path))
    return model.eval()


def load_fusion_run(folder: str | Path, epoch: int | None = None, device: torch.device = torch.device("cpu"),
                    flag: str = "") -> BIGPriorFusion:
    """The network of a fusion run folder at `epoch`; by default the epoch its `test_epoch_rule` picks
    if that checkpoint exists, else the last one saved. In eval mode on `device`."""
    run = Run.open(folder, flag)
    options = FusionOptions.load(run.folder)
    if epoch is None:
        saved = run.saved_epochs()
        if not saved:
            raise BIGPriorError(f"{flag}{run.folder}: no net_<epoch>.pth checkpoint in the run folder")
        chosen = chosen_test_epoch(options)
        epoch = chosen if chosen in saved else saved[-1]
    channels = degradation_class(split_experiment_name(options.experiment)[0]).observation_channels
    model = load_fusion_file(run.checkpoint(epoch), channels, options.backbone, options.dncnn_layers, options.extend_input)
    return model.to(device)
