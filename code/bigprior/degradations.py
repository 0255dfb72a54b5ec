"""The degradations of BIGPrior's tasks, one small object each.

A degradation knows its forward model (`observe`: clean image -> observation), what the inversion
loss may see of an image (`loss_view`), how its observation is stored in an experiment folder
(`observation_suffix`, `observation_channels`, `read_observation`, `write_observation`) and how the
raw GAN inversion becomes the saved prior (`finalize_prior`). Nothing outside this module asks
which task it is running; it asks the degradation.

Scales: clean images and observations are float tensors in [0, 1] (CxHxW); `loss_view` is linear
per pixel, so it applies unchanged to the [-1, 1] images of the inversion.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np
import torch
from PIL import Image

from . import imageio
from .errors import BIGPriorError
from .seeding import STREAM_MASK, STREAM_NOISE, STREAM_SIGMA, numpy_generator, torch_generator

LUMA_WEIGHTS = (0.299, 0.587, 0.114)  # ITU-R 601 luma, as the release's colorization loss and input


def luma(image: torch.Tensor) -> torch.Tensor:
    """(B,3,H,W) or (3,H,W) -> luma with one channel, Y = 0.299 R + 0.587 G + 0.114 B."""
    r, g, b = image.split(1, dim=-3)
    return r * LUMA_WEIGHTS[0] + g * LUMA_WEIGHTS[1] + b * LUMA_WEIGHTS[2]


@dataclass
class Observation:
    """What a degradation produced for one image (tensors CxHxW, x in [0, 1] unless noisy)."""

    x: torch.Tensor
    mask: torch.Tensor | None = None  # 1xHxW, 1 = missing
    sigma: float | None = None  # noise level on the 0..255 scale


class Degradation(ABC):
    """Base class: one instance per experiment; per-image randomness comes from (seed, index)."""

    task: ClassVar[str]  # experiment prefix, e.g. "col" in col_bedroom
    title: ClassVar[str]  # human-readable name
    observation_channels: ClassVar[int] = 3
    observation_suffix: ClassVar[str] = ".png"
    has_mask: ClassVar[bool] = False
    color_metrics: ClassVar[bool] = False  # AuC of the a/b colour plane is meaningful

    @abstractmethod
    def observe(self, clean: torch.Tensor, index: int, seed: int) -> Observation:
        """Degrade one clean image (3xHxW in [0, 1])."""

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


class Colorization(Degradation):
    """Keep only the luma; the prior keeps the observed luma and takes its chroma from the GAN."""

    task = "col"
    title = "colorization"
    observation_channels = 1
    color_metrics = True

    def observe(self, clean: torch.Tensor, index: int, seed: int) -> Observation:
        return Observation(x=luma(clean))

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


class Inpainting(Degradation):
    """Missing pixels (mask 1) are set to 0; one fixed mask for every image (e.g. the centre hole)."""

    task = "inpcrop"
    title = "inpainting (fixed mask)"
    has_mask = True

    def __init__(self, mask: torch.Tensor | None = None) -> None:
        self.mask = mask  # 1xHxW, 1 = missing; None until an image size is known (centre hole)

    def mask_for(self, index: int, seed: int, height: int, width: int) -> torch.Tensor:
        if self.mask is None:
            return center_mask(height, width)
        if tuple(self.mask.shape[-2:]) != (height, width):
            raise BIGPriorError(
                f"--mask: the mask is {self.mask.shape[-1]}x{self.mask.shape[-2]} but the image is {width}x{height}"
            )
        return self.mask

    def observe(self, clean: torch.Tensor, index: int, seed: int) -> Observation:
        mask = self.mask_for(index, seed, clean.shape[-2], clean.shape[-1])
        return Observation(x=clean * (1 - mask), mask=mask)

    @classmethod
    def default_mask(cls, height: int, width: int) -> torch.Tensor | None:
        """The mask of an image with no mask file: the centre hole; None where masks vary per image."""
        return center_mask(height, width)

    def loss_view(self, image: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        if mask is None:
            raise ValueError("inpainting loss needs the mask")
        return image * (1 - mask)


class RandomMaskInpainting(Inpainting):
    """2..4 random axis-aligned rectangular holes per image (the release's `get_var_mask`)."""

    task = "inpvar"
    title = "inpainting (random masks)"

    def __init__(self, min_patches: int = 2, max_patches: int = 4, side_mean: float = 64, side_std: float = 32) -> None:
        super().__init__(None)
        if not 1 <= min_patches <= max_patches:
            raise BIGPriorError(f"--min_p/--max_p: need 1 <= min_p <= max_p, got {min_patches}, {max_patches}")
        self.min_patches, self.max_patches = min_patches, max_patches
        self.side_mean, self.side_std = side_mean, side_std

    @classmethod
    def default_mask(cls, height: int, width: int) -> torch.Tensor | None:
        return None

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


class BlindAWGN(Degradation):
    """Additive white Gaussian noise, one integer sigma (0..255 scale) per image; stored unclipped."""

    task = "denblind"
    title = "blind denoising"
    observation_suffix = ".npy"

    def __init__(self, sigma_min: int = 5, sigma_max: int = 50, single_level: bool = False) -> None:
        if not 0 <= sigma_min <= sigma_max:
            raise BIGPriorError(f"--sigma_min/--sigma_max: need 0 <= min <= max, got {sigma_min}, {sigma_max}")
        self.sigma_min, self.sigma_max, self.single_level = sigma_min, sigma_max, single_level

    def sigma_for(self, index: int, seed: int) -> int:
        if self.single_level:
            return self.sigma_min
        return int(numpy_generator(seed, index, STREAM_SIGMA).integers(self.sigma_min, self.sigma_max + 1))

    def observe(self, clean: torch.Tensor, index: int, seed: int) -> Observation:
        sigma = self.sigma_for(index, seed)
        noise = torch.randn(clean.shape, generator=torch_generator(seed, index, STREAM_NOISE))
        return Observation(x=clean + noise.to(clean) * (sigma / 255.0), sigma=sigma)

    @classmethod
    def read_observation(cls, path: Path) -> torch.Tensor:
        return imageio.hwc_to_chw(imageio.read_npy_image(path, channels=3).astype(np.float32))

    @classmethod
    def write_observation(cls, path: Path, observation: Observation) -> None:
        imageio.write_npy(path, observation.x.detach().cpu().float().numpy().transpose(1, 2, 0))


DEGRADATIONS: dict[str, type[Degradation]] = {
    cls.task: cls for cls in (Colorization, Inpainting, RandomMaskInpainting, BlindAWGN)
}


def degradation_class(task: str) -> type[Degradation]:
    try:
        return DEGRADATIONS[task]
    except KeyError:
        raise BIGPriorError(
            f"unknown task {task!r}: experiments are named <task>_<dataset> with task one of {', '.join(DEGRADATIONS)}"
        ) from None


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
