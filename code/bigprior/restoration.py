"""One restored photo and the account of where each of its pixels came from.

BIGPrior's output is a per-pixel blend of sources, out = sum_k w_k s_k with w_k >= 0 and sum_k w_k = 1
in the bounded fusions (the paper's phi is unbounded and may leave [0, 1]):

- the observation x itself (the *data*: `SourceKind.DATA`), always source 0;
- a generative prior, the GAN inverted onto x (`SourceKind.GENERATIVE`: its weight is the share of
  the output that the network hallucinated);
- classical restorations of x (`SourceKind.CLASSICAL`: hand-designed methods such as NL-means or Telea).

The paper's fusion is the case of one generative source, out = (1 - phi) x + phi g: phi, the share of
the prior, is `Restoration.phi`, 1 minus the data's share in every fusion. A `Restoration` keeps the
observation, every source image, every share and the result, so that it can be scored (`scores`, with
the package's metric registry), written (`writer.py`) and re-blended (`reblend`): a new account of the
same sources costs one blend, not a new inversion. This module sits below the pipeline, which makes
restorations, and the writer and the app, which show them.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from . import imageio, metrics
from .degradations import Observation
from .errors import BIGPriorError
from .fusion.spec import GENERATIVE_PRIOR
from .scoring import Scorer, score_outputs


class SourceKind(str, enum.Enum):
    DATA = "data"
    CLASSICAL = "classical"
    GENERATIVE = "generative"


@dataclass(frozen=True)
class Source:
    """A source of a fusion other than the observation: its name (the score label and file name) and kind."""

    name: str
    kind: SourceKind
    title: str


GAN_PRIOR = Source("prior", SourceKind.GENERATIVE, "generative prior")
SHARE_COLOURS = {SourceKind.DATA: (0.15, 0.35, 0.95), SourceKind.CLASSICAL: (0.1, 0.8, 0.2),
                 SourceKind.GENERATIVE: (0.95, 0.15, 0.1)}  # the share pictures: data blue, classical green, generative red


def source_of(name: str) -> Source:
    """The source a fusion network's `--sources` name stands for: `gan` the generative prior, any other
    a classical method (its outputs in `<name>output/`)."""
    return GAN_PRIOR if name == GENERATIVE_PRIOR else Source(name, SourceKind.CLASSICAL, name)


def kind_shares(sources: Sequence[Source], shares: np.ndarray) -> dict[SourceKind, np.ndarray]:
    """HxW share of each kind of source (channel mean of `shares`, S x H x W x C): data, classical,
    generative; they add up to 1 (the data's is what the others leave)."""
    kinds = {kind: np.zeros(shares.shape[1:3], np.float32) for kind in SourceKind}
    for source, share in zip(sources, shares):
        kinds[source.kind] += share.mean(axis=2)
    kinds[SourceKind.DATA] = 1 - kinds[SourceKind.CLASSICAL] - kinds[SourceKind.GENERATIVE]
    return kinds


def share_picture(kinds: dict[SourceKind, np.ndarray]) -> np.ndarray:
    """HxWx3 uint8: each pixel the mixture of the kinds' colours (SHARE_COLOURS) by their shares, clamped."""
    def rows(*shares: np.ndarray) -> np.ndarray:
        picture = np.zeros((*shares[0].shape, 3), np.float32)
        for kind, share in zip(kinds, shares):
            picture += np.clip(share, 0, 1)[..., None] * np.asarray(SHARE_COLOURS[kind], np.float32)
        return imageio.uint8_from_float(picture)

    return imageio.by_rows(rows, *kinds.values())


def observed_picture(observation: Observation) -> np.ndarray:
    """The observation as an HxWx3 float32 picture in [0, 1] (grey replicated, clamped): what the
    fusion saw, as it can be shown."""
    return imageio.chw_to_hwc(observation.x.clamp(0, 1).expand(3, -1, -1)).astype(np.float32)


def observed_uint8(observation: Observation) -> np.ndarray:
    """`observed_picture` as 8 bits (`imageio.uint8_from_float`), a block of rows at a time."""
    x, block = observation.x, imageio.ROW_BLOCK
    return np.concatenate([imageio.uint8_from_float(observed_picture(Observation(x[:, top : top + block])))
                           for top in range(0, x.shape[-2], block)])


def observation_values(observation: Observation) -> np.ndarray:
    """The observation's values as the blend uses them: HxWx3 float32 (grey broadcast), unclamped."""
    return imageio.chw_to_hwc(observation.x.expand(3, -1, -1)).astype(np.float32)


def known_pixels(observation: Observation) -> np.ndarray | None:
    """HxW bool: where the observation carries data (None: everywhere)."""
    if observation.mask is None:
        return None
    return observation.mask[0].cpu().numpy() < 0.5


def paste_known(out: np.ndarray, observation: Observation, values: np.ndarray | None = None) -> np.ndarray:
    """The observed pixels put back exactly where the observation knows them (in place; returned);
    `values`: `observation_values(observation)` when the caller has them already."""
    known = known_pixels(observation)
    if known is not None:
        np.copyto(out, observation_values(observation) if values is None else values, where=known[..., None])
    return out


UINT8_VALUES = (np.arange(256, dtype=np.float64) / 255.0).astype(np.float32)  # imageio.float_from_uint8 of each byte


def blend(observation: Observation, images: list[np.ndarray], shares: np.ndarray,
          values: np.ndarray | None = None) -> np.ndarray:
    """sum_k w_k s_k, HxWx3 float32 unclamped: the observation weighted by 1 minus the sources' shares
    (`shares`: S x H x W x C, C = 1 or 3), each source image (HxWx3, uint8 or float in [0, 1]) by its share;
    `values`: `observation_values(observation)` when the caller has them already. The same float32
    operations as (1 - sum w) x + sum w s, done in place (a 12 MP re-blend is the app's slider)."""
    out = np.empty((*shares.shape[1:3], 3), np.float32)
    np.subtract(1, shares[0] if len(shares) == 1 else shares.sum(axis=0), out=out, dtype=np.float32)
    out *= observation_values(observation) if values is None else values
    term = np.empty_like(out)
    for image, share in zip(images, shares):
        if image.dtype == np.uint8:
            out += np.multiply(share, UINT8_VALUES[image], out=term)
        else:
            out += share * image
    return out


@dataclass(frozen=True)
class Steering:
    """A person's say over the generative share (per pixel, after the fusion network's account):
    `prior_strength` s scales it, `max_phi` c caps it, inside `protect` it is 0 (the observation, or
    the classical sources, there) and inside `prior_region` 1 (the prior alone); then it is clipped to
    [0, 1]. The other sources share what is left in the proportions the network gave them. Masks are
    HxW bool arrays of the photo's size. The default steers nothing."""

    prior_strength: float = 1.0
    max_phi: float = 1.0
    protect: np.ndarray | None = None
    prior_region: np.ndarray | None = None

    @property
    def is_identity(self) -> bool:
        return self.prior_strength == 1 and self.max_phi >= 1 and self.protect is None and self.prior_region is None

    def generative(self, share: np.ndarray) -> np.ndarray:
        """The steered generative share of a share map (H x W x C)."""
        steered = np.multiply(self.prior_strength, share, dtype=np.float32)
        np.minimum(steered, np.float32(self.max_phi), out=steered)
        if self.protect is not None:
            steered[self.protect] = 0
        if self.prior_region is not None:
            steered[self.prior_region] = 1
        return np.clip(steered, 0, 1, out=steered)


@dataclass
class Restoration:
    """One restored photo at its own size, with its sources and their per-pixel shares."""

    observation: Observation
    sources: tuple[Source, ...]  # the sources besides the observation, in the fusion network's order
    images: list[np.ndarray]  # HxWx3 uint8 image of each source, at the photo's size
    shares: np.ndarray  # S x H x W x C float32: each source's share of each pixel (the observation: 1 - their sum)
    restored: np.ndarray  # HxWx3 float32 in [0, 1]: the blend, with the known pixels pasted back
    prior_resolution: int  # side of the generator's images the prior was made at
    keep_known: bool = True  # whether the observed pixels were pasted back where known
    working_sigma: float | None = None  # noise level of the observation on the generator's grid
    clean: np.ndarray | None = None  # float32 ground truth in [0, 1], when the photo was degraded here
    notes: list[str] = field(default_factory=list)
    _scores: dict | None = field(default=None, repr=False)
    _values: np.ndarray | None = field(default=None, repr=False)  # observation_values, once

    @property
    def size(self) -> tuple[int, int]:
        """(width, height)."""
        return self.restored.shape[1], self.restored.shape[0]

    @property
    def phi(self) -> np.ndarray:
        """HxWxC: 1 minus the observation's share (the paper's phi, the prior's share of its fusion)."""
        return self.shares[0] if len(self.sources) == 1 else self.shares.sum(axis=0)

    @property
    def prior(self) -> np.ndarray:
        """The generative prior's image (uint8, the photo's size)."""
        return self.images[self.sources.index(self._generative_source())]

    def _generative_source(self) -> Source:
        return next(s for s in self.sources if s.kind is SourceKind.GENERATIVE)

    def kind_shares(self) -> dict[SourceKind, np.ndarray]:
        """HxW share of each kind of source: data, classical, generative (`kind_shares`)."""
        return kind_shares(self.sources, self.shares)

    def observed(self) -> np.ndarray:
        """What the fusion saw, as an HxWx3 float32 picture in [0, 1] (grey replicated)."""
        return observed_picture(self.observation)

    def scores(self, scorer: Scorer = Scorer()) -> dict:
        """Mean shares and phi statistics and, with a ground truth, every registered metric (`bigprior.scoring`)
        of the degraded input, each source and BIGPrior (its 8-bit image, as written) at the photo's
        resolution (`<label>_<metric>`)."""
        if self._scores is None:
            result = {**metrics.phi_statistics(self.phi), "prior_resolution": self.prior_resolution,
                      "width": self.size[0], "height": self.size[1]}
            result.update({f"{kind.value}_share": float(share.mean()) for kind, share in self.kind_shares().items()})
            if self.working_sigma is not None:
                result["working_sigma"] = self.working_sigma
            if self.clean is not None:
                # the result as written (8 bits), so that a restoration read back from its files scores the same
                outputs = {"degraded": self.observed(), **{s.name: image for s, image in zip(self.sources, self.images)},
                           "bigprior": imageio.uint8_from_float(self.restored)}
                result.update(score_outputs(outputs, self.clean, color_metrics=self.observation.x.shape[0] == 1, scorer=scorer))
            self._scores = result
        return self._scores

    def observation_values(self) -> np.ndarray:
        """`observation_values` of the observation, made once per restoration and kept by its re-blends."""
        if self._values is None:
            self._values = observation_values(self.observation)
        return self._values

    def reblend(self, steering: Steering) -> Restoration:
        """The same sources with the generative share steered (`Steering`); the observation and the
        classical sources share the rest in their former proportions. Where the observation has no data
        (a hole) it keeps no share: the classical sources take the rest there, and where there are none
        the prior stays the only source whatever the steering (said in the notes). `keep_known` applies
        after the blend as in the fusion. The default steering returns this restoration itself."""
        if steering.is_identity:
            return self
        generative = np.array([s.kind is SourceKind.GENERATIVE for s in self.sources])
        # one generative source: its share is the generative share (a view; a sum of one array is that array)
        old_prior = self.shares[generative].sum(axis=0) if generative.sum() > 1 else self.shares[np.flatnonzero(generative)[0]]
        new_prior = steering.generative(old_prior)
        known = known_pixels(self.observation)
        notes = list(self.notes)
        if known is not None and generative.all():  # nothing but the prior can fill a hole
            np.copyto(new_prior, old_prior, where=~known[..., None])
            notes.append(f"{int((~known).sum())} pixels without data kept the prior as their only source")
        shares = self._steered_shares(generative, old_prior, new_prior, known)
        values = self.observation_values()
        out = blend(self.observation, self.images, shares, values)
        if self.keep_known:
            paste_known(out, self.observation, values)
        return replace(self, shares=shares, restored=np.clip(out, 0, 1, out=out), notes=notes, _scores=None)

    def _steered_shares(self, generative: np.ndarray, old_prior: np.ndarray, new_prior: np.ndarray,
                        known: np.ndarray | None) -> np.ndarray:
        """Every source's share once the generative share goes from `old_prior` to `new_prior` (`reblend`)."""
        if len(generative) == 1 and generative[0]:  # the paper's fusion: the prior's share is the steered one (w / w * new = new)
            return new_prior[None]
        shares = self.shares.copy()
        classical = shares[~generative]
        with np.errstate(divide="ignore", invalid="ignore"):
            for k in np.flatnonzero(generative):  # each generative source keeps its part of the generative share
                shares[k] = np.where(old_prior != 0, shares[k] / old_prior, 1 / generative.sum()) * new_prior
            rest_old, rest_new = 1 - old_prior, 1 - new_prior
            classical *= np.where(rest_old != 0, rest_new / rest_old, 0)
            if known is not None and classical.size:  # a hole: the observation's would-be share to the classical sources
                hole = ~known
                total = classical.sum(axis=0)
                proportion = np.where(total > 0, classical / total, 1 / classical.shape[0])
                classical[:, hole] += (proportion * (rest_new - total))[:, hole]
        shares[~generative] = classical
        return shares


def steering_of(prior_strength: float, max_phi: float, protect: np.ndarray | None, prior_region: np.ndarray | None,
                size: tuple[int, int]) -> Steering:
    """A checked Steering for a photo of `size` (width, height): a strength >= 0, a cap in [0, 1], masks
    (HxW bool) of the photo's size. Errors name the flags."""
    if not np.isfinite(prior_strength) or prior_strength < 0:
        raise BIGPriorError(f"--prior_strength must be a number >= 0, got {prior_strength}")
    if not 0 <= max_phi <= 1:
        raise BIGPriorError(f"--max_phi must be in [0, 1], got {max_phi}")
    for flag, mask in (("--protect", protect), ("--prior_region", prior_region)):
        if mask is not None and mask.shape != (size[1], size[0]):
            raise BIGPriorError(f"{flag}: the mask is {mask.shape[1]}x{mask.shape[0]} but the photo is {size[0]}x{size[1]}")
    return Steering(prior_strength, max_phi, protect, prior_region)
