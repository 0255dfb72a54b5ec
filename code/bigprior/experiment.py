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

Training runs live in `net_data/<prefix><experiment>_<ID>/` (fusion: no prefix; the DnCNN baseline:
`DnCNN_`); the workspace of a run folder is two levels up. A run's test writes the metric files below
(per test image, in test-image order) and `metrics.json`.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

import torch

from . import imageio
from .degradations import Degradation, degradation_class, read_mask
from .errors import BIGPriorError

GT_DIR = "GT"
INPUT_DIR = "input"
PRIOR_DIR = "mGANoutput"
MASK_DIR = "mask"
OUTPUT_DIR = "OURoutput"
OOD_OUTPUT_DIR = "OUROODoutput"
METHOD_DIR_SUFFIX = "output"  # every method's images live in <Method>output/{i}.png (mGAN, OUR, baselines)
SHARES_SUFFIX = "_shares.png"  # OURoutput/{i}_shares.png of a multi-source fusion: where each pixel comes from
SHARES_ARRAY_SUFFIX = "_shares.npy"  # ... and {i}_shares.npy: each source's share (S x H x W x 1, float16)
OOD_SUFFIX = "OOD"  # <Method>OODoutput: outputs on another experiment's data
SIGMA_FILE = "sigma.json"
INTER_DATA_DIR = "inter_data"
NET_DATA_DIR = "net_data"
INVERSION_ARGS_FILE = "mGANargs.txt"
FUSION_ARGS_FILE = "OURargs.txt"

# per-image metric files of a run's test (the release's names) and the rest of a run folder
MSE_FILE = "MSE.npy"  # MSE of the unclamped fused output in [0, 1]
PRIOR_MSE_FILE = "MSE_GAN.npy"  # MSE of the generative prior
PHI_MEAN_FILE = "Mphi.npy"  # mean of phi
AUC_FILE = "AUC.npy"  # colorization AuC of the fused output
PRIOR_AUC_FILE = "AUC_GAN.npy"  # colorization AuC of the prior
METRICS_FILE = "metrics.json"  # this project's summary of a test
LOSS_FILE = "train_loss.npy"  # mean training loss per epoch
STATE_FILE = "train_state.pth"  # what resuming needs besides the checkpoints (optimizer, scheduler, loss log)

PAPER_IMAGE_COUNT = 300  # images per experiment in the paper: 0..249 train, 250..299 test
PAPER_TRAIN_COUNT = 250


def workspace_root(root: str | os.PathLike | None = None) -> Path:
    """The workspace: `root` if given, else $BIGPRIOR_ROOT, else the current directory."""
    return Path(root or os.environ.get("BIGPRIOR_ROOT") or os.getcwd()).resolve()


def split_experiment_name(name: str) -> tuple[str, str]:
    task, sep, dataset = name.partition("_")
    if not sep or not dataset:
        raise BIGPriorError(f"--experiment {name!r}: expected <task>_<dataset>, e.g. col_bedroom")
    try:
        degradation_class(task)
    except BIGPriorError as exc:
        raise BIGPriorError(f"experiment {name!r}: {exc}") from None
    return task, dataset


@dataclass(frozen=True)
class Experiment:
    name: str
    root: Path

    def __post_init__(self) -> None:
        split_experiment_name(self.name)

    @classmethod
    def from_dir(cls, path: str | os.PathLike, flag: str = "") -> Experiment:
        """The experiment whose folder is `path` (<workspace>/inter_data/<task>_<dataset>); errors name
        `path` after `flag` (e.g. "-o/--outputs ")."""
        folder = Path(path).resolve()
        if folder.parent.name != INTER_DATA_DIR:
            raise BIGPriorError(
                f"{flag}{path}: expected an experiment folder <workspace>/{INTER_DATA_DIR}/<task>_<dataset>, "
                f"e.g. {INTER_DATA_DIR}/col_bedroom"
            )
        return cls(folder.name, folder.parent.parent)

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
        return self.root / INTER_DATA_DIR / self.name

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

    def split(self, train_count: int) -> tuple[list[int], list[int]]:
        """(train, test) image indices: 0..train_count-1 train, train_count..N-1 test (the paper: 0..249
        and 250..299)."""
        count = self.image_count()
        if train_count < 1:
            raise BIGPriorError(f"--train_count must be at least 1, got {train_count}")
        if count <= train_count:
            raise BIGPriorError(
                f"--train_count {train_count}: {self.dir / GT_DIR} holds only {count} images, "
                f"so no test images would remain (need more than {train_count})"
            )
        return list(range(train_count)), list(range(train_count, count))

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

    def read_mask(self, i: int, height: int, width: int) -> torch.Tensor:
        """The mask of image i (1xHxW, 1 = missing): its mask/{i}.png, else the task's fixed mask (the
        centre hole); an error where masks vary per image and the file is missing."""
        path = self.mask_path(i)
        if path.is_file():
            mask = read_mask(path)
        else:
            mask = self.degradation.default_mask(height, width)
            if mask is None:
                raise BIGPriorError(f"{path}: mask file not found ({self.task} masks differ per image)")
        if tuple(mask.shape[-2:]) != (height, width):
            raise BIGPriorError(f"{path}: mask is {mask.shape[-1]}x{mask.shape[-2]}, the image {width}x{height}")
        return mask


# ---------------------------------------------------------------------------------------------
# run folders


def run_dir(root: Path, experiment: str, run_id: int | str) -> Path:
    """`net_data/<experiment>_<ID>` (a baseline prefixes its runs' `experiment`, e.g. `DnCNN_denblind_bedroom`)."""
    return root / NET_DATA_DIR / f"{experiment}_{run_id}"


def run_workspace(folder: str | os.PathLike) -> Path:
    """The workspace of a run folder `<workspace>/net_data/<name>_<ID>`."""
    return Path(folder).resolve().parent.parent


def split_run_name(name: str) -> tuple[str, int] | None:
    """`<prefix>_<ID>` -> (prefix, ID), e.g. `col_bedroom_3` -> ("col_bedroom", 3); None for other names."""
    match = _NUMBERED.match(name)
    return (match["prefix"], int(match["id"])) if match else None


_NUMBERED = re.compile(r"^(?P<prefix>.+)_(?P<id>\d+)$")


def numbered_dir_ids(parent: Path, prefix: str) -> list[int]:
    """The IDs of the folders `<parent>/<prefix>_<ID>`, sorted."""
    if not parent.is_dir():
        return []
    named = [(split_run_name(p.name), p) for p in parent.iterdir()]
    return sorted(parsed[1] for parsed, p in named if parsed and parsed[0] == prefix and p.is_dir())


def create_numbered_dir(parent: Path, prefix: str) -> Path:
    """Create `<parent>/<prefix>_<ID>` with the next free ID (max + 1); never reuses a folder, even
    when several processes start at once (creating the folder is the atomic claim of its ID)."""
    imageio.check_output_folder(parent, "")
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
