"""Inpainting peers: OpenCV's Telea (fast marching) and Navier-Stokes `cv2.inpaint`, and scikit-image's
biharmonic inpainting. Each fills the missing pixels only: the observed pixels of the result are the
observation's own values, bit for bit (OpenCV works on 8 bits; its filled pixels are its own).
The radii are those `experiments/peers/tune.py` picked on training images 0..9 of the inpainting
experiments.
"""

from __future__ import annotations

import dataclasses
from abc import abstractmethod
from typing import ClassVar

import cv2
import numpy as np
from skimage.restoration import inpaint_biharmonic

from ... import imageio
from ...degradations import Inpainting, Observation
from .base import ClassicalMethod, as_output, missing_pixels, observed_array, register


def opencv_inpaint(observed: np.ndarray, missing: np.ndarray, radius: int, flag: int) -> np.ndarray:
    """`cv2.inpaint` of an HxWx3 uint8 image: the `missing` (HxW bool) pixels filled from a disc of
    `radius` pixels around each; `flag` is cv2.INPAINT_TELEA or cv2.INPAINT_NS."""
    return cv2.inpaint(np.ascontiguousarray(observed), missing.astype(np.uint8) * 255, radius, flag)


@dataclasses.dataclass(frozen=True)
class HoleFiller(ClassicalMethod):
    """An inpainting method: `fill` proposes every pixel, the observed ones are then pasted back."""

    serves: ClassVar[tuple] = (Inpainting,)
    at_training_scale: ClassVar[bool] = True

    def restore(self, observation: Observation) -> np.ndarray:
        image, missing = observed_array(observation), missing_pixels(observation, self.name)
        filled = as_output(self.fill(image, missing))
        return np.where(missing[:, :, None], filled, as_output(image))

    @abstractmethod
    def fill(self, image: np.ndarray, missing: np.ndarray) -> np.ndarray:
        """An HxWx3 image whose `missing` pixels are filled (HxWx3 float image in [0, 1], HxW bool)."""


@dataclasses.dataclass(frozen=True)
class OpenCVInpainting(HoleFiller):
    """`cv2.inpaint` on the observation rounded to 8 bits."""

    modules: ClassVar[tuple[str, ...]] = ("numpy", "cv2")
    flag: ClassVar[int]
    radius: int = 5

    def __post_init__(self) -> None:
        if self.radius < 1:
            raise ValueError(f"radius must be at least 1, got {self.radius}")

    def fill(self, image: np.ndarray, missing: np.ndarray) -> np.ndarray:
        return imageio.float_from_uint8(opencv_inpaint(imageio.uint8_from_float(image), missing, self.radius, self.flag))


@register
@dataclasses.dataclass(frozen=True)
class Telea(OpenCVInpainting):
    name: ClassVar[str] = "Telea"
    title: ClassVar[str] = "fast-marching inpainting (Telea 2004, OpenCV)"
    flag: ClassVar[int] = cv2.INPAINT_TELEA
    radius: int = 33


@register
@dataclasses.dataclass(frozen=True)
class NavierStokes(OpenCVInpainting):
    name: ClassVar[str] = "NavierStokes"
    title: ClassVar[str] = "Navier-Stokes inpainting (Bertalmio et al. 2001, OpenCV)"
    flag: ClassVar[int] = cv2.INPAINT_NS
    radius: int = 41


@register
@dataclasses.dataclass(frozen=True)
class Biharmonic(HoleFiller):
    """scikit-image's biharmonic inpainting; `split_into_regions` solves each hole apart (the same result
    up to rounding, much faster for several small holes)."""

    name: ClassVar[str] = "Biharmonic"
    title: ClassVar[str] = "biharmonic inpainting (scikit-image)"
    modules: ClassVar[tuple[str, ...]] = ("numpy", "skimage")
    split_into_regions: bool = True

    def fill(self, image: np.ndarray, missing: np.ndarray) -> np.ndarray:
        return inpaint_biharmonic(image, missing, split_into_regions=self.split_into_regions, channel_axis=-1)
