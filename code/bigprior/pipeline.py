"""The invert-then-fuse pipeline, at the photo's own resolution (used by restore, the demo and the
inversion scripts' `--resize True` through the same `Inverter`).

    pipeline = Pipeline.from_defaults("inpcrop")                  # the built-in generator and fusion network
    pipeline = Pipeline.from_files("denblind", "gen.pth", "net_data/denblind_bedroom_0")
    restoration = pipeline.restore(observation)                    # an Observation of any size

The generator is tied to its resolution, the fusion network is not: the observation is brought to the
generator's grid (`Degradation.at_size`: the mask carried over conservatively, the noise level of the
resampled noise), the generator is inverted there, the prior is resized back to the photo's size, and
the fusion network runs on the photo's own pixels, `out = (1 - phi) x + phi up(g)`, in overlapping tiles
(overlap = the network's receptive field, so tiles agree with one pass up to float rounding). With
`keep_known` the known pixels of a masked observation are pasted back exactly. Scores are computed at
the photo's resolution, in strips of rows so that memory stays bounded on large photos.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import torch
from skimage.metrics import structural_similarity
from torch import nn

from . import imageio, metrics
from .defaults import BuiltinDefault, TaskDefault, load_defaults
from .degradations import Degradation, Observation, degradation_class
from .errors import BIGPriorError
from .experiment import FUSION_ARGS_FILE, INVERSION_ARGS_FILE, Experiment, run_workspace, split_experiment_name
from .fusion.model import BIGPriorFusion, load_fusion_run
from .fusion.options import FusionOptions
from .generators import load_generator
from .inversion.losses import build_loss
from .inversion.stage import InvertedImage, InversionSettings, Inverter
from .runtime import resolve_device
from .zoo import resolve_generator_path

DEFAULT_TILE = 512  # side of the fusion tiles (their activations: 64 channels x (512 + 2 x margin)^2 floats)
SCORE_ROWS = 256  # rows per strip when scoring
SSIM_WINDOW = 7  # scikit-image's default, as metrics.ssim
SCALE_TOLERANCE = 2.0  # warn when the prior is enlarged more than 2x more (or less) than in training


# ---------------------------------------------------------------------------------------------
# scores at the photo's resolution


def strip_scores(image: np.ndarray, reference: np.ndarray, rows: int = SCORE_ROWS) -> tuple[float, float]:
    """(PSNR, SSIM) of HxWx3 images in [0, 1] (or uint8), as `metrics.psnr` and `metrics.ssim` compute
    them, but a strip of rows at a time (float64 per strip): the SSIM map of each strip is computed
    with its 3 rows of context on both sides and only the rows that the whole image's map keeps are summed."""
    pad = (SSIM_WINDOW - 1) // 2
    height, width, channels = image.shape
    squared, ssim_sum = 0.0, np.zeros(channels)
    for top in range(0, height, rows):
        bottom = min(top + rows, height)
        squared += metrics.mse(image[top:bottom], reference[top:bottom]) * image[top:bottom].size
        lo, hi = max(0, top - pad), min(height, bottom + pad)
        first, last = max(top, pad) - lo, min(bottom, height - pad) - lo  # rows of the kept map in this strip
        if first < last:
            a, b = _float64(image[lo:hi]), _float64(reference[lo:hi])
            for c in range(channels):
                _, ssim_map = structural_similarity(b[..., c], a[..., c], data_range=1.0, full=True)
                ssim_sum[c] += ssim_map[first:last, pad : width - pad].sum()
    kept = (height - 2 * pad) * (width - 2 * pad)
    return float(metrics.psnr_from_mse(squared / image.size)), float(np.mean(ssim_sum / kept))


def _float64(image: np.ndarray) -> np.ndarray:
    return image / 255.0 if image.dtype == np.uint8 else image.astype(np.float64)


@dataclass
class Restoration:
    """One restored photo at its own size: HxWx3 arrays, the prior's working resolution and the notes."""

    observation: Observation
    prior: np.ndarray  # uint8, the generative prior resized to the photo
    restored: np.ndarray  # float32 in [0, 1]
    phi: np.ndarray  # float32, unclamped: the share of each pixel taken from the prior
    prior_resolution: int  # side of the generator's images the prior was made at
    working_sigma: float | None = None  # noise level of the observation on the generator's grid
    clean: np.ndarray | None = None  # float32 ground truth in [0, 1], when the photo was degraded here
    notes: list[str] = field(default_factory=list)
    _scores: dict | None = field(default=None, repr=False)

    @property
    def size(self) -> tuple[int, int]:
        """(width, height)."""
        return self.restored.shape[1], self.restored.shape[0]

    def observed(self) -> np.ndarray:
        """What the fusion saw, as an HxWx3 float32 picture in [0, 1] (grey replicated)."""
        return imageio.chw_to_hwc(self.observation.x.clamp(0, 1).expand(3, -1, -1)).astype(np.float32)

    def scores(self) -> dict:
        """phi statistics and, with a ground truth, PSNR/SSIM of the degraded input, the (resized)
        prior and BIGPrior at the photo's resolution."""
        if self._scores is None:
            result = {"phi_mean": float(self.phi.mean()), "phi_std": float(self.phi.std()),
                      "prior_resolution": self.prior_resolution, "width": self.size[0], "height": self.size[1]}
            if self.working_sigma is not None:
                result["working_sigma"] = self.working_sigma
            if self.clean is not None:
                for label, image in (("degraded", self.observed()), ("prior", self.prior), ("bigprior", self.restored)):
                    result[f"{label}_psnr"], result[f"{label}_ssim"] = strip_scores(image, self.clean)
            self._scores = result
        return self._scores


# ---------------------------------------------------------------------------------------------
# the fusion, tiled


def receptive_radius(network: nn.Module) -> int:
    """How many pixels on each side of an output pixel the network sees, as it states it
    (`receptive_radius`: DnCNN its layers, a U-Net the bound computed from its levels)."""
    radius = getattr(network, "receptive_radius", None)
    if not isinstance(radius, int):
        raise ValueError(f"receptive_radius: {type(network).__name__} does not state its receptive radius")
    return radius


def fuse_once(fusion: BIGPriorFusion, x: torch.Tensor, prior: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(out, phi) of (B,C,H,W) images in [0, 1]."""
    with torch.inference_mode():
        return fusion(x, prior)


def fuse_tiled(fusion: BIGPriorFusion, x: torch.Tensor, prior: torch.Tensor, tile: int = DEFAULT_TILE,
               device: torch.device | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """(out, phi), 3xHxW float32 on the CPU, of a CxHxW observation and a 3xHxW prior, computed in tiles
    of `tile` pixels, each run with a margin of the network's receptive radius (cut at the image's
    borders, where the network's own padding applies as in one pass). Each run starts at a multiple of
    the network's `size_multiple`, so a downsampling network (U-Net) pools the same pixels together as
    in one pass; the model pads each run's bottom and right to the multiple, beyond the margin."""
    device = device or next(fusion.parameters()).device
    margin, multiple = receptive_radius(fusion), fusion.size_multiple
    height, width = x.shape[-2:]
    out, phi = torch.empty(3, height, width), torch.empty(3, height, width)
    for top in range(0, height, tile):
        for left in range(0, width, tile):
            bottom, right = min(top + tile, height), min(left + tile, width)
            t, l = (max(0, start - margin) // multiple * multiple for start in (top, left))
            b, r = min(height, bottom + margin), min(width, right + margin)
            o, p = fuse_once(fusion, x[None, :, t:b, l:r].to(device), prior[None, :, t:b, l:r].to(device))
            core = (slice(None), slice(top - t, bottom - t), slice(left - l, right - l))
            out[:, top:bottom, left:right] = o[0][core].float().cpu()
            phi[:, top:bottom, left:right] = p[0][core].float().cpu()
    return out, phi


# ---------------------------------------------------------------------------------------------
# the pipeline


def run_resolutions(folder: Path) -> tuple[int | None, int | None]:
    """(prior side, image side) of a fusion run's training data: from its OURargs.txt keys
    `prior_resolution` and `image_resolution` (the images at the priors' size when only the first is
    there), else from its experiment's mGANargs.txt `prior_resolution` and the size of GT/0.png;
    (None, None) when neither records it."""
    record = imageio.read_json(Path(folder) / FUSION_ARGS_FILE)
    prior = record.get("prior_resolution")
    if prior:
        return int(prior), int(record.get("image_resolution") or prior)
    experiment = Experiment(record["experiment"], run_workspace(folder))
    inversion = experiment.dir / INVERSION_ARGS_FILE
    prior = imageio.read_json(inversion).get("prior_resolution") if inversion.is_file() else None
    if not prior or not experiment.gt_path(0).is_file():
        return None, None
    return int(prior), int(experiment.read_gt(0).shape[-1])


def simulate(degradation: Degradation, clean: np.ndarray, index: int, seed: int, reference_side: int) -> Observation:
    """Degrade a clean HxWx3 photo (float in [0, 1]) as the fusion network's training images were,
    at the photo's scale (`reference_side`: the side of those images)."""
    x = imageio.hwc_to_chw(clean)
    factor = math.sqrt(x.shape[-1] * x.shape[-2]) / reference_side
    return degradation.scaled(factor).observe(x, index, seed)


class Pipeline:
    """A generator inversion and a fusion network for one degradation."""

    def __init__(self, inverter: Inverter, fusion: BIGPriorFusion, *, keep_known: bool = True,
                 tile: int = DEFAULT_TILE, image_resolution: int | None = None, prior_resolution: int | None = None) -> None:
        """`image_resolution`/`prior_resolution`: sides of the fusion network's training images and of
        their priors (None: unknown; the images are then taken to be of the generator's size)."""
        if tile < 1:
            raise BIGPriorError(f"--tile must be at least 1, got {tile}")
        self.inverter, self.fusion = inverter, fusion.eval()
        self.keep_known, self.tile = keep_known, tile
        self.reference_side = image_resolution or inverter.resolution
        self.training_scale = image_resolution / prior_resolution if image_resolution and prior_resolution else None

    @property
    def degradation(self) -> Degradation:
        return self.inverter.degradation

    @property
    def resolution(self) -> int:
        return self.inverter.resolution

    @property
    def device(self) -> torch.device:
        return self.inverter.device

    @classmethod
    def from_defaults(cls, task: str, *, generator: nn.Module | None = None,
                      degradation: Degradation | None = None, device: torch.device | None = None,
                      iterations: int | None = None, seed: int = 0, latent_space: str | None = None,
                      defaults: BuiltinDefault | None = None, keep_known: bool = True, tile: int = DEFAULT_TILE) -> Pipeline:
        """The built-in default of a task (experiment prefix): its generator (unless given), inversion
        settings (`iterations`, `seed` and `latent_space` replace theirs), degradation (unless given, e.g. with a user's
        mask) and fusion network."""
        defaults = defaults or load_defaults()
        default = defaults.task(task)
        device = device or resolve_device()
        generator = generator or load_generator(defaults.generator_file)
        degradation = degradation or default.make_degradation()
        inverter = _inverter(generator, degradation, default.inversion, device, iterations, seed, latent_space)
        fusion = default.fusion_model(degradation.observation_channels, device)
        return cls(inverter, fusion, keep_known=keep_known, tile=tile, image_resolution=default.image_resolution,
                   prior_resolution=default.prior_resolution)

    @classmethod
    def from_files(cls, task: str, generator: str | Path | nn.Module, fusion_run: str | Path, *,
                   epoch: int | None = None, degradation: Degradation | None = None,
                   inversion: InversionSettings | None = None, device: torch.device | None = None,
                   iterations: int | None = None, seed: int = 0, latent_space: str | None = None,
                   keep_known: bool = True, tile: int = DEFAULT_TILE) -> Pipeline:
        """A generator (weights file, zoo name or module) and a fusion run folder (net_data/<exp>_<ID>)
        of a task restored the same way as `task` (e.g. an inpcrop network for inpvar holes); the
        inversion settings default to the built-in default's for `task`."""
        device = device or resolve_device()
        fusion = load_fusion_run(fusion_run, epoch, device, "--fusion_run ")
        run_task = split_experiment_name(FusionOptions.load(Path(fusion_run)).experiment)[0]
        if degradation_class(run_task).verb != degradation_class(task).verb:
            raise BIGPriorError(f"--fusion_run {fusion_run}: a {degradation_class(run_task).title} network, "
                                f"not one for {degradation_class(task).title}")
        if not isinstance(generator, nn.Module):
            path = Path(generator)
            generator = load_generator(path if path.suffix else resolve_generator_path(str(generator)))
        degradation = degradation or degradation_class(task).from_settings(_default_for(task).degradation)
        settings = inversion or _default_for(task).inversion
        inverter = _inverter(generator, degradation, settings, device, iterations, seed, latent_space)
        prior_resolution, image_resolution = run_resolutions(Path(fusion_run))
        return cls(inverter, fusion, keep_known=keep_known, tile=tile, image_resolution=image_resolution,
                   prior_resolution=prior_resolution)

    def scale_warning(self, width: int, height: int) -> str | None:
        """A warning when a photo enlarges the prior far more (or less) than the fusion network's training did."""
        if self.training_scale is None:
            return None
        scale = math.sqrt(width * height) / self.resolution
        if max(scale / self.training_scale, self.training_scale / scale) <= SCALE_TOLERANCE:
            return None
        return (f"{width}x{height} photo: the {self.resolution} px prior is enlarged {scale:.1f}x, the fusion network "
                f"was trained with priors enlarged {self.training_scale:.1f}x; its phi may not fit this scale")

    def simulate(self, clean: np.ndarray, index: int) -> Observation:
        """The observation of a clean HxWx3 photo (float in [0, 1]): see `simulate`."""
        return simulate(self.degradation, clean, index, self.inverter.settings.seed, self.reference_side)

    def restore(self, observation: Observation, *, index: int = 0, clean: np.ndarray | None = None) -> Restoration:
        """Restore one observation (CxHxW, any size); `index` picks the random streams (seed, index)."""
        return next(self.restore_all([observation], [clean], first_index=index))

    def restore_all(self, observations: Sequence[Observation], clean: Sequence[np.ndarray | None] | None = None,
                    batch_size: int = 8, first_index: int = 0) -> Iterator[Restoration]:
        """Restore observations of any sizes: inverted `batch_size` at a time, fused one at a time."""
        clean = list(clean) if clean is not None else [None] * len(observations)
        for start in range(0, len(observations), batch_size):
            part = list(observations[start : start + batch_size])
            indices = list(range(first_index + start, first_index + start + len(part)))
            for item, truth in zip(self.inverter.invert_observations(part, indices), clean[start : start + batch_size]):
                yield self.fuse(item, truth)

    def fuse(self, item: InvertedImage, clean: np.ndarray | None = None) -> Restoration:
        """Fuse an inverted observation with its prior at the observation's size."""
        observation = item.observation
        prior = imageio.hwc_to_chw(imageio.float_from_uint8(item.prior))
        out, phi = fuse_tiled(self.fusion, observation.x, prior, self.tile, self.device)
        del prior
        if self.keep_known and observation.mask is not None:  # the photo's own pixels where they are known
            out = torch.where(observation.mask.bool(), out, observation.x.expand_as(out))
        return Restoration(observation, item.prior, imageio.chw_to_hwc(out.clamp_(0, 1)), imageio.chw_to_hwc(phi),
                           self.resolution, (item.working or observation).sigma, clean, list(observation.notes))


def _default_for(task: str) -> TaskDefault:
    return load_defaults().task(task)


def _inverter(generator: nn.Module, degradation: Degradation, settings: InversionSettings, device: torch.device,
              iterations: int | None, seed: int, latent_space: str | None) -> Inverter:
    """The pipeline's inversion: L2 on what the degradation lets the loss see (no VGG term); the given
    `iterations` and `latent_space` replace the settings'."""
    overrides = {key: value for key, value in (("iterations", iterations), ("latent_space", latent_space)) if value is not None}
    settings = replace(settings, seed=seed, **overrides)
    return Inverter(generator, build_loss("L2", 0.0, 1.0, 0.0), degradation, settings, device)
