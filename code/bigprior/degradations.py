"""The degradations of BIGPrior's tasks, one small object each, and the registry of tasks.

A degradation class owns everything that makes its task a task:
- its names: the experiment prefix (`task`: col, inpcrop, inpvar, denblind), the paper's inversion
  script (`release.name`: colorization, inpainting, denoising) and the restore verb (`verb`: colorize,
  inpaint, denoise);
- its command-line flags (declared as data in `flags`, read back by `from_flags`) and its settings in `defaults.json`
  (`from_settings`, `settings`);
- its forward model (`observe`: clean image -> observation), what a user's already degraded photo
  means (`observe_photo`), how an observation moves to the generator's pixel grid (`at_size`), what the
  inversion loss may see (`loss_view`), what it records (the noise level, the mask) and how its
  observation is stored in an experiment folder;
- how the raw GAN inversion becomes the saved prior (`finalize_prior`).
Everything else looks tasks up in the registry (`REGISTRY`, `degradation_class`, `script_degradation`,
`restore_class`) and asks the degradation; nothing outside this module asks which task it is running.

Scales: clean images and observations are float tensors in [0, 1] (CxHxW); `loss_view` is linear
per pixel, so it applies unchanged to the [-1, 1] images of the inversion.
"""

from __future__ import annotations

import argparse
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from PIL import Image

from . import imageio, resampling
from .errors import BIGPriorError
from .seeding import STREAM_MASK, STREAM_NOISE, STREAM_SIGMA, numpy_generator, torch_generator

LUMA_WEIGHTS = (0.299, 0.587, 0.114)  # ITU-R 601 luma, as the release's colorization loss and input
CENTER_MASK = "mask_center.png"  # the inpainting script's default -m/--mask: the paper's centre hole, built in


def luma(image: torch.Tensor) -> torch.Tensor:
    """(B,3,H,W) or (3,H,W) -> luma with one channel, Y = 0.299 R + 0.587 G + 0.114 B."""
    r, g, b = image.split(1, dim=-3)
    return r * LUMA_WEIGHTS[0] + g * LUMA_WEIGHTS[1] + b * LUMA_WEIGHTS[2]


@dataclass
class Observation:
    """What a degradation produced for one image (tensors CxHxW, x in [0, 1] unless noisy)."""

    x: torch.Tensor
    mask: torch.Tensor | None = None  # 1xHxW, 1 = missing
    sigma: float | None = None  # noise level on the 0..255 scale (None: noise-free or unknown)
    notes: list[str] = field(default_factory=list)  # what was done to a user's photo to make it


@dataclass(frozen=True)
class ReleaseScript:
    """The paper's inversion script of a task (code/mganprior/<name>.py): its inversion defaults and
    the release flags that only some scripts have. Tasks that share a script share this object."""

    name: str
    description: str
    composing_layer: int
    z_number: int
    vgg_lambda: float
    iterations: int
    mask_default: str | None  # the release's -m/--mask flag (denoising has it too, unused)
    batch_flag: bool  # the release's own --batch_size flag (not in colorization)


class Degradation(ABC):
    """Base class: one instance per experiment; per-image randomness comes from (seed, index)."""

    task: ClassVar[str]  # experiment prefix, e.g. "col" in col_bedroom
    title: ClassVar[str]  # human-readable name
    verb: ClassVar[str]  # `bigprior restore --task <verb>`
    release: ClassVar[ReleaseScript]
    script_selector: ClassVar[dict[str, Any]] = {}  # flag values by which the script picks this class
    varied_masks: ClassVar[bool] = False  # its fusion networks are trained on masks that vary per image
    observation_channels: ClassVar[int] = 3
    observation_suffix: ClassVar[str] = ".png"
    has_mask: ClassVar[bool] = False
    records_sigma: ClassVar[bool] = False  # input/sigma.json holds each image's noise level
    color_metrics: ClassVar[bool] = False  # AuC of the a/b colour plane is meaningful
    gray_photos: ClassVar[bool] = True  # a user's grayscale photo can be this task's observation
    flag_group: ClassVar[str] = ""
    # (name, type, default, help) of the flags this class adds to its inversion script (`inversion.cli` adds them;
    # `bool` flags take the paper's True/False values)
    flags: ClassVar[tuple[tuple[str, Callable[[str], Any], Any, str], ...]] = ()

    # -- flags and settings ---------------------------------------------------------------------
    @classmethod
    def from_flags(cls, args: argparse.Namespace) -> Degradation:
        """The degradation of parsed script flags (or of an experiment's mGANargs.txt as a Namespace)."""
        return cls()

    @classmethod
    def from_settings(cls, settings: dict[str, Any]) -> Degradation:
        """The degradation of a `settings()` dictionary (defaults.json)."""
        return cls(**settings)

    def settings(self) -> dict[str, Any]:
        """The constructor arguments that `from_settings` takes back (JSON values)."""
        return {}

    def with_mask(self, mask: torch.Tensor) -> Degradation:
        """The same task with a user's mask (1xHxW, 1 = missing)."""
        raise BIGPriorError(f"--mask: {self.title} has no mask")

    def scaled(self, factor: float) -> Degradation:
        """The same degradation for images `factor` times larger: sizes given in pixels scale with them
        (the paper's settings are for 256 px images); unchanged unless overridden."""
        return self

    # -- the forward model ----------------------------------------------------------------------
    def check_size(self, height: int, width: int, source: str) -> None:
        """Raise a BIGPriorError naming `source` if images of this size cannot be degraded (checked before
        any output is written); any size can unless overridden."""

    def check_photo(self, height: int, width: int, gray: bool, degrade: bool, source: str) -> None:
        """Raise a BIGPriorError naming `source` if a user's photo of this size and kind cannot be restored
        (checked from its header, before any model is loaded): `degrade` simulates the degradation of a
        clean photo, which must be in colour; an observed grayscale photo only for `gray_photos` tasks."""
        self.check_size(height, width, source)
        if gray and degrade:
            raise BIGPriorError(f"--input {source}: grayscale image; --degrade True needs a colour photo")
        if gray and not self.gray_photos:
            raise BIGPriorError(f"--input {source}: grayscale image; {self.title} expects an RGB photo")

    @abstractmethod
    def observe(self, clean: torch.Tensor, index: int, seed: int) -> Observation:
        """Degrade one clean image (3xHxW in [0, 1])."""

    def observe_photo(self, photo: torch.Tensor, index: int, seed: int, source: str) -> Observation:
        """A user's already degraded photo (CxHxW in [0, 1], C = 1 or 3) as this task's observation;
        `source` names the photo in errors. Default: an RGB photo as it is (grey replicated)."""
        return Observation(x=photo.expand(3, -1, -1) if photo.shape[0] == 1 else photo)

    def at_size(self, observation: Observation, height: int, width: int) -> Observation:
        """The observation on another pixel grid (the generator's): the image resampled, the mask carried
        over conservatively (hole pixels zeroed) and the noise level that of the resampled noise."""
        if tuple(observation.x.shape[-2:]) == (height, width):
            return observation
        size = (height, width)
        x, mask, sigma = resampling.resample(observation.x, size), observation.mask, observation.sigma
        if mask is not None:
            mask = resampling.conservative_mask(mask, size)
            x = x * (1 - mask)
        if sigma is not None:
            sigma = sigma * resampling.noise_gain(*observation.x.shape[-2:], size)
        return Observation(x=x, mask=mask, sigma=sigma, notes=list(observation.notes))

    def loss_view(self, image: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """What the inversion loss compares of a (B,3,H,W) image; identity unless overridden."""
        return image

    def sigma_for(self, index: int, seed: int) -> int | None:
        """Noise level of image `index` on the 0..255 scale (saved in input/sigma.json); None without noise."""
        return None

    def inversion_target(self, observation: torch.Tensor) -> torch.Tensor:
        """The 3-channel image (same scale as `observation`) that the inversion fits via `loss_view`."""
        return observation

    def finalize_prior(self, prior: np.ndarray, gt: np.ndarray | None, observation: np.ndarray) -> np.ndarray:
        """Turn the raw inverted image (HxWx3 uint8) into the saved prior; identity unless overridden."""
        return prior

    # -- storage in an experiment folder ------------------------------------------------------
    @classmethod
    def read_observation(cls, path: Path) -> torch.Tensor:
        return imageio.hwc_to_chw(imageio.float_from_uint8(imageio.read_rgb(path)))

    @classmethod
    def write_observation(cls, path: Path, observation: Observation) -> None:
        imageio.write_png(path, imageio.uint8_from_float_truncated(observation.x).transpose(1, 2, 0))


REGISTRY: dict[str, type[Degradation]] = {}  # experiment prefix -> class, in the paper's order


def register(cls: type[Degradation]) -> type[Degradation]:
    """Class decorator: add a degradation to the registry (its names must be new)."""
    if cls.task in REGISTRY:
        raise ValueError(f"task {cls.task!r} registered twice")
    REGISTRY[cls.task] = cls
    return cls


COLORIZATION_SCRIPT = ReleaseScript("colorization", "Colorization prior by multi-code GAN inversion (loss on luma).",
                                    4, 20, 1.0, 1500, None, False)
INPAINTING_SCRIPT = ReleaseScript("inpainting", "Inpainting prior by multi-code GAN inversion (loss on the known pixels).",
                                  4, 30, 0.1, 3000, CENTER_MASK, True)
DENOISING_SCRIPT = ReleaseScript("denoising", "Blind AWGN denoising prior by multi-code GAN inversion.",
                                 4, 30, 0.1, 3000, "./examples/masks/mask-2.png", True)


@register
class Colorization(Degradation):
    """Keep only the luma; the prior keeps the observed luma and takes its chroma from the GAN."""

    task = "col"
    title = "colorization"
    verb = "colorize"
    release = COLORIZATION_SCRIPT
    observation_channels = 1
    color_metrics = True

    def observe(self, clean: torch.Tensor, index: int, seed: int) -> Observation:
        return Observation(x=luma(clean))

    def observe_photo(self, photo: torch.Tensor, index: int, seed: int, source: str) -> Observation:
        if photo.shape[0] == 1:
            return Observation(x=photo)
        return Observation(x=luma(photo), notes=[f"{source}: colour photo; its luma is colorized"])

    def loss_view(self, image: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        return luma(image).expand_as(image)

    def inversion_target(self, observation: torch.Tensor) -> torch.Tensor:
        return observation.expand(*observation.shape[:-3], 3, *observation.shape[-2:])

    def finalize_prior(self, prior: np.ndarray, gt: np.ndarray | None, observation: np.ndarray) -> np.ndarray:
        """Y from the ground truth (PIL's YCbCr, as the release) or, without one, the observed luma;
        Cb/Cr from the inverted image."""
        _, cb, cr = Image.fromarray(prior, "RGB").convert("YCbCr").split()
        if gt is not None:
            y = Image.fromarray(gt, "RGB").convert("YCbCr").split()[0]
        else:
            y = Image.fromarray(np.ascontiguousarray(observation.reshape(observation.shape[:2])), "L")
        return np.asarray(Image.merge("YCbCr", (y, cb, cr)).convert("RGB"))

    @classmethod
    def read_observation(cls, path: Path) -> torch.Tensor:
        return imageio.hwc_to_chw(imageio.float_from_uint8(imageio.read_gray(path)))

    @classmethod
    def write_observation(cls, path: Path, observation: Observation) -> None:
        imageio.write_png(path, imageio.uint8_from_float_truncated(observation.x[0]))


@register
class Inpainting(Degradation):
    """Missing pixels (mask 1) are set to 0; one fixed mask for every image (e.g. the centre hole)."""

    task = "inpcrop"
    title = "inpainting (fixed mask)"
    verb = "inpaint"
    release = INPAINTING_SCRIPT
    script_selector = {"varmask": False}
    has_mask = True

    def __init__(self, mask: torch.Tensor | None = None) -> None:
        self.mask = mask  # 1xHxW, 1 = missing; None until an image size is known (centre hole)

    @classmethod
    def from_flags(cls, args: argparse.Namespace) -> Degradation:
        """-m/--mask: the built-in centre hole (mask_center.png) or a mask file."""
        if args.mask == CENTER_MASK:
            return cls(None)
        if not Path(args.mask).is_file():
            raise BIGPriorError(f"-m/--mask {args.mask}: not a file ({CENTER_MASK} is built in; or use --varmask True)")
        return cls(read_mask(Path(args.mask)))

    def settings(self) -> dict[str, Any]:
        if self.mask is not None:
            raise BIGPriorError("a mask read from a file cannot be a default setting (only the centre hole)")
        return {}

    def with_mask(self, mask: torch.Tensor) -> Degradation:
        return Inpainting(mask)

    def check_size(self, height: int, width: int, source: str) -> None:
        if self.mask is not None and tuple(self.mask.shape[-2:]) != (height, width):
            raise BIGPriorError(f"--mask: the mask is {self.mask.shape[-1]}x{self.mask.shape[-2]} but {source} is {width}x{height}")

    def mask_for(self, index: int, seed: int, height: int, width: int) -> torch.Tensor:
        if self.mask is None:
            return center_mask(height, width)
        self.check_size(height, width, "the image")
        return self.mask

    def observe(self, clean: torch.Tensor, index: int, seed: int) -> Observation:
        mask = self.mask_for(index, seed, clean.shape[-2], clean.shape[-1])
        return Observation(x=clean * (1 - mask), mask=mask)

    def observe_photo(self, photo: torch.Tensor, index: int, seed: int, source: str) -> Observation:
        """The photo's holes are this degradation's mask (the centre hole unless a mask was given)."""
        return self.observe(photo.expand(3, -1, -1), index, seed)

    @classmethod
    def default_mask(cls, height: int, width: int) -> torch.Tensor | None:
        """The mask of an image with no mask file: the centre hole; None where masks vary per image."""
        return center_mask(height, width)

    def loss_view(self, image: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        if mask is None:
            raise ValueError("inpainting loss needs the mask")
        return image * (1 - mask)


@register
class RandomMaskInpainting(Inpainting):
    """2..4 random axis-aligned rectangular holes per image (the release's `get_var_mask`)."""

    task = "inpvar"
    title = "inpainting (random masks)"
    script_selector = {"varmask": True}
    varied_masks = True
    flag_group = "random masks"
    flags = (("--varmask", bool, False, "True: random rectangles per image, saved as mask/{i}.png"),
             ("--min_p", int, 2, "minimum number of rectangles in a mask"),
             ("--max_p", int, 4, "maximum number of rectangles in a mask"),
             ("--width_mean", int, 64, "mean side of a rectangle (normal)"),
             ("--width_var", int, 32, "standard deviation of a rectangle's side"))

    def __init__(self, min_patches: int = 2, max_patches: int = 4, side_mean: float = 64, side_std: float = 32) -> None:
        super().__init__(None)
        if not 1 <= min_patches <= max_patches:
            raise BIGPriorError(f"--min_p/--max_p: need 1 <= min_p <= max_p, got {min_patches}, {max_patches}")
        self.min_patches, self.max_patches = min_patches, max_patches
        self.side_mean, self.side_std = side_mean, side_std

    @classmethod
    def from_flags(cls, args: argparse.Namespace) -> Degradation:
        return cls(args.min_p, args.max_p, args.width_mean, args.width_var)

    def settings(self) -> dict[str, Any]:
        return {"min_patches": self.min_patches, "max_patches": self.max_patches, "side_mean": self.side_mean,
                "side_std": self.side_std}

    def scaled(self, factor: float) -> Degradation:
        if factor == 1:
            return self
        return RandomMaskInpainting(self.min_patches, self.max_patches, self.side_mean * factor, self.side_std * factor)

    @classmethod
    def default_mask(cls, height: int, width: int) -> torch.Tensor | None:
        return None

    def observe_photo(self, photo: torch.Tensor, index: int, seed: int, source: str) -> Observation:
        raise BIGPriorError(f"{source}: the holes of a degraded photo are given with --mask (random holes need --degrade True)")

    def mask_for(self, index: int, seed: int, height: int, width: int) -> torch.Tensor:
        rng = numpy_generator(seed, index, STREAM_MASK)
        mask = torch.zeros(1, height, width)
        for _ in range(int(rng.integers(self.min_patches, self.max_patches + 1))):
            for _attempt in range(100_000):
                top, left = int(rng.integers(0, height + 1)), int(rng.integers(0, width + 1))
                tall = abs(round(float(rng.normal(self.side_mean, self.side_std))))
                wide = abs(round(float(rng.normal(self.side_mean, self.side_std))))
                if tall > 8 and wide > 8 and top + tall < height and left + wide < width:
                    mask[:, top : top + tall, left : left + wide] = 1
                    break
            else:
                raise BIGPriorError(
                    f"--width_mean/--width_var: no rectangle of sides > 8 fits a {width}x{height} image"
                )
        return mask


@register
class BlindAWGN(Degradation):
    """Additive white Gaussian noise, one integer sigma (0..255 scale) per image; stored unclipped."""

    task = "denblind"
    title = "blind denoising"
    verb = "denoise"
    release = DENOISING_SCRIPT
    observation_suffix = ".npy"
    records_sigma = True
    gray_photos = False
    flag_group = "noise"
    flags = (("--single_level", bool, False, "True: every image gets sigma_min"),
             ("--sigma_min", int, 5, "smallest AWGN sigma (0..255 scale)"),
             ("--sigma_max", int, 75, "largest AWGN sigma (0..255 scale)"))

    def __init__(self, sigma_min: int = 5, sigma_max: int = 50, single_level: bool = False) -> None:
        if not 0 <= sigma_min <= sigma_max:
            raise BIGPriorError(f"--sigma_min/--sigma_max: need 0 <= min <= max, got {sigma_min}, {sigma_max}")
        self.sigma_min, self.sigma_max, self.single_level = sigma_min, sigma_max, single_level

    @classmethod
    def from_flags(cls, args: argparse.Namespace) -> Degradation:
        return cls(args.sigma_min, args.sigma_max, args.single_level)

    def settings(self) -> dict[str, Any]:
        return {"sigma_min": self.sigma_min, "sigma_max": self.sigma_max, "single_level": self.single_level}

    def sigma_for(self, index: int, seed: int) -> int:
        if self.single_level:
            return self.sigma_min
        return int(numpy_generator(seed, index, STREAM_SIGMA).integers(self.sigma_min, self.sigma_max + 1))

    def observe(self, clean: torch.Tensor, index: int, seed: int) -> Observation:
        sigma = self.sigma_for(index, seed)
        noise = torch.randn(clean.shape, generator=torch_generator(seed, index, STREAM_NOISE))
        return Observation(x=clean + noise.to(clean) * (sigma / 255.0), sigma=sigma)

    def observe_photo(self, photo: torch.Tensor, index: int, seed: int, source: str) -> Observation:
        """A noisy photo as it is; its noise level is unknown (blind)."""
        self.check_photo(photo.shape[-2], photo.shape[-1], photo.shape[0] == 1, False, source)
        return Observation(x=photo)

    @classmethod
    def read_observation(cls, path: Path) -> torch.Tensor:
        return imageio.hwc_to_chw(imageio.read_npy_image(path, channels=3).astype(np.float32))

    @classmethod
    def write_observation(cls, path: Path, observation: Observation) -> None:
        imageio.write_npy(path, observation.x.detach().cpu().float().numpy().transpose(1, 2, 0))


DEGRADATIONS = REGISTRY  # the name older code and tests use


def degradation_class(task: str) -> type[Degradation]:
    """The class of an experiment prefix (col, inpcrop, inpvar, denblind)."""
    try:
        return REGISTRY[task]
    except KeyError:
        raise BIGPriorError(
            f"unknown task {task!r}: experiments are named <task>_<dataset> with task one of {', '.join(REGISTRY)}"
        ) from None


def release_scripts() -> dict[str, ReleaseScript]:
    """The paper's inversion scripts by name, in the registry's order."""
    return {cls.release.name: cls.release for cls in REGISTRY.values()}


def script_classes(script: str) -> list[type[Degradation]]:
    """The tasks that one inversion script serves (inpainting: the fixed and the random masks)."""
    return [cls for cls in REGISTRY.values() if cls.release.name == script]


def script_degradation(script: str, args: argparse.Namespace) -> Degradation:
    """The degradation that a script's parsed flags ask for: the class whose selector flags they match."""
    for cls in script_classes(script):
        if all(getattr(args, flag) == value for flag, value in cls.script_selector.items()):
            return cls.from_flags(args)
    raise BIGPriorError(f"{script}: no task matches the flags {vars(args)}")


def restore_verbs() -> list[str]:
    """The `bigprior restore --task` values, in the registry's order."""
    return list(dict.fromkeys(cls.verb for cls in REGISTRY.values()))


def restore_class(verb: str, varied_masks: bool = False) -> type[Degradation]:
    """The task whose fusion network restores `verb`: for masked tasks, the one trained on masks that
    vary per image when the holes are not the fixed ones (random holes, a user's mask)."""
    family = [cls for cls in REGISTRY.values() if cls.verb == verb]
    if not family:
        raise BIGPriorError(f"--task {verb!r}: expected one of {', '.join(restore_verbs())}")
    matching = [cls for cls in family if cls.varied_masks == varied_masks]
    return (matching or family)[0]


def center_mask(height: int, width: int) -> torch.Tensor:
    """The paper's centre hole: a (H/4)x(W/4) square in the middle (64x64 at 256x256), 1 = missing."""
    mask = torch.zeros(1, height, width)
    h, w = height // 4, width // 4
    top, left = (height - h) // 2, (width - w) // 2
    mask[:, top : top + h, left : left + w] = 1
    return mask


def read_mask(path: Path) -> torch.Tensor:
    """A mask image (white = missing, any of L/RGB/RGBA) -> 1xHxW float tensor of 0/1."""
    path = Path(path)
    try:
        image = Image.open(path)
        image.load()
    except FileNotFoundError:
        raise BIGPriorError(f"{path}: mask file not found") from None
    except OSError as exc:
        raise BIGPriorError(f"{path}: not a readable mask image ({exc.__class__.__name__})") from exc
    array = np.asarray(image.convert("RGB") if image.mode not in ("L", "RGB") else image)
    first = array if array.ndim == 2 else array[:, :, 0]
    return torch.from_numpy((first >= 128).astype(np.float32))[None]


def mask_to_uint8(mask: torch.Tensor) -> np.ndarray:
    """1xHxW 0/1 mask -> HxWx3 uint8 white-is-missing image (the release's mask files)."""
    plane = (mask[0].cpu().numpy() > 0.5).astype(np.uint8) * 255
    return np.repeat(plane[:, :, None], 3, axis=2)
