"""Names of the published PGGAN generators (`--gan_model pggan_bedroom`) and where their files go.

The converted PyTorch files are the ones mGANprior and the BIGPrior release load; they were
converted (by the genforce / mGANprior authors) from the official TensorFlow pickles of
https://github.com/tkarras/progressive_growing_of_gans.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import BIGPriorError

PRETRAINED_DIR = Path(__file__).resolve().parents[2] / "mganprior" / "models" / "pretrain" / "pytorch"
# The project's own generator, trained by `bigprior train-gan` (see assets/default/MODEL_CARD.md).
DEFAULT_GENERATOR = Path(__file__).resolve().parents[1] / "assets" / "default" / "pggan_lsun64.pth"
WHERE_PUBLISHED = (
    "the converted .pth files are published with mGANprior (https://github.com/genforce/mganprior, "
    "see its models/README) and the official TensorFlow pickles with "
    "https://github.com/tkarras/progressive_growing_of_gans"
)

_LSUN_256 = [
    "bedroom", "livingroom", "diningroom", "kitchen", "churchoutdoor", "tower", "bridge", "restaurant",
    "classroom", "conferenceroom", "person", "cat", "dog", "bird", "horse", "sheep", "cow", "car",
    "bicycle", "motorbike", "bus", "train", "boat", "airplane", "bottle", "chair", "pottedplant",
    "tvmonitor", "diningtable", "sofa",
]

MODEL_ZOO: dict[str, dict] = {
    "pggan_celebahq": {"file": "pggan_celebahq1024_generator.pth", "resolution": 1024,
                       "official": "karras2018iclr-celebahq-1024x1024.pkl"},
    **{
        f"pggan_{name}": {
            "file": f"pggan_{name}256_generator.pth",
            "resolution": 256,
            "official": f"karras2018iclr-lsun-{name}-256x256.pkl",
        }
        for name in _LSUN_256
    },
}


def model_for_file(name: str) -> str | None:
    """The zoo name whose converted or official file is called `name`, if any."""
    for model, entry in MODEL_ZOO.items():
        if name in (entry["file"], entry["official"]):
            return model
    return None


def missing_weights_message(path: Path) -> str:
    """What to tell a user whose generator file is not there: the path, the model, where to get it."""
    model = model_for_file(path.name)
    known = f" (model {model})" if model else ""
    return f"{path}: generator weights not found{known}; {WHERE_PUBLISHED}"


def resolve_generator_path(gan_model: str | None = None, gan_weights: str | None = None) -> Path:
    """The weights file of `--gan_weights` (any path) or of `--gan_model` (a zoo name).

    For a zoo name the converted file in PRETRAINED_DIR is used, else the official pickle there."""
    if gan_weights:
        path = Path(gan_weights)
        if not path.is_file():
            raise BIGPriorError(f"--gan_weights {missing_weights_message(path)}")
        return path
    if not gan_model:
        raise BIGPriorError("give --gan_model (e.g. pggan_bedroom) or --gan_weights <file>")
    if gan_model not in MODEL_ZOO:
        raise BIGPriorError(f"--gan_model {gan_model!r}: unknown model; known: {', '.join(sorted(MODEL_ZOO))}")
    entry = MODEL_ZOO[gan_model]
    for name in (entry["file"], entry["official"]):
        if (PRETRAINED_DIR / name).is_file():
            return PRETRAINED_DIR / name
    raise BIGPriorError(
        f"--gan_model {gan_model}: weights not found at {PRETRAINED_DIR / entry['file']}; put {entry['file']} "
        f"(or the official {entry['official']}) there ({WHERE_PUBLISHED})"
    )
