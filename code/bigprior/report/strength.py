"""How far the trained account of the prior's share is from the best constant rescaling of it: PSNR (and
AuC for colorization) of each experiment's test outputs re-blended with the prior's share scaled by a
strength s in [0, 1.5] (`Restoration.reblend`, the steering `bigprior restore --prior_strength` applies).

The re-blends are made from the saved test outputs: the observation (`input/`), the sources (the prior,
the classical methods of a multi-source fusion), and the shares the fusion test saved (`{i}_phi.png`,
8 bits, for the paper's fusion; `{i}_shares.npy` for a multi-source one). s = 1 is the trained fusion as
those saved shares give it, so its PSNR can differ from the table's (which scores the saved output image)
by the 8-bit rounding of phi.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .. import imageio
from ..degradations import Observation
from ..experiment import FUSION_ARGS_FILE, SHARES_ARRAY_SUFFIX
from ..fusion.data import source_names, source_path
from ..fusion.options import FusionOptions
from ..restoration import Restoration, Steering, blend, source_of
from ..scoring import score_image
from .entries import BIGPRIOR, Entry

STRENGTHS = tuple(round(s, 2) for s in np.linspace(0.0, 1.5, 16))  # 0, 0.1, ..., 1.5


@dataclass
class StrengthCurve:
    """Mean scores of an experiment's test images at each prior strength."""

    title: str
    strengths: np.ndarray
    psnr: np.ndarray
    auc: np.ndarray | None  # colorization only

    def at(self, strength: float) -> int:
        return int(np.argmin(np.abs(self.strengths - strength)))

    @property
    def best(self) -> int:
        """The strength of the highest mean PSNR."""
        return int(np.argmax(self.psnr))


def saved_restoration(entry: Entry, options: FusionOptions, index: int) -> Restoration:
    """One test image's fusion as its saved files give it (no known pixels pasted: as the fusion test)."""
    experiment = entry.experiment
    x = experiment.read_observation(index)
    height, width = x.shape[-2:]
    mask = experiment.read_mask(index, height, width) if experiment.degradation.has_mask else None
    spec = options.spec()
    names = source_names(spec)
    images = [imageio.read_rgb(source_path(experiment, name, index)) for name in names]
    folder = entry.methods[BIGPRIOR]
    if spec.sources:
        shares = imageio.read_npy(folder / f"{index}{SHARES_ARRAY_SUFFIX}").astype(np.float32)
    else:
        shares = imageio.float_from_uint8(imageio.read_rgb(folder / f"{index}_phi.png"))[None]
    observation = Observation(x=x, mask=mask)
    out = np.clip(blend(observation, images, shares), 0, 1)
    return Restoration(observation, tuple(map(source_of, names)), images, shares, out, 0, keep_known=False)


def strength_curve(entry: Entry, strengths: Sequence[float] = STRENGTHS) -> StrengthCurve | None:
    """The curve of one experiment (None when its fusion test's options are not recorded)."""
    record = entry.methods[BIGPRIOR] / FUSION_ARGS_FILE
    if not record.is_file():
        return None
    options = FusionOptions.load(entry.methods[BIGPRIOR])
    color = entry.experiment.degradation.color_metrics
    psnr, auc = np.zeros((len(entry.indices), len(strengths))), np.zeros((len(entry.indices), len(strengths)))
    for row, index in enumerate(entry.indices):
        restoration = saved_restoration(entry, options, index)
        gt = imageio.read_rgb(entry.experiment.gt_path(index))
        for column, strength in enumerate(strengths):
            steered = restoration.reblend(Steering(prior_strength=strength))  # s = 1: the restoration itself
            scores = score_image(imageio.uint8_from_float(steered.restored), gt, color_metrics=color)
            psnr[row, column] = scores["psnr"]
            auc[row, column] = scores.get("auc", np.nan)
    return StrengthCurve(entry.title, np.asarray(strengths), psnr.mean(axis=0), auc.mean(axis=0) if color else None)
