"""The metrics of the paper, defined once and used by the fusion test, the report and the demo.

Images are HxWx3 arrays (float in [0, 1], or uint8) unless stated; `mse`/`psnr` follow the release
(mean over all pixels and channels of images in [0, 1]; PSNR = 10 log10(1 / MSE), averaged per image).
The calibration of phi (does phi say where the prior is right?) is defined here too, below the paper's
metrics.
"""

from __future__ import annotations

import math
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from scipy.ndimage import gaussian_filter, uniform_filter
from skimage.color.colorconv import xyz_from_rgb, xyz_tristimulus_values
from skimage.metrics import structural_similarity
from torch import nn

from .errors import BIGPriorError
from .zoo import find_lpips_weights

AUC_MAX_THRESHOLD = 150  # AuC integrates the CDF of the a/b colour error over thresholds 0..149


STRIP_ROWS = 256  # images taller than this are scored a strip of rows at a time (bounded memory)
SSIM_WINDOW = 7  # scikit-image's default window, as `ssim` uses it


def _as_float(image: np.ndarray) -> np.ndarray:
    if image.dtype == np.uint8:
        return image.astype(np.float64) / 255.0
    return np.asarray(image, dtype=np.float64)


def _strips(height: int) -> list[tuple[int, int]]:
    return [(top, min(top + STRIP_ROWS, height)) for top in range(0, height, STRIP_ROWS)]


def mse(image: np.ndarray, reference: np.ndarray) -> float:
    """Mean squared error of images in [0, 1] (or uint8), over every pixel and channel; a strip of rows
    at a time for tall images (float64 per strip: a 12-megapixel photo needs no 12-megapixel copy)."""
    if image.shape != reference.shape:
        raise ValueError(f"mse needs images of one shape, got {image.shape} and {reference.shape}")
    if image.shape[0] <= STRIP_ROWS:
        return float(np.mean((_as_float(image) - _as_float(reference)) ** 2))
    total = sum(float(np.sum((_as_float(image[a:b]) - _as_float(reference[a:b])) ** 2)) for a, b in _strips(image.shape[0]))
    return total / image.size


def psnr_from_mse(value: float | np.ndarray) -> float | np.ndarray:
    """PSNR in dB of images in [0, 1]; infinite for identical images."""
    with np.errstate(divide="ignore"):
        result = 10 * np.log10(1.0 / np.asarray(value, dtype=np.float64))
    return float(result) if np.ndim(result) == 0 else result


def psnr(image: np.ndarray, reference: np.ndarray) -> float:
    return psnr_from_mse(mse(image, reference))


def _clamped(image: np.ndarray) -> np.ndarray:
    """A float image clamped to [0, 1] (SSIM's data range); uint8 as it is."""
    return image if image.dtype == np.uint8 else np.clip(image, 0, 1)


def ssim(image: np.ndarray, reference: np.ndarray) -> float:
    """SSIM (scikit-image, Gaussian-free 7x7 window, averaged over RGB channels) of images in [0, 1] or
    uint8; a float image is clamped to [0, 1] first (SSIM's data range; the fusion's unclamped output is
    scored as the 8-bit image it becomes). Tall images are scored a strip of rows at a time: each strip's
    SSIM map is computed with 3 rows of context on both sides and only the rows the whole image's map
    keeps are summed, which gives the whole image's value up to float rounding (`ssim_many`)."""
    return ssim_many([image], reference)[0]


def ssim_many(images: list[np.ndarray], reference: np.ndarray, workers: int = 1) -> list[float]:
    """`ssim` of several images against one reference. For tall images the reference's windowed means and
    variances are computed once per strip and every map in reused buffers, with scikit-image's arithmetic
    operation for operation, and the strips are shared between `workers` threads (NumPy and SciPy compute
    without the GIL); the strips' sums are added in order, so each value is the one scikit-image's maps
    give, bit for bit, whatever the number of workers."""
    if reference.shape[0] <= STRIP_ROWS:
        return [float(structural_similarity(_as_float(reference), _as_float(_clamped(image)), data_range=1.0, channel_axis=-1))
                for image in images]
    pad = (SSIM_WINDOW - 1) // 2
    height, width, channels = reference.shape
    jobs = []
    for top, bottom in _strips(height):
        lo, hi = max(0, top - pad), min(height, bottom + pad)
        first, last = max(top, pad) - lo, min(bottom, height - pad) - lo  # rows of the kept map in this strip
        if first < last:
            jobs.append((lo, hi, slice(first, last)))

    def strip_sums(part: list[tuple[int, int, slice]]) -> list[np.ndarray]:
        maps, sums = _SsimMaps(min(height, STRIP_ROWS + 2 * pad), width), []
        for lo, hi, rows in part:  # a channel of a strip at a time: float64 copies of a strip's channel only
            sums.append(np.array([maps.sums(_as_float(reference[lo:hi, :, c]),
                                            [_as_float(_clamped(image[lo:hi, :, c])) for image in images], rows,
                                            slice(pad, width - pad)) for c in range(channels)]).T)
        return sums

    count = max(1, min(workers, len(jobs)))
    parts = [jobs[k * len(jobs) // count : (k + 1) * len(jobs) // count] for k in range(count)]
    with ThreadPoolExecutor(count) as pool:
        ordered = [sums for part in pool.map(strip_sums, parts) for sums in part]
    totals = np.zeros((len(images), channels))
    for sums in ordered:
        totals += sums
    return [float(np.mean(total / ((height - 2 * pad) * (width - 2 * pad)))) for total in totals]


class _SsimMaps:
    """scikit-image's SSIM map (`structural_similarity`, uniform 7x7 window, sample covariance, K1 0.01,
    K2 0.03, data range 1) of images against one reference, in buffers of one strip's size reused from strip
    to strip (no fresh megabyte arrays: their page faults cost as much as the arithmetic)."""

    C1, C2 = (0.01 * 1.0) ** 2, (0.03 * 1.0) ** 2
    COV_NORM = SSIM_WINDOW**2 / (SSIM_WINDOW**2 - 1)

    def __init__(self, rows: int, width: int) -> None:
        self.buffers = {name: np.empty((rows, width)) for name in ("ux", "vx", "ux2", "uy", "uyy", "uxy", "a", "b", "t")}

    def _filter(self, values: np.ndarray, name: str) -> np.ndarray:
        return uniform_filter(values, size=SSIM_WINDOW, output=self.buffers[name][: values.shape[0]])

    def sums(self, x: np.ndarray, ys: list[np.ndarray], rows: slice, columns: slice) -> list[float]:
        """The sum of each y's SSIM map over rows x columns (x: scikit-image's im1, the reference)."""
        n = x.shape[0]
        b = {name: buffer[:n] for name, buffer in self.buffers.items()}
        ux = self._filter(x, "ux")
        uxx = self._filter(np.multiply(x, x, out=b["t"]), "vx")
        vx = np.multiply(self.COV_NORM, np.subtract(uxx, np.multiply(ux, ux, out=b["ux2"]), out=b["vx"]), out=b["vx"])
        ux2 = np.multiply(ux, ux, out=b["ux2"])
        sums = []
        for y in ys:
            uy = self._filter(y, "uy")
            uyy = self._filter(np.multiply(y, y, out=b["t"]), "uyy")
            uxy = self._filter(np.multiply(x, y, out=b["t"]), "uxy")
            uy2 = np.multiply(uy, uy, out=b["t"])
            vy = np.multiply(self.COV_NORM, np.subtract(uyy, uy2, out=b["uyy"]), out=b["uyy"])
            vxy = np.multiply(self.COV_NORM, np.subtract(uxy, np.multiply(ux, uy, out=b["a"]), out=b["uxy"]), out=b["uxy"])
            a1 = np.add(np.multiply(np.multiply(2, ux, out=b["a"]), uy, out=b["a"]), self.C1, out=b["a"])
            a2 = np.add(np.multiply(2, vxy, out=b["uxy"]), self.C2, out=b["uxy"])
            b1 = np.add(np.add(ux2, uy2, out=b["b"]), self.C1, out=b["b"])
            b2 = np.add(np.add(vx, vy, out=b["uyy"]), self.C2, out=b["uyy"])
            ssim_map = np.divide(np.multiply(a1, a2, out=b["a"]), np.multiply(b1, b2, out=b["b"]), out=b["a"])
            sums.append(ssim_map[rows, columns].sum())
        return sums


def auc(image: np.ndarray, reference: np.ndarray) -> float:
    """Colorization AuC (x100): mean over t = 0..149 of the fraction of pixels whose CIE76 distance
    in the Lab a/b plane (L set to 0) is <= t. Float inputs are used as they are (the release fed its
    unclamped fused output). The pixels below each threshold are counted a strip of rows at a time
    (integer counts: the same value as one pass); see `auc_many`."""
    return auc_many([image], reference)[0]


_D65_WHITE = xyz_tristimulus_values(illuminant="D65", observer="2", dtype=np.float64)  # `rgb2lab`'s defaults


def _linear_rgb(values: np.ndarray) -> np.ndarray:
    """scikit-image's sRGB decoding (`rgb2xyz`), element for element, of float64 values."""
    linear = values / 12.92
    bright = values > 0.04045
    linear[bright] = np.power((values[bright] + 0.055) / 1.055, 2.4)
    return linear


_LINEAR_OF_UINT8 = _linear_rgb(np.arange(256) / 255.0)  # the decoding of every 8-bit level (`_as_float`'s values)


def _lab_ab(image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The a and b channels of scikit-image's `rgb2lab(_as_float(image))`, bit for bit: the same operations
    on the same values, the sRGB decoding of 8-bit images read from a table of its 256 values, and L (which
    AuC sets to 0) not computed."""
    linear = _LINEAR_OF_UINT8[image] if image.dtype == np.uint8 else _linear_rgb(_as_float(image))
    scaled = (linear @ xyz_from_rgb.T) / _D65_WHITE
    f = np.where(scaled > 0.008856, np.cbrt(scaled), 7.787 * scaled + 16.0 / 116.0)
    return 500.0 * (f[..., 0] - f[..., 1]), 200.0 * (f[..., 1] - f[..., 2])


def auc_many(images: list[np.ndarray], reference: np.ndarray, workers: int = 1) -> list[float]:
    """`auc` of several images against one reference: the reference's a/b computed once per strip, the
    strips shared between `workers` threads (NumPy computes without the GIL). A distance d is <= the
    integer t exactly when ceil(d) <= t, so the counts below each threshold are a cumulative histogram
    of ceil(d): integers, the same whatever the strips or the order."""
    counts = np.zeros((len(images), AUC_MAX_THRESHOLD), dtype=np.int64)

    def strip_counts(rows: tuple[int, int]) -> np.ndarray:
        top, bottom = rows
        a_ref, b_ref = _lab_ab(reference[top:bottom])
        found = np.zeros_like(counts)
        for k, image in enumerate(images):
            a, b = _lab_ab(image[top:bottom])
            da, db = a_ref - a, b_ref - b
            distances = np.sqrt(da * da + db * db)  # deltaE_cie76 with L = 0 on both sides
            levels = np.minimum(np.ceil(distances), AUC_MAX_THRESHOLD).astype(np.int64).ravel()
            found[k] = np.cumsum(np.bincount(levels, minlength=AUC_MAX_THRESHOLD + 1))[:AUC_MAX_THRESHOLD]
        return found

    strips = _strips(reference.shape[0])
    with ThreadPoolExecutor(max(1, min(workers, len(strips)))) as pool:
        for found in pool.map(strip_counts, strips):
            counts += found
    n_pixels = reference.shape[0] * reference.shape[1]
    values = []
    for image_counts in counts:
        total = 0.0
        for count in image_counts:  # summed in the release's order, so the float result matches it
            total += int(count) / n_pixels
        values.append(100 * total / AUC_MAX_THRESHOLD)
    return values


def pearson(x: np.ndarray, y: np.ndarray) -> float:
    """Pearson correlation coefficient of two 1-D samples (nan when either is constant: its deviations
    from a rounded mean would give a meaningless tiny number)."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if x.shape != y.shape or x.ndim != 1 or x.size < 2:
        raise ValueError(f"pearson needs two 1-D samples of equal length >= 2, got {x.shape} and {y.shape}")
    if np.ptp(x) == 0 or np.ptp(y) == 0:
        return float("nan")
    dx, dy = x - x.mean(), y - y.mean()
    denominator = math.sqrt(float(dx @ dx) * float(dy @ dy))
    return float(dx @ dy) / denominator if denominator > 0 else float("nan")


# ---------------------------------------------------------------------------------------------
# Calibration of phi: does phi say where the prior is right? phi is the per-pixel share of the
# output taken from the prior, out = (1 - phi) x + phi g; it is right to be high where the prior g is
# closer to the ground truth than the observation x. These functions measure that on HxW maps, for
# one image or for the pixels of an image set pooled together (the report, the fusion test).

ADVANTAGE_SMOOTHING = 2.0  # standard deviation in pixels of the Gaussian that smooths the advantage
CALIBRATION_STRIDE = 2  # pooled pixels: every 2nd pixel of every 2nd row (a quarter of them)
RELIABILITY_BINS = 20
# The fusion test's metrics.json records the share of phi outside [0, 1] under this key, per image
# (`images[k].bigprior.<key>`) and over the test images (`mean.bigprior.<key>`): its saved 8-bit phi
# maps are clamped, so the report can read it only there.
PHI_OUTSIDE_KEY = "phi_outside_share"


def source_advantage(others: list[np.ndarray], prior: np.ndarray, gt: np.ndarray,
                     smoothing: float = ADVANTAGE_SMOOTHING) -> np.ndarray:
    """The prior's per-pixel advantage over the best of the other sources of a fusion (HxW): the
    smallest of their absolute errors minus the prior's (each averaged over the channels), smoothed as
    in `prior_advantage`; with the observation as the only other source it is `prior_advantage`."""
    reference = _as_float(gt)
    errors = []
    for other in others:
        values = _as_float(other)
        values = values[..., None] if values.ndim == 2 else values
        if values.shape[:2] != reference.shape[:2] or values.shape[2] not in (1, reference.shape[2]):
            raise ValueError(f"source_advantage: a source of shape {values.shape} for a reference of {reference.shape}")
        errors.append(np.abs(values - reference).mean(axis=2))
    g = _as_float(prior)
    if g.shape != reference.shape or g.ndim != 3:
        raise ValueError(f"source_advantage needs HxWxC prior and gt, got {g.shape}, {reference.shape}")
    advantage = np.min(errors, axis=0) - np.abs(g - reference).mean(axis=2)
    return gaussian_filter(advantage, smoothing, mode="mirror", truncate=4.0) if smoothing > 0 else advantage


def prior_advantage(observation: np.ndarray, prior: np.ndarray, gt: np.ndarray,
                    smoothing: float = ADVANTAGE_SMOOTHING) -> np.ndarray:
    """The prior's per-pixel advantage over the observation, a = |x - gt| - |g - gt| (HxW), each
    absolute error averaged over the channels: > 0 where the prior is closer to the ground truth.

    `observation` is HxWx3, or HxW / HxWx1 (the luma of colorization), then compared with every
    channel of `gt` (broadcast to 3 channels, as the fusion broadcasts it). uint8 images are scaled to
    [0, 1]; float observations are used as they are (denoising's are unclipped).

    The map is smoothed by a Gaussian of standard deviation `smoothing` pixels (0: none; mirrored
    borders, so a constant map stays constant). Why: phi comes from a CNN and cannot see the noise of
    one pixel, only the local error level, while |x - gt| of a noisy observation changes wildly from
    pixel to pixel; a Gaussian of 2 px averages about 50 pixels (it cuts the standard deviation of
    pixel-independent noise by about 7) and keeps structures of about 5 px (a hole's edge, an object's
    outline). A Gaussian rather than a box: it weights near pixels most and leaves no square artefacts.
    """
    return source_advantage([observation], prior, gt, smoothing)


def phi_map(phi: np.ndarray) -> np.ndarray:
    """phi as an HxW map: the mean over the channels of an HxWxC phi (uint8 scaled to [0, 1])."""
    phi = _as_float(phi)
    return phi.mean(axis=2) if phi.ndim == 3 else phi


PHI_ROUNDING = 1e-6  # a multi-source phi is a sum of float32 shares: it may pass 1 by this much


def phi_outside_share(phi: np.ndarray | torch.Tensor) -> float:
    """Share of the values of phi (every channel of every pixel, any layout) outside [0, 1] (beyond float32
    rounding): where phi cannot be read as the share of the prior. 0 for a bounded phi and for the saved 8-bit maps."""
    values = phi.detach().cpu().numpy() if isinstance(phi, torch.Tensor) else np.asarray(phi)
    return float(np.mean((values < -PHI_ROUNDING) | (values > 1 + PHI_ROUNDING)))


def phi_statistics(phi: np.ndarray | torch.Tensor) -> dict[str, float]:
    """Mean and standard deviation of phi (every channel of every pixel) and its share outside [0, 1]:
    what the fusion test, restore and the demo record of a phi map."""
    values = phi.detach().cpu().numpy() if isinstance(phi, torch.Tensor) else np.asarray(phi)
    return {"phi_mean": float(values.mean()), "phi_std": float(values.std()), PHI_OUTSIDE_KEY: phi_outside_share(values)}


def calibration_pixels(phi: np.ndarray, advantage: np.ndarray, stride: int = CALIBRATION_STRIDE) -> tuple[np.ndarray, np.ndarray]:
    """The (phi, advantage) pairs of one image kept for pooling over an image set, as two flat
    float32 arrays: every `stride`-th pixel of every `stride`-th row, starting at the top-left (a
    deterministic subsample; neighbours of a 2 px-smoothed advantage carry little more)."""
    phi = phi_map(phi)
    if phi.shape != advantage.shape:
        raise ValueError(f"phi {phi.shape} and advantage {advantage.shape} differ in size")
    return (phi[::stride, ::stride].astype(np.float32).ravel(),
            np.asarray(advantage)[::stride, ::stride].astype(np.float32).ravel())


@dataclass
class Reliability:
    """Mean phi per bin of the advantage: `edges` (bins + 1), then per bin the mean advantage, the
    mean phi (nan for an empty bin) and the number of pixels."""

    edges: np.ndarray
    advantage: np.ndarray
    phi: np.ndarray
    counts: np.ndarray


def reliability_curve(phi: np.ndarray, advantage: np.ndarray, bins: int | np.ndarray = RELIABILITY_BINS) -> Reliability:
    """Mean phi per bin of the advantage, over flat arrays of pixels. `bins`: a number of bins of
    equal pixel count (edges at the quantiles of the advantage, repeated edges merged), or the edges
    themselves (increasing; as `np.histogram`, each bin holds [left, right) and the last [left, right],
    pixels outside the edges are left out)."""
    phi, advantage = _flat_pair(phi, advantage)
    if np.ndim(bins) == 0:
        edges = np.unique(np.quantile(advantage, np.linspace(0, 1, int(bins) + 1)))
        edges = edges if edges.size > 1 else np.repeat(edges, 2)
    else:
        edges = np.asarray(bins, dtype=np.float64)
    inside = (advantage >= edges[0]) & (advantage <= edges[-1])
    which = np.clip(np.searchsorted(edges, advantage[inside], side="right") - 1, 0, edges.size - 2)
    counts = np.bincount(which, minlength=edges.size - 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = lambda values: np.bincount(which, weights=values[inside], minlength=edges.size - 1) / counts  # noqa: E731
        return Reliability(edges, mean(advantage), mean(phi), counts)


@dataclass
class ROC:
    """phi as a detector of the pixels where the prior is better (advantage > 0): true and false
    positive rates at every threshold "phi >= t", from the highest t down, and the area under it."""

    false_positive_rate: np.ndarray
    true_positive_rate: np.ndarray
    auc: float  # nan when every pixel is of one class


def roc_curve(phi: np.ndarray, advantage: np.ndarray) -> ROC:
    """ROC of phi against the pixels where the prior is better (advantage > 0). Equal phi values form
    one threshold, so ties count one half: the AUC is the probability that a random pixel where the
    prior is better has a higher phi than one where it is not (Mann-Whitney)."""
    phi, advantage = _flat_pair(phi, advantage)
    levels, level_of = np.unique(phi, return_inverse=True)
    positives = np.bincount(level_of, weights=advantage > 0, minlength=levels.size)[::-1]
    negatives = np.bincount(level_of, minlength=levels.size)[::-1] - positives
    true_positives = np.concatenate([[0.0], np.cumsum(positives)])
    false_positives = np.concatenate([[0.0], np.cumsum(negatives)])
    if true_positives[-1] == 0 or false_positives[-1] == 0:
        nan = np.full_like(true_positives, np.nan)
        return ROC(nan, nan, float("nan"))
    tpr, fpr = true_positives / true_positives[-1], false_positives / false_positives[-1]
    return ROC(fpr, tpr, float(np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1]) / 2)))


@dataclass
class Calibration:
    """How well phi says where the prior is right, over a set of pixels."""

    pixels: int
    prior_better_share: float  # share of pixels with advantage > 0
    pearson: float  # correlation of phi and the advantage (nan when phi is constant)
    phi_where_prior_better: float  # mean phi over the pixels with advantage > 0 (nan: none)
    phi_where_observation_better: float  # ... with advantage <= 0
    roc: ROC
    reliability: Reliability


def calibration(phi: np.ndarray, advantage: np.ndarray, bins: int | np.ndarray = RELIABILITY_BINS) -> Calibration:
    """Every calibration statistic of flat arrays of (phi, advantage) pixels, e.g. the concatenated
    `calibration_pixels` of an image set."""
    phi, advantage = _flat_pair(phi, advantage)
    better = advantage > 0
    mean_or_nan = lambda values: float(values.mean()) if values.size else float("nan")  # noqa: E731
    return Calibration(
        pixels=int(phi.size),
        prior_better_share=float(better.mean()),
        pearson=pearson(phi, advantage),
        phi_where_prior_better=mean_or_nan(phi[better]),
        phi_where_observation_better=mean_or_nan(phi[~better]),
        roc=roc_curve(phi, advantage),
        reliability=reliability_curve(phi, advantage, bins),
    )


def _flat_pair(phi: np.ndarray, advantage: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    phi, advantage = np.asarray(phi, dtype=np.float64).ravel(), np.asarray(advantage, dtype=np.float64).ravel()
    if phi.size != advantage.size or phi.size < 2:
        raise ValueError(f"calibration needs phi and advantage of equal size >= 2, got {phi.size} and {advantage.size}")
    return phi, advantage


# ---------------------------------------------------------------------------------------------
# LPIPS (Zhang et al. 2018), as the paper computed it: PerceptualSimilarity's 'net-lin' model on
# AlexNet features, version 0.0 (that release fed the [-1, 1] images to AlexNet without its
# ImageNet scaling layer; version 0.1 scales them). Its weights cannot be downloaded by this
# project: they are read from files, and a report without them says so.

LPIPS_VERSIONS = ("0.0", "0.1")
_ALEXNET_SLICES = ((0, 2), (2, 5), (5, 8), (8, 10), (10, 12))  # relu1 .. relu5
_ALEXNET_CHANNELS = (64, 192, 384, 256, 256)
_LPIPS_SHIFT = (-0.030, -0.088, -0.188)
_LPIPS_SCALE = (0.458, 0.448, 0.450)


class LPIPS(nn.Module):
    """LPIPS distance on AlexNet features; `forward` takes NCHW images in [-1, 1] and returns N distances."""

    def __init__(self, version: str = "0.0") -> None:
        super().__init__()
        if version not in LPIPS_VERSIONS:
            raise BIGPriorError(f"LPIPS version must be one of {', '.join(LPIPS_VERSIONS)}, got {version!r}")
        import torchvision  # only here: importing it costs a second, and only LPIPS needs it

        self.version = version
        features = torchvision.models.alexnet(weights=None).features
        self.slices = nn.ModuleList(nn.Sequential(*features[a:b]) for a, b in _ALEXNET_SLICES)
        self.lins = nn.ModuleList(nn.Conv2d(c, 1, 1, bias=False) for c in _ALEXNET_CHANNELS)
        self.register_buffer("shift", torch.tensor(_LPIPS_SHIFT).view(1, 3, 1, 1))
        self.register_buffer("scale", torch.tensor(_LPIPS_SCALE).view(1, 3, 1, 1))
        self.requires_grad_(False)
        self.eval()

    def load_weight_files(self, alexnet_path: Path, linear_path: Path) -> None:
        for path in (alexnet_path, linear_path):
            if not path.is_file():
                raise BIGPriorError(f"{path}: LPIPS weights not found")
        try:
            state = torch.load(alexnet_path, map_location="cpu", weights_only=True)
            features = {k.removeprefix("features."): v for k, v in state.items() if k.startswith("features.")}
            nn.Sequential(*(layer for part in self.slices for layer in part)).load_state_dict(features)  # indices as in AlexNet
        except Exception as exc:  # torch raises several types for corrupt or foreign files
            raise BIGPriorError(f"{alexnet_path}: not torchvision's AlexNet state dict ({exc.__class__.__name__})") from exc
        try:
            linear = torch.load(linear_path, map_location="cpu", weights_only=True)
        except Exception as exc:
            raise BIGPriorError(f"{linear_path}: not a readable LPIPS weight file ({exc.__class__.__name__})") from exc
        for k, (lin, channels) in enumerate(zip(self.lins, _ALEXNET_CHANNELS)):
            weight = linear.get(f"lin{k}.model.1.weight") if isinstance(linear, dict) else None
            if weight is None or tuple(weight.shape) != (1, channels, 1, 1):
                raise BIGPriorError(f"{linear_path}: expected key lin{k}.model.1.weight of shape (1, {channels}, 1, 1)")
            lin.weight.data.copy_(weight)

    def forward(self, image: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
        if self.version == "0.1":
            image, reference = (image - self.shift) / self.scale, (reference - self.shift) / self.scale
        total = torch.zeros(image.shape[0], device=image.device)
        for layer, lin in zip(self.slices, self.lins):
            image, reference = layer(image), layer(reference)
            difference = (_unit_channels(image) - _unit_channels(reference)) ** 2
            total = total + lin(difference).mean(dim=(1, 2, 3))
        return total


def _unit_channels(features: torch.Tensor, eps: float = 1e-10) -> torch.Tensor:
    return features / (features.pow(2).sum(dim=1, keepdim=True).sqrt() + eps)


def load_lpips(folder: str | os.PathLike | None = None, version: str = "0.0", device: str | torch.device = "cpu",
               weights_dir: str | os.PathLike | None = None) -> LPIPS:
    """The LPIPS model with its weights from `folder` or the model zoo's places (`zoo.find_lpips_weights`);
    a BIGPriorError naming the missing or unreadable file otherwise (nothing is downloaded)."""
    model = LPIPS(version)
    model.load_weight_files(*find_lpips_weights(folder, weights_dir, version))
    return model.to(device)


def lpips(model: LPIPS, image: np.ndarray, reference: np.ndarray) -> float:
    """LPIPS distance of two HxWx3 images (uint8 or float in [0, 1]), mapped to [-1, 1] as the paper's
    `im2tensor` did."""
    device = model.shift.device
    to_tensor = lambda a: torch.from_numpy(2 * _as_float(a) - 1).permute(2, 0, 1)[None].float().to(device)  # noqa: E731
    with torch.no_grad():
        return float(model(to_tensor(image), to_tensor(reference))[0])
