"""The peers as a stage of the experiment contract: `inter_data/<experiment>/<Method>output/{i}.png`
and `<Method>output/settings.json` (the method, its settings, the training images it was fitted on, the
package versions).

A folder holds the outputs of one setting only: a folder whose settings.json records other settings,
or that holds images without one, is refused before any work. Finished images are kept, so an
interrupted run resumes; settings.json is written with a folder's first image, so a run that fails
before writing any image leaves nothing behind.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ...progress import progress_bar
from ... import imageio
from ...degradations import Observation, read_mask
from ...errors import BIGPriorError
from ...experiment import Experiment
from .base import TUNING_SCRIPT, ClassicalMethod, package_versions

SETTINGS_FILE = "settings.json"
COMPARED = ("method", "settings", "train_indices")  # what must agree for outputs to share a folder


def image_mask(experiment: Experiment, index: int, height: int, width: int, fixed_mask: np.ndarray | None) -> np.ndarray:
    """HxW bool mask of image `index`, True = missing: its `mask/{i}.png` file when there is one, else
    `fixed_mask` (a --mask file), else the task's fixed mask (the centre hole of inpcrop)."""
    path = experiment.mask_path(index)
    if path.is_file():
        mask = read_mask(path)[0].numpy() > 0.5
    elif fixed_mask is not None:
        mask = fixed_mask
    else:
        default = experiment.degradation.default_mask(height, width)
        if default is None:
            raise BIGPriorError(f"{path}: mask file not found ({experiment.task} masks differ per image; or give --mask)")
        mask = default[0].numpy() > 0.5
    if mask.shape != (height, width):
        raise BIGPriorError(f"{path if path.is_file() else '--mask'}: mask is {mask.shape[1]}x{mask.shape[0]}, the image {width}x{height}")
    return mask


def read_observation(experiment: Experiment, index: int, fixed_mask: np.ndarray | None = None) -> Observation:
    """Image `index` of an experiment as its degradation's observation: the saved input (unclipped floats
    for denoising) and, for inpainting, its mask. The noise level is not read: the peers are blind."""
    x = experiment.read_observation(index)
    mask = None
    if experiment.degradation.has_mask:
        mask = torch.from_numpy(image_mask(experiment, index, x.shape[-2], x.shape[-1], fixed_mask).astype(np.float32))[None]
    return Observation(x=x, mask=mask)


@dataclass(frozen=True)
class PeerOutputs:
    """One method's output folder and what it records."""

    method: ClassicalMethod
    folder: Path
    train_indices: list[int] | None  # the images `fit` learnt from (None: the method learns nothing)

    def record(self) -> dict[str, Any]:
        if self.method.learns:
            provenance = {"fitted_on": "train_indices"}
        elif self.method.settings() == type(self.method)().settings():
            provenance = {"defaults_picked_by": TUNING_SCRIPT}
        else:
            provenance = {"settings_given": "bigprior peers --set (not the method's defaults)"}
        return {"method": self.method.name, "title": self.method.title, "settings": self.method.settings(),
                "train_indices": self.train_indices, **provenance, "versions": package_versions([type(self.method)])}

    def check(self, flag: str = "--methods") -> None:
        """Refuse a folder that cannot be written or that holds outputs of other settings."""
        imageio.check_output_folder(self.folder, f"{flag} {self.method.name}:")
        path = self.folder / SETTINGS_FILE
        if path.is_file():
            recorded = imageio.read_json(path)
            difference = _first_difference(recorded if isinstance(recorded, dict) else {}, self.record())
            if difference:
                raise BIGPriorError(f"{self.folder}: holds outputs of other settings ({difference}); move or remove the "
                                    "folder to write these, or ask for the recorded settings")
        elif self.folder.is_dir() and any(self.folder.glob("*.png")):
            raise BIGPriorError(f"{self.folder}: holds images but no {SETTINGS_FILE} (settings unknown); move or remove "
                                "the folder to write this method's outputs")

    def image(self, index: int) -> Path:
        return self.folder / f"{index}.png"

    def write(self, index: int, image: np.ndarray) -> None:
        """Write one output (HxWx3 float in [0, 1]) as 8 bits; settings.json goes with the first."""
        if not (self.folder / SETTINGS_FILE).is_file():
            imageio.write_json(self.folder / SETTINGS_FILE, self.record())
        imageio.write_png(self.image(index), imageio.uint8_from_float(image))


def _first_difference(recorded: dict[str, Any], asked: dict[str, Any]) -> str:
    """'' if the compared entries agree, else the first that differs, e.g. `settings.radius: 3 recorded, 5 asked`."""
    for key in COMPARED:
        old, new = recorded.get(key), asked.get(key)
        if old == new:
            continue
        if isinstance(old, dict) and isinstance(new, dict):
            name = next(k for k in sorted(set(old) | set(new)) if old.get(k) != new.get(k))
            return f"{key}.{name}: {_short(old.get(name))} recorded, {_short(new.get(name))} asked"
        return f"{key}: {_short(old)} recorded, {_short(new)} asked"
    return ""


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


@dataclass
class StageCount:
    written: int = 0
    kept: int = 0


def run_peers(experiment: Experiment, outputs: Sequence[PeerOutputs], indices: Sequence[int],
              fixed_mask: np.ndarray | None = None) -> dict[str, StageCount]:
    """Write every method's output of every image in `indices` (finished images are kept); returns the
    counts per method. The folders are checked first."""
    for output in outputs:
        output.check()
    counts = {output.method.name: StageCount() for output in outputs}
    names = ", ".join(counts)
    for index in progress_bar(indices, desc=f"peers {experiment.name} ({names})"):
        todo = [output for output in outputs if not output.image(index).is_file()]
        for output in outputs:
            counts[output.method.name].kept += output not in todo
        if not todo:
            continue
        observation = read_observation(experiment, index, fixed_mask)
        for output in todo:
            restored = output.method.restore(observation)
            if restored.shape != (*observation.x.shape[-2:], 3):
                raise RuntimeError(f"{output.method.name} returned {restored.shape} for a {tuple(observation.x.shape)} observation")
            output.write(index, restored)
            counts[output.method.name].written += 1
    return counts


def summary_line(experiment: Experiment, outputs: Sequence[PeerOutputs], counts: dict[str, StageCount]) -> str:
    """One line: per method, images written and kept, and where they are."""
    parts = [f"{name} {c.written} written, {c.kept} kept" for name, c in counts.items()]
    return f"peers {experiment.name}: {'; '.join(parts)} in {experiment.dir}/<Method>output/"


def method_of_record(record: Any, source: str) -> ClassicalMethod:
    """The method a settings record ({"method": name, "settings": {...}}, as settings.json and the built-in
    defaults keep it) describes; errors name `source`."""
    from .base import REGISTRY

    if not isinstance(record, dict) or record.get("method") not in REGISTRY:
        raise BIGPriorError(f"{source}: not the record of a classical method (expected \"method\" one of {', '.join(REGISTRY)})")
    cls = REGISTRY[record["method"]]
    cls.require(source)
    return cls.from_settings(record.get("settings", {}), source)


def method_of_outputs(experiment: Experiment, name: str) -> ClassicalMethod:
    """The method that made an experiment's `<name>output/` folder, rebuilt from its settings.json."""
    path = experiment.method_dir(name) / SETTINGS_FILE
    return method_of_record(imageio.read_json(path), str(path))
