"""The built-in default: the project's own generator and one fusion network per task.

Everything lives in `assets/default/`: the generator (`pggan_lsun64.pth`, see MODEL_CARD.md), the
fusion networks (`fusion_<task>.pth`, the paper's state-dict layout, float16) and `defaults.json`,
which records how their priors were made (inversion settings, degradation parameters) so that
`restore` and the demo invert a new image exactly as the fusion network's training priors were
inverted. `defaults.json` is written by the reduced-scale reproduction (results/reduced_scale/).
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path

import torch

from . import imageio
from .degradations import BlindAWGN, Colorization, Degradation, Inpainting, RandomMaskInpainting
from .errors import BIGPriorError
from .fusion.model import BIGPriorFusion, load_fusion_file
from .zoo import DEFAULTS_FILE
from .inversion.stage import InversionSettings



@dataclass(frozen=True)
class TaskDefault:
    """How the built-in default handles one task (an experiment prefix: col, inpcrop, inpvar, denblind)."""

    task: str
    inversion: InversionSettings
    degradation: dict  # keyword arguments of the task's degradation class
    fusion_file: Path
    dncnn_layers: int
    extend_input: bool

    def make_degradation(self) -> Degradation:
        classes = {"col": Colorization, "inpcrop": Inpainting, "inpvar": RandomMaskInpainting, "denblind": BlindAWGN}
        return classes[self.task](**self.degradation)

    def fusion_model(self, observation_channels: int, device: torch.device) -> BIGPriorFusion:
        if not self.fusion_file.is_file():
            raise BIGPriorError(f"{self.fusion_file}: the built-in fusion network of task {self.task} is missing")
        model = load_fusion_file(self.fusion_file, observation_channels, layers=self.dncnn_layers, extend_input=self.extend_input)
        return model.to(device)


def task_defaults(settings_file: Path = DEFAULTS_FILE) -> dict[str, TaskDefault]:
    """The built-in default of every task, from `defaults.json`."""
    if not settings_file.is_file():
        raise BIGPriorError(f"{settings_file}: the built-in default's settings are missing (see results/reduced_scale/)")
    data = imageio.read_json(settings_file)
    known = {f.name for f in fields(InversionSettings)}
    result = {}
    for task, entry in data["tasks"].items():
        result[task] = TaskDefault(
            task=task,
            inversion=InversionSettings(**{k: v for k, v in entry["inversion"].items() if k in known}),
            degradation=dict(entry.get("degradation", {})),
            fusion_file=settings_file.parent / entry["fusion"]["file"],
            dncnn_layers=int(entry["fusion"]["dncnn_layers"]),
            extend_input=bool(entry["fusion"]["extend_input"]),
        )
    return result
