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

How it computes. On a CPU each photo is inverted alone (the inversion of a batch of one), so a photo's
prior does not depend on the batch; the classical sources are made after it (default mode) or meanwhile
on a side thread (fp32, and on a GPU), and the fusion's tiles are shared between worker threads of one
torch thread each (`bigprior.workers`). On a GPU the photos of a batch are inverted as one batch, halved when it does not fit (`inversion.memory`). `precision`:
- `default`: the photos are inverted one after another with the process's threads (on a quiet 2-core CPU
  twice as fast for one photo as one thread: 1.8 s against 3.5 s at the built-in setting; side by side on
  one thread each they were faster only on a CPU that other processes kept busy). Their matrix products'
  rounding depends on the thread count (OMP_NUM_THREADS), and the inversion's Adam steps turn a 1e-7
  difference into a visible one, so a photo's result depends on it (not on anything else). The fusion
  runs an inference copy of the network (`fusion.inference`: batch norms folded, channels-last), equal to
  the trained network's up to float rounding; on a CPU that multiplies bfloat16 natively (AMX, AVX-512
  BF16: `runtime.native_bf16_cpu`) its convolutions but the last run in bfloat16, as a GPU's run in TF32:
  2.7x faster per tile on this project's CPU, the restored image within 1/255 of float32's.
- `fp32`: the photos side by side on the workers; strict float32, thread for thread: the inversion's batch-exact convolutions
  (`runtime.numeric_mode`) and the trained network itself, everything with one torch thread: the results
  do not depend on the batch, the workers, the thread count or the number of processes, and equal bit for
  bit those of the pipeline before the workers run with one thread.
"""

from __future__ import annotations

import contextlib
import math
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
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
from .fusion.inference import inference_copy
from .fusion.loading import LoadedFusion, load_fusion_run
from .fusion.spec import GENERATIVE_PRIOR
from .fusion.networks import FusionNetwork
from .fusion.spec import TrainingScale
from .generators import load_generator
from .inversion.losses import build_loss
from .inversion.memory import BatchSize, batches_that_fit
from .inversion.stage import InvertedImage, InversionSettings, Inverter
from .resampling import resize_image
from .restoration import Restoration, paste_known, source_of
from .runtime import native_bf16_cpu, numeric_mode, resolve_device
from .workers import CpuWorkers, cpu_count
from .zoo import resolve_generator_path

DEFAULT_TILE = 512  # side of the fusion tiles (their activations: 64 channels x (512 + 2 x margin)^2 floats)
SCALE_TOLERANCE = 2.0  # warn when the prior is enlarged more than 2x more (or less) than in training
INVERSION_STAGE, FUSION_STAGE = "inversion", "fusion"  # the stages a Progress is told about
Progress = Callable[[str, int, int], None]  # (stage, done, total): image-steps of a batch's inversion, tiles of a photo
PIPELINE_PRECISIONS = ("default", "fp32")  # `restore --precision` (see the module's docstring)


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


@dataclass(frozen=True)
class Window:
    """One tile, rows top:bottom and columns left:right, and the larger window t:b, l:r the network runs on
    to compute it (the tile with a margin, its start aligned to the network's size multiple)."""

    top: int
    left: int
    bottom: int
    right: int
    t: int
    l: int
    b: int
    r: int

    @property
    def inner(self) -> tuple[slice, slice]:
        """The tile's rows and columns inside the window."""
        return slice(self.top - self.t, self.bottom - self.t), slice(self.left - self.l, self.right - self.l)


def tile_windows(fusion: nn.Module, height: int, width: int, tile: int) -> list[Window]:
    """The tiles of `tile` pixels covering a height x width image, row by row, each with the margin of the
    network's receptive radius (cut at the image's borders, where the network's own padding applies as in
    one pass) and its start at a multiple of the network's `size_multiple`, so a downsampling network (U-Net)
    pools the same pixels together as in one pass; the model pads each run's bottom and right to the
    multiple, beyond the margin."""
    margin, multiple = receptive_radius(fusion), fusion.size_multiple
    windows = []
    for top in range(0, height, tile):
        for left in range(0, width, tile):
            bottom, right = min(top + tile, height), min(left + tile, width)
            t, l = (max(0, start - margin) // multiple * multiple for start in (top, left))
            windows.append(Window(top, left, bottom, right, t, l, min(height, bottom + margin), min(width, right + margin)))
    return windows


TileInputs = Callable[[Window], tuple[torch.Tensor, torch.Tensor, "torch.Tensor | None"]]
TileStore = Callable[[Window, torch.Tensor, torch.Tensor], None]


def fuse_windows(fusion: FusionNetwork, windows: Sequence[Window], inputs: TileInputs, store: TileStore,
                 device: torch.device, workers: CpuWorkers | None = None,
                 progress: Callable[[int, int], None] | None = None) -> None:
    """Run the network on each window (`inputs(window)`: its x (1,C,h,w), sources (1,S,3,h,w) and mask
    (1,1,h,w) or None, on the CPU) and hand the tile's part of (out, shares) to `store` (on the CPU, float32);
    the windows are shared between the CPU `workers` (each tile is computed alone whichever worker runs
    it). `progress(done, total)` after each tile."""
    done, lock = [0], threading.Lock()
    masked = getattr(fusion.spec, "mask_channel", False)

    def run(window: Window) -> None:
        x, sources, mask = inputs(window)
        o, s = fuse_once(fusion, x.to(device), sources.to(device), mask.to(device) if masked and mask is not None else None)
        rows, columns = window.inner
        store(window, o[0][:, rows, columns].float().cpu(), s[0][:, :, rows, columns].float().cpu())
        with lock:
            done[0] += 1
            if progress is not None:
                progress(done[0], len(windows))

    (workers or CpuWorkers.untouched()).map(run, windows)


def fuse_tiled(fusion: FusionNetwork, x: torch.Tensor, sources: torch.Tensor, mask: torch.Tensor | None = None,
               tile: int = DEFAULT_TILE, device: torch.device | None = None,
               progress: Callable[[int, int], None] | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """(out 3xHxW, shares SxCxHxW), float32 on the CPU, of a CxHxW observation, its SxHxW sources and
    (for a network that takes it) its 1xHxW mask, computed in tiles of `tile` pixels (`tile_windows`), one
    after the other. `progress(done, total)` after each tile."""
    height, width = x.shape[-2:]
    out, shares = torch.empty(3, height, width), []

    def inputs(w: Window) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        return x[None, :, w.t:w.b, w.l:w.r], sources[None, :, :, w.t:w.b, w.l:w.r], None if mask is None else mask[None, :, w.t:w.b, w.l:w.r]

    def store(w: Window, o: torch.Tensor, s: torch.Tensor) -> None:
        if not shares:
            shares.append(torch.empty(s.shape[0], s.shape[1], height, width))
        out[:, w.top:w.bottom, w.left:w.right] = o
        shares[0][:, :, w.top:w.bottom, w.left:w.right] = s

    fuse_windows(fusion, tile_windows(fusion, height, width, tile), inputs, store,
                 device or next(fusion.parameters()).device, progress=progress)
    return out, shares[0]


def fuse_photo(fusion: FusionNetwork, observation: Observation, images: Sequence[np.ndarray], tile: int,
               device: torch.device, workers: CpuWorkers | None = None,
               progress: Callable[[int, int], None] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(out HxWx3, shares SxHxWxC) float32 arrays of an observation and its source images (HxWx3 uint8, made
    float per tile: no float copy of a whole source), the tiles shared between `workers`. Each tile's inputs
    are the values and layout `fuse_tiled` gives the network, so the two agree bit for bit."""
    height, width = observation.x.shape[-2:]
    out, shares = np.empty((height, width, 3), np.float32), []
    lock = threading.Lock()

    def inputs(w: Window) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        tiles = [imageio.hwc_to_chw(imageio.float_from_uint8(image[w.t:w.b, w.l:w.r])) for image in images]
        mask = observation.mask
        return (observation.x[None, :, w.t:w.b, w.l:w.r], torch.stack(tiles)[None],
                None if mask is None else mask[None, :, w.t:w.b, w.l:w.r])

    def store(w: Window, o: torch.Tensor, s: torch.Tensor) -> None:
        with lock:
            if not shares:
                shares.append(np.empty((s.shape[0], height, width, s.shape[1]), np.float32))
        out[w.top:w.bottom, w.left:w.right] = o.permute(1, 2, 0).numpy()
        shares[0][:, w.top:w.bottom, w.left:w.right] = s.permute(0, 2, 3, 1).numpy()

    fuse_windows(fusion, tile_windows(fusion, height, width, tile), inputs, store, device, workers, progress)
    return out, shares[0]


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
                 classical: dict[str, ClassicalMethod] | None = None, precision: str = "default") -> None:
        """`scale`: the sides of the fusion network's training images and of their priors (unknown: the
        images are taken to be of the generator's size); `classical`: the classical methods that make a
        multi-source network's classical sources, by name, as they made its training sources; `precision`:
        how it computes (the module's docstring; `fp32` also makes the inverter's steps strict)."""
        if tile < 1:
            raise BIGPriorError(f"--tile must be at least 1, got {tile}")
        if precision not in PIPELINE_PRECISIONS:
            raise BIGPriorError(f"--precision must be one of {', '.join(PIPELINE_PRECISIONS)}, got {precision!r}")
        if precision == "fp32" and inverter.settings.precision != "fp32":
            raise ValueError("a pipeline in fp32 needs an inverter in fp32 (from_defaults and from_files make one)")
        self.precision = precision
        self._inference: FusionNetwork | None = None  # the fusion network's inference copy, made on first use
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
                      defaults: BuiltinDefault | None = None, keep_known: bool = True, tile: int = DEFAULT_TILE,
                      precision: str = "default") -> Pipeline:
        """The built-in default of a task (experiment prefix): its generator (unless given), inversion
        settings (`iterations`, `seed` and `latent_space` replace theirs), degradation (unless given, e.g. with a user's
        mask) and fusion network."""
        defaults = defaults or load_defaults()
        default = defaults.task(task)
        device = device or resolve_device()
        generator = generator or load_generator(defaults.generator_file)
        degradation = degradation or default.make_degradation()
        inverter = _inverter(generator, degradation, default.inversion, device, iterations, seed, latent_space, precision)
        return cls(inverter, default.fusion_model(device), keep_known=keep_known, tile=tile, scale=default.scale,
                   classical=default.classical_methods(), precision=precision)

    @classmethod
    def from_files(cls, task: str, generator: str | Path | nn.Module, fusion_run: str | Path, *,
                   epoch: int | None = None, degradation: Degradation | None = None,
                   inversion: InversionSettings | None = None, device: torch.device | None = None,
                   iterations: int | None = None, seed: int = 0, latent_space: str | None = None,
                   keep_known: bool = True, tile: int = DEFAULT_TILE, precision: str = "default") -> Pipeline:
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
        inverter = _inverter(generator, degradation, settings, device, iterations, seed, latent_space, precision)
        return cls(inverter, loaded.model, keep_known=keep_known, tile=tile, scale=loaded.scale,
                   classical=classical_methods_of_run(loaded), precision=precision)

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

    def workers(self, items: int) -> CpuWorkers:
        """The CPU workers for `items` independent pieces of work (on a GPU: the calling thread as it is)."""
        return CpuWorkers(min(cpu_count(), items)) if self.device.type == "cpu" else CpuWorkers.untouched()

    @property
    def fusion_network(self) -> FusionNetwork:
        """The network the fusion runs: the trained one in fp32, else its inference copy (made once)."""
        if self.precision == "fp32":
            return self.fusion
        if self._inference is None:
            reduced = torch.bfloat16 if self.device.type == "cpu" and native_bf16_cpu() else None
            self._inference = inference_copy(self.fusion, compute_dtype=reduced)
        return self._inference

    def restore(self, observation: Observation, *, index: int = 0, clean: np.ndarray | None = None,
                progress: Progress | None = None) -> Restoration:
        """Restore one observation (CxHxW, any size); `index` picks the random streams (seed, index)."""
        return next(self.restore_all([observation], [clean], first_index=index, progress=progress))

    def restore_all(self, observations: Sequence[Observation], clean: Sequence[np.ndarray | None] | None = None,
                    batch_size: int = 8, first_index: int = 0, progress: Progress | None = None,
                    indices: Sequence[int] | None = None) -> Iterator[Restoration]:
        """Restore observations of any sizes: inverted `batch_size` at a time, fused one at a time;
        `indices` (default first_index, first_index + 1, ...) pick each one's random streams.
        `progress(stage, done, total)` is told the inversion's image-steps and the fusion's tiles."""
        clean = list(clean) if clean is not None else [None] * len(observations)
        indices = list(indices) if indices is not None else list(range(first_index, first_index + len(observations)))
        # the classical sources are made while the generator is inverted, except where the inversion already
        # computes with every core (the default mode on a CPU): there they come after it, with every core too
        # (side by side, the two sets of threads slowed each other: 12 MP inversion 3 s -> 18 s)
        meanwhile = self.device.type != "cpu" or self.precision == "fp32"
        for start in range(0, len(observations), batch_size):
            part, truths = list(observations[start : start + batch_size]), clean[start : start + batch_size]
            with ThreadPoolExecutor(1, thread_name_prefix="bigprior-classical") as side:
                classical = [self.classical_later(o, side) if meanwhile else {} for o in part]
                inverted = self.invert(part, indices[start : start + batch_size], progress)
                for item, truth, sources in zip(inverted, truths, classical):
                    yield self.fuse(item, truth, progress, {name: f.result() for name, f in sources.items()})

    def invert(self, observations: Sequence[Observation], indices: Sequence[int],
               progress: Progress | None = None) -> list[InvertedImage]:
        """Invert observations: on a CPU each alone (default: one after another with the process's threads;
        fp32: side by side on the workers, the batch-exact steps); on a GPU as one batch (halved when it
        does not fit)."""
        steps = _step_counter(progress, self.inverter.settings.iterations * len(observations))
        items = list(zip(observations, indices))
        if self.device.type == "cpu" and self.precision != "fp32":
            # default: one photo after another, each alone, with the process's threads (see the module's docstring)
            return [self.inverter.invert_observations([o], [i], progress=steps)[0] for o, i in items]
        if self.device.type == "cpu":  # fp32: side by side in the workers, one thread each, as everything else
            with self.workers(len(items)) as workers, _batch_exact(True, self.device):
                parts = workers.map(lambda k: self.inverter.invert_observations(
                    [observations[k]], [indices[k]], progress=steps), range(len(items)))
            return [part[0] for part in parts]

        def run(batch: Sequence[tuple[Observation, int]]) -> list[InvertedImage]:
            batch_steps = None if steps is None else (lambda count: steps(count * len(batch)))  # a step of every image
            return self.inverter.invert_observations([o for o, _ in batch], [i for _, i in batch], progress=batch_steps)

        return [item for _, part in batches_that_fit(items, run, BatchSize(len(items)), self.device) for item in part]

    def classical_later(self, observation: Observation, executor: ThreadPoolExecutor) -> dict[str, Future[np.ndarray]]:
        """The observation's classical sources, made on `executor` (while the generator is inverted)."""
        return {name: executor.submit(self.classical_image, name, observation) for name in self.source_names
                if name != GENERATIVE_PRIOR}

    def fuse(self, item: InvertedImage, clean: np.ndarray | None = None, progress: Progress | None = None,
             classical: dict[str, np.ndarray] | None = None) -> Restoration:
        """Fuse an inverted observation with its sources at the observation's size (`classical`: its
        classical sources when already made, by name)."""
        observation, classical = item.observation, classical or {}
        images = [item.prior if name == GENERATIVE_PRIOR else classical[name] if name in classical
                  else self.classical_image(name, observation) for name in self.source_names]
        tiles = (lambda done, total: progress(FUSION_STAGE, done, total)) if progress is not None else None
        windows = len(tile_windows(self.fusion, *observation.x.shape[-2:], self.tile))
        with self.workers(windows) as workers:
            restored, shares = fuse_photo(self.fusion_network, observation, images, self.tile, self.device, workers, tiles)
        if self.keep_known:
            paste_known(restored, observation)
        return Restoration(observation, tuple(map(source_of, self.source_names)), images, shares,
                           np.clip(restored, 0, 1, out=restored), self.resolution, keep_known=self.keep_known,
                           working_sigma=(item.working or observation).sigma, clean=clean, notes=list(observation.notes))

    def classical_image(self, name: str, observation: Observation) -> np.ndarray:
        """A classical source of the observation at its size, as 8 bits (as the training sources were saved).
        A method that works at the training images' scale (`ClassicalMethod.at_training_scale`: the hole
        fillers, whose radius is in those pixels and whose cost grows with the hole's area times the radius
        squared) fills a larger photo at that scale, as the prior is made at the generator's: the observation
        brought to the training images' size (`Degradation.at_size`), filled, enlarged, and the observed
        pixels put back at the photo's size."""
        method = self.classical[name]
        height, width = observation.x.shape[-2:]
        factor = math.sqrt(height * width) / self.reference_side  # as `simulate` scales the degradation
        if not method.at_training_scale or factor <= 1:
            return imageio.uint8_from_float(method.restore(observation))
        small = self.degradation.at_size(observation, round(height / factor), round(width / factor))
        filled = resize_image(imageio.hwc_to_chw(method.restore(small)), (height, width))
        return imageio.uint8_from_float(paste_known(imageio.chw_to_hwc(filled).astype(np.float32), observation))


def classical_methods_of_run(loaded: LoadedFusion) -> dict[str, ClassicalMethod]:
    """The classical methods a fusion run's sources were made with: their settings.json in the run's
    experiment (`bigprior peers`)."""
    experiment = Experiment(loaded.options.experiment, run_workspace(loaded.folder))
    return {name: method_of_outputs(experiment, name) for name in loaded.model.spec.classical_sources}


def _step_counter(progress: Progress | None, total: int) -> Callable[[int], None] | None:
    """The inversion's step callback (told how many steps of one image were just done, from any worker) as a
    Progress of its stage, counting image-steps."""
    if progress is None:
        return None
    done, lock = [0], threading.Lock()

    def step(count: int) -> None:
        with lock:
            done[0] += count
            progress(INVERSION_STAGE, done[0], total)

    return step


def _batch_exact(strict: bool, device: torch.device) -> contextlib.AbstractContextManager:
    """Strict fp32's numeric mode set once around the workers, so that each worker's own (the inversion
    sets it for its steps) finds it set and leaves it so: the mode's switches are process-wide."""
    return numeric_mode("fp32", device, batch_invariant=True) if strict else contextlib.nullcontext()


def _default_for(task: str) -> TaskDefault:
    return load_defaults().task(task)


def _inverter(generator: nn.Module, degradation: Degradation, settings: InversionSettings, device: torch.device,
              iterations: int | None, seed: int, latent_space: str | None, precision: str = "default") -> Inverter:
    """The pipeline's inversion: L2 on what the degradation lets the loss see (no VGG term); the given
    `iterations` and `latent_space` replace the settings', and `precision` fp32 their precision."""
    overrides = {key: value for key, value in (("iterations", iterations), ("latent_space", latent_space)) if value is not None}
    if precision == "fp32":
        overrides["precision"] = "fp32"
    settings = replace(settings, seed=seed, **overrides)
    return Inverter(generator, build_loss("L2", 0.0, 1.0, 0.0), degradation, settings, device)
