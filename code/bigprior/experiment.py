"""The contract between the stages: where an experiment's files live and how they are read.

A workspace is a folder holding `data/`, `inter_data/`, `net_data/` and `cache/` (the paper ran
from the repository root, so the default workspace is the current directory). An experiment
`<task>_<dataset>` owns `inter_data/<experiment>/`:

    GT/{i}.png            clean image, RGB
    input/{i}.png|.npy    observation (grayscale PNG for col, float32 HxWx3 .npy for denblind, else RGB PNG)
    input/sigma.json      per-image noise level (denblind)
    mask/{i}.png          per-image mask, white = missing (inpvar)
    mGANoutput/{i}.png    generative prior, RGB
    mGANargs.txt          inversion settings
    OURoutput/{i}.png, {i}_phi.png   fused output and phi map of the test images
    <Baseline>output/{i}.png          a baseline's output of the test images (DnCNNoutput, Teleaoutput, ...)

Fusion runs live in `net_data/<experiment>_<ID>/`.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

import torch

from . import imageio
from .degradations import Degradation, degradation_class
from .errors import BIGPriorError

GT_DIR = "GT"
INPUT_DIR = "input"
PRIOR_DIR = "mGANoutput"
MASK_DIR = "mask"
OUTPUT_DIR = "OURoutput"
OOD_OUTPUT_DIR = "OUROODoutput"
METHOD_DIR_SUFFIX = "output"  # every method's images live in <Method>output/{i}.png (mGAN, OUR, baselines)
OOD_SUFFIX = "OOD"  # <Method>OODoutput: outputs on another experiment's data
SIGMA_FILE = "sigma.json"
INVERSION_ARGS_FILE = "mGANargs.txt"
FUSION_ARGS_FILE = "OURargs.txt"

PAPER_IMAGE_COUNT = 300  # images per experiment in the paper: 0..249 train, 250..299 test
PAPER_TRAIN_COUNT = 250


def workspace_root(root: str | os.PathLike | None = None) -> Path:
    """The workspace: `root` if given, else $BIGPRIOR_ROOT, else the current directory."""
    return Path(root or os.environ.get("BIGPRIOR_ROOT") or os.getcwd()).resolve()


def split_experiment_name(name: str) -> tuple[str, str]:
    task, sep, dataset = name.partition("_")
    if not sep or not dataset:
        raise BIGPriorError(f"--experiment {name!r}: expected <task>_<dataset>, e.g. col_bedroom")
    degradation_class(task)  # raises for an unknown task
    return task, dataset


@dataclass(frozen=True)
class Experiment:
    name: str
    root: Path

    def __post_init__(self) -> None:
        split_experiment_name(self.name)

    @property
    def task(self) -> str:
        return split_experiment_name(self.name)[0]

    @property
    def dataset(self) -> str:
        return split_experiment_name(self.name)[1]

    @property
    def degradation(self) -> type[Degradation]:
        return degradation_class(self.task)

    @property
    def dir(self) -> Path:
        return self.root / "inter_data" / self.name

    def gt_path(self, i: int) -> Path:
        return self.dir / GT_DIR / f"{i}.png"

    def input_path(self, i: int) -> Path:
        return self.dir / INPUT_DIR / f"{i}{self.degradation.observation_suffix}"

    def prior_path(self, i: int) -> Path:
        return self.dir / PRIOR_DIR / f"{i}.png"

    def mask_path(self, i: int) -> Path:
        return self.dir / MASK_DIR / f"{i}.png"

    @property
    def sigma_path(self) -> Path:
        return self.dir / INPUT_DIR / SIGMA_FILE

    def output_dir(self, ood: bool = False) -> Path:
        return self.dir / (OOD_OUTPUT_DIR if ood else OUTPUT_DIR)

    def method_dir(self, method: str) -> Path:
        """Outputs of a method, e.g. `DnCNN` -> `DnCNNoutput/` (`mGAN` and `OUR` are the prior and BIGPrior)."""
        return self.dir / f"{method}{METHOD_DIR_SUFFIX}"

    def baseline_methods(self) -> list[str]:
        """Methods other than the prior and BIGPrior with outputs here (`<Method>output/`), sorted."""
        if not self.dir.is_dir():
            return []
        own = {PRIOR_DIR, OUTPUT_DIR, OOD_OUTPUT_DIR}
        return sorted(
            p.name.removesuffix(METHOD_DIR_SUFFIX)
            for p in self.dir.iterdir()
            if p.is_dir() and p.name.endswith(METHOD_DIR_SUFFIX) and p.name not in own
            and not p.name.endswith(OOD_SUFFIX + METHOD_DIR_SUFFIX) and p.name != METHOD_DIR_SUFFIX
        )

    # -- reading --------------------------------------------------------------------------------
    def image_count(self) -> int:
        """Number of images: GT/0.png .. GT/{N-1}.png must all exist."""
        gt_dir = self.dir / GT_DIR
        if not gt_dir.is_dir():
            raise BIGPriorError(f"{gt_dir}: folder not found (has the inversion stage run for {self.name}?)")
        indices = sorted(int(p.stem) for p in gt_dir.glob("*.png") if p.stem.isdigit())
        if not indices:
            raise BIGPriorError(f"{gt_dir}: no images named <index>.png")
        if indices != list(range(len(indices))):
            missing = sorted(set(range(indices[-1] + 1)) - set(indices))
            raise BIGPriorError(f"{self.gt_path(missing[0])}: file not found (GT indices must run from 0 without gaps)")
        return len(indices)

    def read_gt(self, i: int) -> torch.Tensor:
        return imageio.hwc_to_chw(imageio.float_from_uint8(imageio.read_rgb(self.gt_path(i))))

    def read_prior(self, i: int) -> torch.Tensor:
        return imageio.hwc_to_chw(imageio.float_from_uint8(imageio.read_rgb(self.prior_path(i))))

    def read_observation(self, i: int) -> torch.Tensor:
        cls = self.degradation
        x = cls.read_observation(self.input_path(i))
        if x.shape[0] != cls.observation_channels:
            raise BIGPriorError(f"{self.input_path(i)}: expected {cls.observation_channels} channel(s), got {x.shape[0]}")
        return x

    def read_triplet(self, i: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(observation, ground truth, prior) of image i as CxHxW float32 in [0, 1], checked."""
        x, gt, prior = self.read_observation(i), self.read_gt(i), self.read_prior(i)
        if x.shape[-2:] != gt.shape[-2:]:
            raise BIGPriorError(f"{self.input_path(i)}: size {_size(x)} differs from {self.gt_path(i)} ({_size(gt)})")
        if prior.shape[-2:] != gt.shape[-2:]:
            raise BIGPriorError(f"{self.prior_path(i)}: size {_size(prior)} differs from {self.gt_path(i)} ({_size(gt)})")
        return x, gt, prior


def _size(t: torch.Tensor) -> str:
    return f"{t.shape[-1]}x{t.shape[-2]}"


# ---------------------------------------------------------------------------------------------
# fusion runs


def run_dir(root: Path, experiment: str, run_id: int | str) -> Path:
    return root / "net_data" / f"{experiment}_{run_id}"


def existing_run_ids(root: Path, experiment: str) -> list[int]:
    return numbered_dir_ids(root / "net_data", experiment)


def create_run_dir(root: Path, experiment: str) -> Path:
    """Create `net_data/<experiment>_<ID>` with the next free ID (max + 1); never reuses a folder."""
    return create_numbered_dir(root / "net_data", experiment)


def numbered_dir_ids(parent: Path, prefix: str) -> list[int]:
    """The IDs of the folders `<parent>/<prefix>_<ID>`, sorted."""
    pattern = re.compile(rf"^{re.escape(prefix)}_(\d+)$")
    if not parent.is_dir():
        return []
    return sorted(int(m.group(1)) for p in parent.iterdir() if p.is_dir() and (m := pattern.match(p.name)))


def create_numbered_dir(parent: Path, prefix: str) -> Path:
    """Create `<parent>/<prefix>_<ID>` with the next free ID (max + 1); never reuses a folder, even
    when several processes start at once."""
    parent.mkdir(parents=True, exist_ok=True)
    ids = numbered_dir_ids(parent, prefix)
    run_id = ids[-1] + 1 if ids else 0
    while True:
        path = parent / f"{prefix}_{run_id}"
        try:
            path.mkdir()
            return path
        except FileExistsError:
            run_id += 1
