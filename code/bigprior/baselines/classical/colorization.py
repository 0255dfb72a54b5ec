"""Colorization peers: the observed luma with the chroma that training images have on average.

Chroma is the Cb/Cr pair of full-range ITU-R 601 YCbCr (JPEG's, PIL's), centred at 0: the luma weights are
the colorization task's own (`degradations.LUMA_WEIGHTS`), so adding any chroma to a grey pixel leaves its
luma unchanged. The mean chroma is the least-squares constant: for a fixed luma, the RGB error is linear
in the chroma error, so the mean of the training pixels' chroma minimises the expected squared error.

- `MeanChroma`: one chroma for every pixel (two numbers), the mean over the training images' pixels.
- `LumaChroma`: the mean chroma of the training pixels of each 8-bit luma level (a 256-entry table),
  each entry shrunk towards the global mean by `prior_count` pseudo-pixels (levels with few pixels).

Where the chroma would take a pixel out of the RGB cube, it is scaled down for that pixel (towards grey),
never clipped, so the output's luma is the observation's exactly (up to float32 and the 8-bit file).
The defaults (used by `bigprior restore`, without an experiment) are the fit on the LSUN training images
0..249 of bedroom, church and conference, made by `experiments/peers/tune.py`; `bigprior peers` fits
each experiment's own training split and records the result in the method's settings.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from importlib import resources
from typing import TYPE_CHECKING, ClassVar

import numpy as np

from ...progress import progress_bar
from ... import imageio
from ...degradations import LUMA_WEIGHTS, Colorization, Observation
from .base import ClassicalMethod, observed_array, register

if TYPE_CHECKING:
    from ...experiment import Experiment

LEVELS = 256


def _rgb_to_ycbcr() -> np.ndarray:
    """3x3 matrix of RGB -> (Y, Cb, Cr - centred at 0), Cb = (B - Y) / (2 (1 - wB)), Cr = (R - Y) / (2 (1 - wR))."""
    luma = np.array(LUMA_WEIGHTS, dtype=np.float64)
    cb = (np.eye(3)[2] - luma) / (2 * (1 - luma[2]))
    cr = (np.eye(3)[0] - luma) / (2 * (1 - luma[0]))
    return np.stack([luma, cb, cr])


RGB_TO_YCBCR = _rgb_to_ycbcr()
CHROMA_TO_RGB = np.linalg.inv(RGB_TO_YCBCR)[:, 1:]  # 3x2: the RGB offset of a (Cb, Cr) pair, of luma 0


def chroma(rgb: np.ndarray) -> np.ndarray:
    """HxWx3 RGB in [0, 1] -> HxWx2 (Cb, Cr), centred at 0."""
    return np.asarray(rgb, dtype=np.float64) @ RGB_TO_YCBCR[1:].T


def colorize(luma: np.ndarray, chroma_of_pixels: np.ndarray) -> np.ndarray:
    """RGB (HxWx3 float64) of an HxW luma in [0, 1] and a chroma per pixel (HxWx2, or one pair of 2):
    luma + t * offset(chroma), with t in [0, 1] per pixel the largest that keeps the pixel in the RGB cube."""
    y = np.clip(np.asarray(luma, dtype=np.float64), 0.0, 1.0)[:, :, None]
    offset = np.broadcast_to(np.asarray(chroma_of_pixels, dtype=np.float64), (*y.shape[:2], 2)) @ CHROMA_TO_RGB.T
    with np.errstate(divide="ignore", invalid="ignore"):
        room = np.where(offset > 0, (1 - y) / offset, np.where(offset < 0, y / -offset, np.inf))
    scale = np.minimum(1.0, room.min(axis=2, keepdims=True))
    return y + scale * offset


@dataclasses.dataclass
class ChromaStatistics:
    """Per 8-bit luma level of the observation: the number of training pixels and their chroma sums."""

    counts: np.ndarray  # (256,)
    sums: np.ndarray  # (256, 2)

    @classmethod
    def of_images(cls, pairs: Sequence[tuple[np.ndarray, np.ndarray]]) -> ChromaStatistics:
        """From (observed luma HxW in [0, 1], ground truth HxWx3 in [0, 1]) pairs."""
        counts, sums = np.zeros(LEVELS), np.zeros((LEVELS, 2))
        for luma, gt in pairs:
            levels = luma_levels(luma).ravel()
            counts += np.bincount(levels, minlength=LEVELS)
            values = chroma(gt).reshape(-1, 2)
            for k in range(2):
                sums[:, k] += np.bincount(levels, weights=values[:, k], minlength=LEVELS)
        return cls(counts, sums)

    @classmethod
    def of_experiment(cls, experiment: Experiment, indices: Sequence[int]) -> ChromaStatistics:
        """From an experiment's training images: their observations (input/) and ground truths (GT/)."""
        pairs = ((experiment.read_observation(i)[0].numpy(), imageio.chw_to_hwc(experiment.read_gt(i)))
                 for i in progress_bar(indices, desc=f"chroma of the training images of {experiment.name}", leave=False))
        return cls.of_images(list(pairs))

    def mean(self) -> np.ndarray:
        return self.sums.sum(axis=0) / self.counts.sum()

    def table(self, prior_count: float) -> np.ndarray:
        """(256, 2) mean chroma per level, each shrunk towards the global mean by `prior_count` pixels
        (a level without training pixels: the global mean)."""
        weight = (self.counts + prior_count)[:, None]
        with np.errstate(divide="ignore", invalid="ignore"):
            table = (self.sums + prior_count * self.mean()) / weight
        return np.where(weight > 0, table, self.mean())


def luma_levels(luma: np.ndarray) -> np.ndarray:
    """The 8-bit level of each luma value in [0, 1] (rounded: the observation files' own levels)."""
    return np.clip(np.rint(np.asarray(luma, dtype=np.float64) * 255), 0, LEVELS - 1).astype(np.intp)


@dataclasses.dataclass(frozen=True)
class ChromaColorizer(ClassicalMethod):
    """The observed luma with a chroma given per pixel by `chroma_of`."""

    serves: ClassVar[tuple] = (Colorization,)
    learns: ClassVar[bool] = True

    def restore(self, observation: Observation) -> np.ndarray:
        """The colorized observation, a block of rows at a time (per pixel: the same values with float64
        temporaries of a block's size; a 12-megapixel photo's are 288 MB each)."""
        luma = observed_array(observation)[:, :, 0]
        return imageio.by_rows(lambda rows: colorize(rows, self.chroma_of(rows)).astype(np.float32), luma)

    def chroma_of(self, luma: np.ndarray) -> np.ndarray:
        raise NotImplementedError


@register
@dataclasses.dataclass(frozen=True)
class MeanChroma(ChromaColorizer):
    """The luma with the training images' mean chroma. Defaults: experiments/peers/tune.py's fit on LSUN
    training images 0..249 of bedroom, church and conference."""

    name: ClassVar[str] = "MeanChroma"
    title: ClassVar[str] = "luma + the training images' mean chroma (YCbCr)"
    cb: float = -0.02105221564250195  # experiments/peers/tune.py: LSUN 0..249 of bedroom, church, conference
    cr: float = 0.018199948165076887

    @classmethod
    def fit(cls, experiment: Experiment, train_indices: Sequence[int]) -> MeanChroma:
        return cls.from_statistics(ChromaStatistics.of_experiment(experiment, train_indices))

    @classmethod
    def from_statistics(cls, statistics: ChromaStatistics) -> MeanChroma:
        cb, cr = statistics.mean()
        return cls(float(cb), float(cr))

    def chroma_of(self, luma: np.ndarray) -> np.ndarray:
        return np.array([self.cb, self.cr])


def _default_table(key: str) -> tuple[float, ...]:
    """The LumaChroma table shipped in assets/peers/luma_chroma.json (written by experiments/peers/tune.py)."""
    text = resources.files("bigprior").joinpath("assets/peers/luma_chroma.json").read_text()
    return tuple(json.loads(text)["settings"][key])


@register
@dataclasses.dataclass(frozen=True)
class LumaChroma(ChromaColorizer):
    """The luma with the training pixels' mean chroma at that luma level (a 256-entry table per channel);
    between levels (a photo that is not 8-bit) the table is interpolated linearly."""

    name: ClassVar[str] = "LumaChroma"
    title: ClassVar[str] = "luma + the training images' mean chroma at that luma (256-entry table)"
    PRIOR_COUNT: ClassVar[float] = 10000.0  # picked by experiments/peers/tune.py (fit on 10..249, scored on 0..9)
    cb: tuple[float, ...] = dataclasses.field(default_factory=lambda: _default_table("cb"))
    cr: tuple[float, ...] = dataclasses.field(default_factory=lambda: _default_table("cr"))
    prior_count: float = PRIOR_COUNT

    def __post_init__(self) -> None:
        if len(self.cb) != LEVELS or len(self.cr) != LEVELS:
            raise ValueError(f"cb and cr need {LEVELS} entries, got {len(self.cb)} and {len(self.cr)}")

    @classmethod
    def fit(cls, experiment: Experiment, train_indices: Sequence[int]) -> LumaChroma:
        return cls.from_statistics(ChromaStatistics.of_experiment(experiment, train_indices))

    @classmethod
    def from_statistics(cls, statistics: ChromaStatistics, prior_count: float = PRIOR_COUNT) -> LumaChroma:
        table = statistics.table(prior_count)
        return cls(tuple(map(float, table[:, 0])), tuple(map(float, table[:, 1])), prior_count)

    def chroma_of(self, luma: np.ndarray) -> np.ndarray:
        position = np.clip(np.asarray(luma, dtype=np.float64), 0, 1) * (LEVELS - 1)
        levels = np.arange(LEVELS)
        return np.stack([np.interp(position, levels, self.cb), np.interp(position, levels, self.cr)], axis=-1)
