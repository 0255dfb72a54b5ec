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
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from torch import nn

from . import imageio
from .defaults import BuiltinDefault, TaskDefault, load_defaults
from .degradations import Degradation, Observation, degradation_class
from .errors import BIGPriorError
from .baselines.classical import ClassicalMethod, method_of_outputs
from .experiment import Experiment, run_workspace, split_experiment_name
from .fusion.data import source_names
from .fusion.loading import LoadedFusion, load_fusion_run
from .fusion.spec import GENERATIVE_PRIOR
from .fusion.networks import FusionNetwork
from .fusion.spec import TrainingScale
from .generators import load_generator
from .inversion.losses import build_loss
from .inversion.stage import InvertedImage, InversionSettings, Inverter
from .restoration import Restoration, paste_known, source_of
from .runtime import resolve_device
from .zoo import resolve_generator_path

DEFAULT_TILE = 512  # side of the fusion tiles (their activations: 64 channels x (512 + 2 x margin)^2 floats)
SCALE_TOLERANCE = 2.0  # warn when the prior is enlarged more than 2x more (or less) than in training
INVERSION_STAGE, FUSION_STAGE = "inversion", "fusion"  # the stages a Progress is told about
Progress = Callable[[str, int, int], None]  # (stage, done, total): inversion steps of a batch, fusion tiles of a photo


# ---------------------------------------------------------------------------------------------
# the fusion, tiled


def receptive_radius(network: nn.Module) -> int:
    """How many pixels on each side of an output pixel the network sees, as it states it
    (`receptive_radius`: DnCNN its layers, a U-Net the bound computed from its levels)."""
    radius = getattr(network, "receptive_radius", None)
    if not isinstance(radius, int):
        raise ValueError(f"receptive_radius: {type(network).__name__} does not state its receptive radius")
    return radius


def fuse_once(fusion: FusionNetwork, x: torch.Tensor, sources: torch.Tensor,
              mask: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """(out, shares) of a batch: x (B,C,H,W), sources (B,S,3,H,W), mask (B,1,H,W) or None, in [0, 1]."""
    with torch.inference_mode():
        return fusion.fuse(x, sources, *([mask] if mask is not None else []))


def fuse_tiled(fusion: FusionNetwork, x: torch.Tensor, sources: torch.Tensor, mask: torch.Tensor | None = None,
               tile: int = DEFAULT_TILE, device: torch.device | None = None,
               progress: Callable[[int, int], None] | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """(out 3xHxW, shares SxCxHxW), float32 on the CPU, of a CxHxW observation, its SxHxW sources and
    (for a network that takes it) its 1xHxW mask, computed in tiles of `tile` pixels, each run with a
    margin of the network's receptive radius (cut at the image's borders, where the network's own padding
    applies as in one pass). Each run starts at a multiple of the network's `size_multiple`, so a
    downsampling network (U-Net) pools the same pixels together as in one pass; the model pads each run's
    bottom and right to the multiple, beyond the margin. `progress(done, total)` after each tile."""
    device = device or next(fusion.parameters()).device
    margin, multiple = receptive_radius(fusion), fusion.size_multiple
    height, width = x.shape[-2:]
    mask = mask if getattr(fusion.spec, "mask_channel", False) else None
    out, shares = torch.empty(3, height, width), None
    corners = [(top, left) for top in range(0, height, tile) for left in range(0, width, tile)]
    for done, (top, left) in enumerate(corners, 1):
        bottom, right = min(top + tile, height), min(left + tile, width)
        t, l = (max(0, start - margin) // multiple * multiple for start in (top, left))
        b, r = min(height, bottom + margin), min(width, right + margin)
        o, s = fuse_once(fusion, x[None, :, t:b, l:r].to(device), sources[None, :, :, t:b, l:r].to(device),
                         mask[None, :, t:b, l:r].to(device) if mask is not None else None)
        if shares is None:
            shares = torch.empty(s.shape[1], s.shape[2], height, width)
        rows, columns = slice(top - t, bottom - t), slice(left - l, right - l)
        out[:, top:bottom, left:right] = o[0][:, rows, columns].float().cpu()
        shares[:, :, top:bottom, left:right] = s[0][:, :, rows, columns].float().cpu()
        if progress is not None:
            progress(done, len(corners))
    return out, shares


# ---------------------------------------------------------------------------------------------
# the pipeline


def simulate(degradation: Degradation, clean: np.ndarray, index: int, seed: int, reference_side: int) -> Observation:
    """Degrade a clean HxWx3 photo (float in [0, 1]) as the fusion network's training images were,
    at the photo's scale (`reference_side`: the side of those images)."""
    x = imageio.hwc_to_chw(clean)
    factor = math.sqrt(x.shape[-1] * x.shape[-2]) / reference_side
    return degradation.scaled(factor).observe(x, index, seed)


class Pipeline:
    """A generator inversion and a fusion network for one degradation."""

    def __init__(self, inverter: Inverter, fusion: FusionNetwork, *, keep_known: bool = True,
                 tile: int = DEFAULT_TILE, scale: TrainingScale = TrainingScale(),
                 classical: dict[str, ClassicalMethod] | None = None) -> None:
        """`scale`: the sides of the fusion network's training images and of their priors (unknown: the
        images are taken to be of the generator's size); `classical`: the classical methods that make a
        multi-source network's classical sources, by name, as they made its training sources."""
        if tile < 1:
            raise BIGPriorError(f"--tile must be at least 1, got {tile}")
        self.classical = dict(classical or {})
        missing = [name for name in fusion.spec.classical_sources if name not in self.classical]
        if missing:
            raise ValueError(f"the fusion network blends {', '.join(missing)}: give those classical methods")
        self.source_names = source_names(fusion.spec)
        self.inverter, self.fusion = inverter, fusion.eval()
        self.keep_known, self.tile = keep_known, tile
        self.reference_side = scale.image_resolution or inverter.resolution  # the one side simulate and checks use
        self.training_scale = scale.enlargement

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
        return cls(inverter, default.fusion_model(device), keep_known=keep_known, tile=tile, scale=default.scale,
                   classical=default.classical_methods())

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
        loaded = load_fusion_run(fusion_run, epoch, device, "--fusion_run ")
        run_task = split_experiment_name(loaded.options.experiment)[0]
        if degradation_class(run_task).verb != degradation_class(task).verb:
            raise BIGPriorError(f"--fusion_run {fusion_run}: a {degradation_class(run_task).title} network, "
                                f"not one for {degradation_class(task).title}")
        if not isinstance(generator, nn.Module):
            path = Path(generator)
            generator = load_generator(path if path.suffix else resolve_generator_path(str(generator)))
        degradation = degradation or degradation_class(task).from_settings(_default_for(task).degradation)
        settings = inversion or _default_for(task).inversion
        inverter = _inverter(generator, degradation, settings, device, iterations, seed, latent_space)
        return cls(inverter, loaded.model, keep_known=keep_known, tile=tile, scale=loaded.scale,
                   classical=classical_methods_of_run(loaded))

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

    def restore(self, observation: Observation, *, index: int = 0, clean: np.ndarray | None = None,
                progress: Progress | None = None) -> Restoration:
        """Restore one observation (CxHxW, any size); `index` picks the random streams (seed, index)."""
        return next(self.restore_all([observation], [clean], first_index=index, progress=progress))

    def restore_all(self, observations: Sequence[Observation], clean: Sequence[np.ndarray | None] | None = None,
                    batch_size: int = 8, first_index: int = 0, progress: Progress | None = None) -> Iterator[Restoration]:
        """Restore observations of any sizes: inverted `batch_size` at a time, fused one at a time;
        `progress(stage, done, total)` is told the inversion steps and the fusion tiles as they finish."""
        clean = list(clean) if clean is not None else [None] * len(observations)
        for start in range(0, len(observations), batch_size):
            part = list(observations[start : start + batch_size])
            indices = list(range(first_index + start, first_index + start + len(part)))
            steps = _step_counter(progress, self.inverter.settings.iterations)
            for item, truth in zip(self.inverter.invert_observations(part, indices, progress=steps), clean[start : start + batch_size]):
                yield self.fuse(item, truth, progress)

    def fuse(self, item: InvertedImage, clean: np.ndarray | None = None, progress: Progress | None = None) -> Restoration:
        """Fuse an inverted observation with its sources at the observation's size."""
        observation = item.observation
        images = [item.prior if name == GENERATIVE_PRIOR else self.classical_image(name, observation)
                  for name in self.source_names]
        sources = torch.stack([imageio.hwc_to_chw(imageio.float_from_uint8(image)) for image in images])
        tiles = (lambda done, total: progress(FUSION_STAGE, done, total)) if progress is not None else None
        out, shares = fuse_tiled(self.fusion, observation.x, sources, observation.mask, self.tile, self.device, tiles)
        del sources
        restored = imageio.chw_to_hwc(out)
        if self.keep_known:
            paste_known(restored, observation)
        return Restoration(observation, tuple(map(source_of, self.source_names)), images, shares.permute(0, 2, 3, 1).contiguous().numpy(),
                           np.clip(restored, 0, 1, out=restored), self.resolution, keep_known=self.keep_known,
                           working_sigma=(item.working or observation).sigma, clean=clean, notes=list(observation.notes))


    def classical_image(self, name: str, observation: Observation) -> np.ndarray:
        """A classical source of the observation at its size, as 8 bits (as the training sources were saved)."""
        return imageio.uint8_from_float(self.classical[name].restore(observation))


def classical_methods_of_run(loaded: LoadedFusion) -> dict[str, ClassicalMethod]:
    """The classical methods a fusion run's sources were made with: their settings.json in the run's
    experiment (`bigprior peers`)."""
    experiment = Experiment(loaded.options.experiment, run_workspace(loaded.folder))
    return {name: method_of_outputs(experiment, name) for name in loaded.model.spec.classical_sources}


def _step_counter(progress: Progress | None, total: int) -> Callable[[int], None] | None:
    """The inversion's step callback (told how many steps were just done) as a Progress of its stage."""
    if progress is None:
        return None
    done = [0]

    def step(count: int) -> None:
        done[0] += count
        progress(INVERSION_STAGE, done[0], total)

    return step


def _default_for(task: str) -> TaskDefault:
    return load_defaults().task(task)


def _inverter(generator: nn.Module, degradation: Degradation, settings: InversionSettings, device: torch.device,
              iterations: int | None, seed: int, latent_space: str | None) -> Inverter:
    """The pipeline's inversion: L2 on what the degradation lets the loss see (no VGG term); the given
    `iterations` and `latent_space` replace the settings'."""
    overrides = {key: value for key, value in (("iterations", iterations), ("latent_space", latent_space)) if value is not None}
    settings = replace(settings, seed=seed, **overrides)
    return Inverter(generator, build_loss("L2", 0.0, 1.0, 0.0), degradation, settings, device)
