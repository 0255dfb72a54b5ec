"""Fusion checkpoints and run folders: the paper's state-dict layout, the built-in files, and a run's
network with its options, read once.

State dicts use the paper's keys: the release wrapped its model in `nn.DataParallel`, so its files
hold `module.backbone.dncnn.{i}.*`. `paper_state_dict` writes that layout and
`load_fusion_state_dict` reads it (or the same keys without `module.`), so checkpoints move freely
between this project and the paper's code.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import torch

from ..errors import BIGPriorError
from ..experiment import Experiment, run_workspace
from ..run import Run, chosen_test_epoch, load_weights, read_holdout_scores
from .networks import BIGPriorFusion, build_fusion_model
from .options import FusionOptions
from .spec import FusionSpec, TrainingScale

PAPER_PREFIX = "module."


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
                f"{tuple(value.shape)} (wrong task, --backbone, --dncnn_layers or --extend_input?)"
            )
    for key in stripped:
        if key not in own:
            raise BIGPriorError(f"{source}: unexpected key {PAPER_PREFIX + key}")
    model.load_state_dict(stripped)


def load_fusion_file(path: Path, spec: FusionSpec) -> BIGPriorFusion:
    """A fusion network of `spec` from a state-dict file (the paper's layout, float32 or float16: the
    built-in files are float16), in float32 on the CPU, in eval mode."""
    model = build_fusion_model(spec)
    state = load_weights(path)
    load_fusion_state_dict(model, {k: v.float() if v.is_floating_point() else v for k, v in state.items()}, str(path))
    return model.eval()


@dataclass
class LoadedFusion:
    """A fusion run's network at one epoch, with the run's options (read once) and training scale."""

    folder: Path
    epoch: int
    options: FusionOptions
    model: BIGPriorFusion
    scale: TrainingScale


def training_scale(options: FusionOptions, folder: Path) -> TrainingScale:
    """The sides of a run's training images and priors: as its OURargs.txt records them (runs trained
    since they are recorded), else from its experiment's mGANargs.txt `prior_resolution` and the size of
    GT/0.png (older runs), else unknown."""
    if options.prior_resolution:
        return TrainingScale(image_resolution=options.image_resolution or options.prior_resolution,
                             prior_resolution=options.prior_resolution)
    return TrainingScale.of_experiment(Experiment(options.experiment, run_workspace(folder)))


def load_fusion_run(folder: str | Path, epoch: int | None = None, device: torch.device = torch.device("cpu"),
                    flag: str = "") -> LoadedFusion:
    """The network of a fusion run folder at `epoch`, with the run's options (backbone, phi activation,
    self-ensemble); by default the epoch its `test_epoch_rule` picks if that checkpoint exists, else
    the last one saved. In eval mode on `device`."""
    run = Run.open(folder, flag)
    options = FusionOptions.load(run.folder)
    if epoch is None:
        saved = run.saved_epochs()
        if not saved:
            raise BIGPriorError(f"{flag}{run.folder}: no net_<epoch>.pth checkpoint in the run folder")
        chosen = chosen_test_epoch(options, read_holdout_scores(run.folder))
        epoch = chosen if chosen in saved else saved[-1]
    model = load_fusion_file(run.checkpoint(epoch), options.spec())
    model.self_ensemble = options.self_ensemble
    return LoadedFusion(run.folder, epoch, options, model.to(device), training_scale(options, run.folder))
