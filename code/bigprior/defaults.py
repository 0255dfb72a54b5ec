"""The built-in default: the project's own generator and one fusion network per task.

Everything lives in `assets/default/`: the generator (`pggan_lsun64.pth`, see MODEL_CARD.md), the
fusion networks (`fusion_<task>.pth`, the paper's state-dict layout, float16) and `defaults.json`,
which records how their priors were made (inversion settings, degradation parameters, the resolution
of the priors and of the images the fusion network was trained on) so that `restore` and the demo
invert a new image exactly as the fusion network's training priors were inverted. This module reads
`defaults.json` and writes it (`write_defaults`, used by the reproduction scripts in results/).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import torch

from . import imageio
from .baselines.classical import ClassicalMethod, method_of_record
from .degradations import Degradation, degradation_class
from .errors import BIGPriorError
from .fusion.loading import load_fusion_file
from .fusion.networks import BIGPriorFusion
from .fusion.spec import FusionSpec, TrainingScale
from .zoo import DEFAULTS_FILE
from .inversion.stage import InversionSettings



@dataclass(frozen=True)
class TaskDefault:
    """How the built-in default handles one task (an experiment prefix: col, inpcrop, inpvar, denblind)."""

    task: str
    inversion: InversionSettings
    degradation: dict[str, Any]  # the task's degradation settings (`Degradation.settings()`)
    fusion_file: Path
    spec: FusionSpec  # the fusion network, as trained
    scale: TrainingScale  # its training images' side and their priors' (> : priors were enlarged to them)
    classical: dict[str, dict[str, Any]] = field(default_factory=dict)  # the classical sources' records, by name
    provenance: dict[str, Any] = field(default_factory=dict)  # run, epoch, test PSNR... (written back as read)

    def make_degradation(self) -> Degradation:
        return degradation_class(self.task).from_settings(self.degradation)

    def fusion_model(self, device: torch.device) -> BIGPriorFusion:
        if not self.fusion_file.is_file():
            raise BIGPriorError(f"{self.fusion_file}: the built-in fusion network of task {self.task} is missing")
        return load_fusion_file(self.fusion_file, self.spec).to(device)

    def classical_methods(self) -> dict[str, ClassicalMethod]:
        """The classical methods that make the fusion network's classical sources (multi-source fusion)."""
        return {name: method_of_record(record, f"{DEFAULTS_FILE.name}: {self.task} source {name}")
                for name, record in self.classical.items()}

    def to_json(self, folder: Path) -> dict[str, Any]:
        """The task's entry of defaults.json; the fusion file is named relative to `folder`."""
        network = self.spec.record()
        return {
            "inversion": asdict(self.inversion),
            "degradation": dict(self.degradation),
            "fusion": {"file": self.fusion_file.relative_to(folder).as_posix(), "backbone": network.pop("backbone"),
                       "dncnn_layers": network.pop("layers"), **network,
                       "prior_resolution": self.scale.prior_resolution, "image_resolution": self.scale.image_resolution,
                       **({"classical": self.classical} if self.classical else {}), **self.provenance},
        }

    @classmethod
    def from_json(cls, task: str, entry: dict[str, Any], folder: Path) -> TaskDefault:
        known = {f.name for f in fields(InversionSettings)}
        fusion = dict(entry["fusion"])
        spec_keys = {f.name for f in fields(FusionSpec)} - {"observation_channels", "layers"}
        own = {"file", "dncnn_layers", "prior_resolution", "image_resolution", "classical", *spec_keys}
        channels = degradation_class(task).observation_channels  # an unknown task is an error naming it
        return cls(
            task=task,
            inversion=InversionSettings(**{k: v for k, v in entry["inversion"].items() if k in known}),
            degradation=dict(entry.get("degradation", {})),
            fusion_file=folder / fusion["file"],
            # files written before the backbone and phi options hold the paper's (the spec's defaults)
            spec=FusionSpec(observation_channels=channels, layers=int(fusion["dncnn_layers"]),
                            **{k: tuple(fusion[k]) if k == "sources" else fusion[k] for k in spec_keys if k in fusion}),
            scale=TrainingScale(image_resolution=int(fusion["image_resolution"]),
                                prior_resolution=int(fusion["prior_resolution"])),
            classical=dict(fusion.get("classical", {})),
            provenance={k: v for k, v in fusion.items() if k not in own},
        )


@dataclass(frozen=True)
class BuiltinDefault:
    """The generator file and the per-task defaults of one defaults.json."""

    generator_file: Path
    tasks: dict[str, TaskDefault]

    def task(self, task: str) -> TaskDefault:
        if task not in self.tasks:
            raise BIGPriorError(f"the built-in default has no fusion network for task {task} (has {', '.join(self.tasks)})")
        return self.tasks[task]


def load_defaults(settings_file: Path = DEFAULTS_FILE) -> BuiltinDefault:
    """The built-in default as `defaults.json` describes it (files relative to its folder)."""
    if not settings_file.is_file():
        raise BIGPriorError(f"{settings_file}: the built-in default's settings are missing (see results/reduced_scale/)")
    data = imageio.read_json(settings_file)
    folder = settings_file.parent
    try:
        tasks = {task: TaskDefault.from_json(task, entry, folder) for task, entry in data["tasks"].items()}
        return BuiltinDefault(folder / data["generator"], tasks)
    except (KeyError, TypeError, ValueError) as exc:
        raise BIGPriorError(f"{settings_file}: malformed built-in settings ({exc.__class__.__name__}: {exc})") from exc


def task_defaults(settings_file: Path = DEFAULTS_FILE) -> dict[str, TaskDefault]:
    """The built-in default of every task, from `defaults.json`."""
    return load_defaults(settings_file).tasks


def write_defaults(generator_file: Path, tasks: dict[str, TaskDefault], settings_file: Path = DEFAULTS_FILE) -> dict:
    """Write defaults.json (atomically); every file it names must lie in its folder."""
    folder = settings_file.parent
    settings = {"generator": generator_file.relative_to(folder).as_posix(),
                "tasks": {task: default.to_json(folder) for task, default in tasks.items()}}
    imageio.write_json(settings_file, settings)
    return settings
