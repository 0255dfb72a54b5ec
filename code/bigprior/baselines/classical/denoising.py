"""Blind denoising peers: scikit-image's non-local means and total variation, OpenCV's fast non-local
means, and BM3D (the optional `bm3d` package: non-commercial licence, `pip install 'bigprior[bm3d]'`).

Blind: the noise level is estimated from the observation itself with scikit-image's wavelet estimator
(`estimate_sigma`, the median absolute deviation of the finest diagonal wavelet band, averaged over the
channels) and each method's strength is a factor times that estimate. The factors and patch sizes are
those `experiments/peers/tune.py` picked on training images 0..9 of the denblind experiments.
"""

from __future__ import annotations

import dataclasses
from abc import abstractmethod
from typing import ClassVar

import cv2
import numpy as np

from ... import imageio
from ...degradations import BlindAWGN, Observation
from .base import ClassicalMethod, as_output, in_row_bands, observed_array, register


def estimated_sigma(image: np.ndarray) -> float:
    """The noise standard deviation of an HxWx3 float image (same scale as the image), estimated blind:
    scikit-image's `estimate_sigma`, averaged over the channels."""
    from skimage.restoration import estimate_sigma  # here: skimage.restoration imports scipy.stats (seconds)

    return float(estimate_sigma(image, channel_axis=-1, average_sigmas=True))


@dataclasses.dataclass(frozen=True)
class BlindDenoiser(ClassicalMethod):
    """A denoiser given the observation and the noise level estimated from it."""

    serves: ClassVar[tuple] = (BlindAWGN,)
    modules: ClassVar[tuple[str, ...]] = ("numpy", "skimage", "pywt")  # pywt: estimate_sigma's wavelets

    def restore(self, observation: Observation) -> np.ndarray:
        image = observed_array(observation)
        return as_output(self.denoise(image, estimated_sigma(image)))

    @abstractmethod
    def denoise(self, image: np.ndarray, sigma: float) -> np.ndarray:
        """The denoised HxWx3 image (unclipped) of a noisy one whose noise level is about `sigma`."""


@register
@dataclasses.dataclass(frozen=True)
class NLMeans(BlindDenoiser):
    """scikit-image's non-local means (fast mode), h = h_factor x the estimated sigma."""

    name: ClassVar[str] = "NLMeans"
    title: ClassVar[str] = "non-local means (scikit-image), sigma estimated"
    h_factor: float = 0.5
    patch_size: int = 5
    patch_distance: int = 6

    def denoise(self, image: np.ndarray, sigma: float) -> np.ndarray:
        from skimage.restoration import denoise_nl_means

        def denoised(band: np.ndarray) -> np.ndarray:
            return denoise_nl_means(band, patch_size=self.patch_size, patch_distance=self.patch_distance,
                                    h=self.h_factor * sigma, fast_mode=True, sigma=sigma, channel_axis=-1)

        # a pixel's result reads the pixels within patch_distance + patch_size // 2 of it
        return in_row_bands(denoised, image, margin=self.patch_distance + self.patch_size)


@register
@dataclasses.dataclass(frozen=True)
class TV(BlindDenoiser):
    """scikit-image's total-variation denoising (Chambolle), weight = weight_factor x the estimated sigma."""

    name: ClassVar[str] = "TV"
    title: ClassVar[str] = "total variation (Chambolle, scikit-image), sigma estimated"
    weight_factor: float = 0.75

    def denoise(self, image: np.ndarray, sigma: float) -> np.ndarray:
        from skimage.restoration import denoise_tv_chambolle

        return denoise_tv_chambolle(image, weight=self.weight_factor * sigma, channel_axis=-1)


@register
@dataclasses.dataclass(frozen=True)
class FastNLMeans(BlindDenoiser):
    """OpenCV's fastNlMeansDenoisingColored (8-bit, multi-threaded): h and hColor are factors times the
    estimated sigma on the 0..255 scale; the observation is rounded and clipped to 8 bits first."""

    name: ClassVar[str] = "FastNLMeans"
    title: ClassVar[str] = "fast non-local means (OpenCV), sigma estimated"
    modules: ClassVar[tuple[str, ...]] = ("numpy", "skimage", "pywt", "cv2")
    h_factor: float = 0.6
    h_color_factor: float = 0.6
    template_size: int = 7
    search_size: int = 21

    def denoise(self, image: np.ndarray, sigma: float) -> np.ndarray:
        level = 255.0 * sigma
        denoised = cv2.fastNlMeansDenoisingColored(imageio.uint8_from_float(image), None, self.h_factor * level,
                                                   self.h_color_factor * level, self.template_size, self.search_size)
        return imageio.float_from_uint8(denoised)


@register
@dataclasses.dataclass(frozen=True)
class BM3D(BlindDenoiser):
    """BM3D for colour images (`bm3d.bm3d_rgb`, opponent colour space) given sigma_factor x the estimated
    sigma, single-threaded: the package's own threads may change results from run to run."""

    name: ClassVar[str] = "BM3D"
    title: ClassVar[str] = "BM3D (bm3d package, non-commercial licence), sigma estimated"
    modules: ClassVar[tuple[str, ...]] = ("numpy", "skimage", "pywt", "bm3d")
    optional: ClassVar[str | None] = "bm3d"
    licence: ClassVar[str] = "Tampere University's licence: non-commercial use only"
    PROFILES: ClassVar[dict[str, str]] = {"np": "BM3DProfile", "lc": "BM3DProfileLC", "refilter": "BM3DProfileRefilter",
                                          "high": "BM3DProfileHigh", "vn": "BM3DProfileVN"}
    sigma_factor: float = 1.0
    profile: str = "np"
    colorspace: str = "opp"

    def __post_init__(self) -> None:
        if self.profile not in self.PROFILES:
            raise ValueError(f"BM3D profile {self.profile!r}: expected one of {', '.join(self.PROFILES)}")

    def denoise(self, image: np.ndarray, sigma: float) -> np.ndarray:
        import bm3d
        from bm3d import profiles

        profile = getattr(profiles, self.PROFILES[self.profile])()
        profile.num_threads = 1
        return bm3d.bm3d_rgb(image, self.sigma_factor * sigma, profile=profile, colorspace=self.colorspace)
