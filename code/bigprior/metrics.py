"""The metrics of the paper, defined once and used by the fusion test, the report and the demo.

Images are HxWx3 arrays (float in [0, 1], or uint8) unless stated; `mse`/`psnr` follow the release
(mean over all pixels and channels of images in [0, 1]; PSNR = 10 log10(1 / MSE), averaged per image).
"""

from __future__ import annotations

import math

import numpy as np
from skimage.color import deltaE_cie76, rgb2lab
from skimage.metrics import structural_similarity

AUC_MAX_THRESHOLD = 150  # AuC integrates the CDF of the a/b colour error over thresholds 0..149


def _as_float(image: np.ndarray) -> np.ndarray:
    if image.dtype == np.uint8:
        return image.astype(np.float64) / 255.0
    return np.asarray(image, dtype=np.float64)


def mse(image: np.ndarray, reference: np.ndarray) -> float:
    return float(np.mean((_as_float(image) - _as_float(reference)) ** 2))


def psnr_from_mse(value: float | np.ndarray) -> float | np.ndarray:
    """PSNR in dB of images in [0, 1]; infinite for identical images."""
    with np.errstate(divide="ignore"):
        result = 10 * np.log10(1.0 / np.asarray(value, dtype=np.float64))
    return float(result) if np.ndim(result) == 0 else result


def psnr(image: np.ndarray, reference: np.ndarray) -> float:
    return psnr_from_mse(mse(image, reference))


def ssim(image: np.ndarray, reference: np.ndarray) -> float:
    """SSIM (scikit-image, Gaussian-free 7x7 window, over RGB channels) on images in [0, 1] or uint8."""
    return float(
        structural_similarity(_as_float(reference), _as_float(image), data_range=1.0, channel_axis=-1)
    )


def auc(image: np.ndarray, reference: np.ndarray) -> float:
    """Colorization AuC (x100): mean over t = 0..149 of the fraction of pixels whose CIE76 distance
    in the Lab a/b plane (L set to 0) is <= t. Float inputs are used as they are (the release fed its
    unclamped fused output)."""
    lab_image, lab_reference = rgb2lab(_as_float(image)), rgb2lab(_as_float(reference))
    lab_image[..., 0] = 0
    lab_reference[..., 0] = 0
    distances = np.sort(deltaE_cie76(lab_reference, lab_image).ravel())
    n_pixels = distances.size
    counts = np.searchsorted(distances, np.arange(AUC_MAX_THRESHOLD), side="right")
    total = 0.0
    for count in counts:  # summed in the release's order, so the float result matches it
        total += int(count) / n_pixels
    return 100 * total / AUC_MAX_THRESHOLD


def pearson(x: np.ndarray, y: np.ndarray) -> float:
    """Pearson correlation coefficient of two 1-D samples (nan when either is constant)."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if x.shape != y.shape or x.ndim != 1 or x.size < 2:
        raise ValueError(f"pearson needs two 1-D samples of equal length >= 2, got {x.shape} and {y.shape}")
    dx, dy = x - x.mean(), y - y.mean()
    denominator = math.sqrt(float(dx @ dx) * float(dy @ dy))
    return float(dx @ dy) / denominator if denominator > 0 else float("nan")
