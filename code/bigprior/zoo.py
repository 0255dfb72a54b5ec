"""The model zoo: every weights file the project reads, named once, and where each is looked for.

Nothing here is resolved relative to the source checkout, so an installed package (`pip install .`)
finds the same files as a checkout. A named file is looked for in, in order:

1. `--weights_dir` (commands that load weights take it), else `$BIGPRIOR_WEIGHTS`;
2. `cache/weights/` of the current folder (the workspace's `cache/`, as the top-level layout promises);
3. the release's own places, relative to the current folder or the user's caches: mGANprior's
   `code/mganprior/models/pretrain/pytorch/` (converted PGGAN files), `$XDG_CACHE_HOME/torch/checkpoints/`
   (the release's advice for VGG16) and torch hub's `checkpoints/` (torchvision's downloads).

The built-in default models are package data (`assets/default/`), installed with the package.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from .errors import BIGPriorError

WEIGHTS_ENV = "BIGPRIOR_WEIGHTS"
WORKSPACE_WEIGHTS_DIR = Path("cache") / "weights"
RELEASE_PGGAN_DIR = Path("code") / "mganprior" / "models" / "pretrain" / "pytorch"

ASSETS_DIR = Path(__file__).resolve().parent / "assets" / "default"
DEFAULT_GENERATOR = ASSETS_DIR / "pggan_lsun64.pth"  # the project's own generator (assets/default/MODEL_CARD.md)
DEFAULTS_FILE = ASSETS_DIR / "defaults.json"

VGG16_FILE = "vgg16-397923af.pth"  # torchvision's ImageNet VGG16 (the inversion's perceptual loss)
VGG16_URL = f"https://download.pytorch.org/models/{VGG16_FILE}"
ALEXNET_FILE = "alexnet-owt-7be5be79.pth"  # torchvision's ImageNet AlexNet (LPIPS features)
LPIPS_LINEAR_FILE = "alex.pth"  # LPIPS's linear layers (the `lpips` package's weights/v<version>/alex.pth)

PGGAN_PUBLISHED = (
    "the converted .pth files are published with mGANprior (https://github.com/genforce/mganprior, "
    "see its models/README) and the official TensorFlow pickles with "
    "https://github.com/tkarras/progressive_growing_of_gans"
)
STYLEGAN2_PUBLISHED = (
    "StyleGAN2-ADA network pickles are published at "
    "https://nvlabs-fi-cdn.nvidia.com/stylegan2-ada-pytorch/pretrained/ (https://github.com/NVlabs/stylegan2-ada-pytorch)"
)


@dataclass(frozen=True)
class ZooEntry:
    """A published generator: its family, resolution and the file names it is distributed under."""

    family: str  # "pggan" or "stylegan2"
    resolution: int
    files: tuple[str, ...]  # preferred first: the converted file (`bigprior convert-*`), then the official pickle

    @property
    def published(self) -> str:
        return PGGAN_PUBLISHED if self.family == "pggan" else STYLEGAN2_PUBLISHED


_LSUN_256 = (
    "bedroom", "livingroom", "diningroom", "kitchen", "churchoutdoor", "tower", "bridge", "restaurant",
    "classroom", "conferenceroom", "person", "cat", "dog", "bird", "horse", "sheep", "cow", "car",
    "bicycle", "motorbike", "bus", "train", "boat", "airplane", "bottle", "chair", "pottedplant",
    "tvmonitor", "diningtable", "sofa",
)
# NVlabs' StyleGAN2-ADA pickles (cifar10 is conditional: 10 classes, give a class index)
_STYLEGAN2_ADA = {"ffhq": 1024, "metfaces": 1024, "afhqcat": 512, "afhqdog": 512, "afhqwild": 512, "brecahad": 512,
                  "cifar10": 32}

MODEL_ZOO: dict[str, ZooEntry] = {
    "pggan_celebahq": ZooEntry("pggan", 1024, ("pggan_celebahq1024_generator.pth", "karras2018iclr-celebahq-1024x1024.pkl")),
    **{f"pggan_{name}": ZooEntry("pggan", 256, (f"pggan_{name}256_generator.pth", f"karras2018iclr-lsun-{name}-256x256.pkl"))
       for name in _LSUN_256},
    **{f"stylegan2_{name}": ZooEntry("stylegan2", resolution, (f"stylegan2_{name}{resolution}.pth", f"{name}.pkl"))
       for name, resolution in _STYLEGAN2_ADA.items()},
}


def add_weights_dir_flag(parser: argparse.ArgumentParser) -> None:
    """The flag of every command that loads published weights."""
    parser.add_argument("--weights_dir", default=None,
                        help=f"folder of downloaded weights files (default: ${WEIGHTS_ENV}, then ./{WORKSPACE_WEIGHTS_DIR}/)")


def weights_dirs(weights_dir: str | os.PathLike | None = None) -> list[Path]:
    """The folders a named weights file is looked for in, in order (see the module docstring)."""
    first = weights_dir or os.environ.get(WEIGHTS_ENV)
    folders = [Path(first)] if first else []
    folders += [WORKSPACE_WEIGHTS_DIR.resolve(), RELEASE_PGGAN_DIR.resolve()]
    if os.environ.get("XDG_CACHE_HOME"):
        folders.append(Path(os.environ["XDG_CACHE_HOME"]) / "torch" / "checkpoints")
    folders.append(Path(torch.hub.get_dir()) / "checkpoints")
    return folders


def find_weights(names: Sequence[str], weights_dir: str | os.PathLike | None = None) -> Path | None:
    """The first existing file among `names` (in preference order) in the weights folders, or None."""
    folders = weights_dirs(weights_dir)
    for name in names:
        for folder in folders:
            if (folder / name).is_file():
                return folder / name
    return None


def where_to_put(name: str, weights_dir: str | os.PathLike | None = None) -> str:
    """The end of a not-found message: the folders searched and where to put the file."""
    folders = weights_dirs(weights_dir)
    return f"looked in {', '.join(str(f) for f in folders)}; put {name} in {folders[0]} (or set ${WEIGHTS_ENV})"


def model_for_file(name: str) -> str | None:
    """The zoo name whose published file is called `name`, if any."""
    return next((model for model, entry in MODEL_ZOO.items() if name in entry.files), None)


def missing_weights_message(path: Path) -> str:
    """What to tell a user whose generator file is not there: the path, the model, where to get it."""
    model = model_for_file(path.name)
    if model is None:
        return f"{path}: generator weights not found"
    return f"{path}: generator weights not found (model {model}); {MODEL_ZOO[model].published}"


def resolve_generator_path(gan_model: str | None = None, gan_weights: str | None = None,
                           weights_dir: str | os.PathLike | None = None) -> Path:
    """The weights file of `--gan_weights` (any path) or of `--gan_model` (a zoo name, looked up in the
    weights folders); neither gives the built-in default generator."""
    if gan_weights:
        path = Path(gan_weights)
        if not path.is_file():
            raise BIGPriorError(f"--gan_weights {missing_weights_message(path)}")
        return path
    if not gan_model:
        return DEFAULT_GENERATOR
    if gan_model not in MODEL_ZOO:
        raise BIGPriorError(f"--gan_model {gan_model!r}: unknown model; known: {', '.join(sorted(MODEL_ZOO))}")
    entry = MODEL_ZOO[gan_model]
    found = find_weights(entry.files, weights_dir)
    if found is None:
        raise BIGPriorError(f"--gan_model {gan_model}: weights {' or '.join(entry.files)} not found; "
                            f"{where_to_put(entry.files[0], weights_dir)} ({entry.published})")
    return found


def find_vgg16_weights(explicit: str | os.PathLike | None = None, weights_dir: str | os.PathLike | None = None) -> Path:
    """torchvision's VGG16 file: `--vgg_weights`, else the weights folders."""
    if explicit:
        path = Path(explicit)
        if not path.is_file():
            raise BIGPriorError(f"--vgg_weights {path}: file not found")
        return path
    found = find_weights([VGG16_FILE], weights_dir)
    if found is None:
        raise BIGPriorError(f"the VGG loss needs torchvision's {VGG16_FILE} ({VGG16_URL}); {where_to_put(VGG16_FILE, weights_dir)}; "
                            "or give --vgg_weights <file>, or run with --vgg_lambda 0")
    return found


def find_lpips_weights(folder: str | os.PathLike | None = None, weights_dir: str | os.PathLike | None = None,
                       version: str = "0.0") -> tuple[Path, Path]:
    """(AlexNet file, LPIPS linear file). With `folder` (`--lpips_weights`), both are taken from it;
    else each is the first found in the weights folders, the linear layers then in the installed `lpips`
    package's `weights/v<version>/`; a file found nowhere is returned at its first place (the caller
    names it in its error)."""
    if folder:
        return Path(folder) / ALEXNET_FILE, Path(folder) / LPIPS_LINEAR_FILE
    first = weights_dirs(weights_dir)[0]
    alexnet = find_weights([ALEXNET_FILE], weights_dir) or first / ALEXNET_FILE
    linear = find_weights([LPIPS_LINEAR_FILE], weights_dir)
    if linear is None:
        spec = importlib.util.find_spec("lpips")
        package = Path(spec.origin).parent if spec and spec.origin else None
        packaged = package / "weights" / f"v{version}" / LPIPS_LINEAR_FILE if package else None
        linear = packaged if packaged is not None and packaged.is_file() else first / LPIPS_LINEAR_FILE
    return alexnet, linear
