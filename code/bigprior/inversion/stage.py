"""The inversion stage: invert every image of a folder and write the experiment's `inter_data`.

`Inverter` turns clean images into (observation, prior) pairs with one generator, loss and
degradation; `run_stage` feeds it the images of a folder in batches and writes, per image i,
`GT/{i}.png`, `input/{i}.png|.npy`, `mask/{i}.png` (masked tasks), `mGANlog/{i}.json` (final loss,
every restart's loss, which won) and, last, `mGANoutput/{i}.png`: an image whose prior exists is
finished and skipped on a rerun. Images of another size than the generator's are refused, resized to
it (GENERATOR), or kept at their own size (NATIVE: every file is at the image's size, the prior made
at the generator's and resized back, by the same `Inverter` that restores photos). Under `torchrun` each process takes a disjoint share of the images
(by position) on its own device; the files written do not depend on the number of processes.
"""

from __future__ import annotations

import argparse
import functools
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from tqdm import tqdm

from ..progress import progress_bar
from .. import imageio
from ..degradations import Degradation, Observation, mask_to_uint8
from ..distributed import ProcessShare, gather_objects
from ..errors import BIGPriorError
from ..experiment import INVERSION_ARGS_FILE, Experiment
from ..metrics import psnr
from ..photos import read_rgb8
from ..resampling import resize_image
from ..runtime import exact_batches
from .invert import check_settings, invert
from .losses import InversionLoss
from .memory import BatchSize, batches_that_fit, memory_report, reset_peak_memory
from .spaces import build_latent_space

LOG_DIR = "mGANlog"


@dataclass(frozen=True)
class InversionSettings:
    """How each image is inverted (the paper's flags, typed)."""

    composing_layer: int | str = 4  # PGGAN layer / StyleGAN2 block index, or a StyleGAN2 block name (b16)
    z_number: int = 30
    optimization: str = "GD"
    lr: float = 1.0
    iterations: int = 1500
    init_type: str = "Normal"
    restarts: int = 1
    seed: int = 0
    precision: str = "default"  # default | fp32 | bf16 (autocast of the steps)
    fold_layers: bool = False  # run the PGGAN blocks folded (faster, equal up to float rounding)
    compile: bool = False  # torch.compile the step
    latent_space: str = "multi"  # multi | z | w | w+ (the last three: StyleGAN2 only)

    def check(self) -> None:
        check_settings(self.optimization, self.init_type, self.iterations, self.lr, self.restarts)


def settings_from_args(args: argparse.Namespace) -> InversionSettings:
    return InversionSettings(**{f.name: getattr(args, f.name) for f in fields(InversionSettings) if hasattr(args, f.name)})


def settings_from_record(experiment: Experiment, record: dict) -> tuple[InversionSettings, Degradation, int]:
    """How an experiment's priors were made, from its mGANargs.txt: the inversion settings, the
    degradation and the side of the generator's images (older records: that of the images)."""
    args = argparse.Namespace(**record)
    resolution = record.get("prior_resolution") or experiment.read_gt(0).shape[-1]
    return settings_from_args(args), experiment.degradation.from_flags(args), int(resolution)


@dataclass
class InvertedImage:
    """One inverted image at its own size; `working` is the observation the generator was fitted to."""

    index: int
    clean: np.ndarray | None  # HxWx3 uint8 ground truth, when known
    observation: Observation
    prior: np.ndarray  # HxWx3 uint8 at the observation's size, as saved (after the degradation's finalize_prior)
    loss: float  # final data loss of the kept restart
    initial_loss: float  # data loss of the kept restart's initial codes
    restart_losses: list[float] = field(default_factory=list)
    best_restart: int = 0
    working: Observation | None = None  # the observation on the generator's grid (None: the same)

    def log(self, source: str) -> dict:
        entry = {"index": self.index, "source": source, "final_loss": self.loss, "initial_loss": self.initial_loss,
                 "best_restart": self.best_restart, "restart_losses": self.restart_losses}
        if self.working is not None:  # resampled: the generator's grid and what the noise became there
            entry["prior_resolution"] = self.working.x.shape[-1]
            if self.working.sigma is not None:
                entry["working_sigma"] = self.working.sigma
        return entry


def observation_uint8(observation: Observation) -> np.ndarray:
    """The observation as an HxWxC uint8 picture (clipped), for finalize_prior and figures."""
    return imageio.uint8_from_float_truncated(observation.x).transpose(1, 2, 0)


class Inverter:
    """One generator, loss and degradation: inverts batches of images of any size into priors of their
    size. An observation of another size than the generator's is brought to the generator's grid
    (`Degradation.at_size`), inverted there, and the raw inversion is resized back to the observation's
    size before the degradation finalizes it (colorization: the observation's own luma at full size)."""

    def __init__(self, generator: torch.nn.Module, loss: InversionLoss, degradation: Degradation,
                 settings: InversionSettings, device: torch.device) -> None:
        settings.check()
        self.settings, self.degradation, self.device = settings, degradation, device
        self.latent = build_latent_space(generator.to(device), settings.latent_space, settings.composing_layer,
                                         settings.z_number, fold=settings.fold_layers,
                                         fused=not exact_batches(settings.precision, device))
        self.loss = loss.to(device)
        self.resolution = generator.resolution

    def __call__(self, clean: Sequence[np.ndarray], indices: Sequence[int],
                 progress: Callable[[int], None] | None = None, iterations: int | None = None) -> list[InvertedImage]:
        """Degrade clean images (HxWx3 uint8) with the task and invert the observations; `iterations`
        overrides the settings' (0: the priors of the initial codes)."""
        s, degradation = self.settings, self.degradation
        observations = [degradation.observe(imageio.hwc_to_chw(imageio.float_from_uint8(image)), index, s.seed)
                        for image, index in zip(clean, indices)]
        return self.invert_observations(observations, indices, clean, progress, iterations)

    def working(self, observation: Observation) -> Observation:
        """The observation on the generator's grid (itself when of the generator's size). Its resampling is a
        matrix product whose float rounding depends on the number of torch threads."""
        return self.degradation.at_size(observation, self.resolution, self.resolution)

    def invert_observations(self, observations: Sequence[Observation], indices: Sequence[int],
                            clean: Sequence[np.ndarray | None] | None = None,
                            progress: Callable[[int], None] | None = None,
                            iterations: int | None = None) -> list[InvertedImage]:
        """Invert given observations (e.g. a user's degraded photos, any size); `clean`, when known, is
        the ground truth the colorization prior takes its luma from (else the observation's luma is used)."""
        s, degradation = self.settings, self.degradation
        iterations = s.iterations if iterations is None else iterations
        clean = list(clean) if clean is not None else [None] * len(observations)
        working = [self.working(o) for o in observations]
        targets = torch.stack([degradation.inversion_target(o.x) for o in working]).to(self.device) * 2 - 1
        masks = None
        if working[0].mask is not None:
            masks = torch.stack([o.mask for o in working]).to(self.device)
        result = invert(
            self.latent, self.loss, targets, degradation=degradation, masks=masks, optimization=s.optimization,
            lr=s.lr, iterations=iterations, init_type=s.init_type, seed=s.seed, indices=indices,
            restarts=s.restarts, precision=s.precision, compile=s.compile, progress=progress,
        )
        # one device-to-host copy per batch, not one sync per image and value
        images = ((result.image + 1) / 2).cpu()
        initial = (result.history[:, 0] if iterations else result.loss).tolist()
        losses, restart_losses, best = result.loss.tolist(), result.restart_losses.tolist(), result.best_restart.tolist()
        inverted = []
        for b, (index, image, observation) in enumerate(zip(indices, clean, observations)):
            raw = imageio.uint8_from_float_truncated(resize_image(images[b], tuple(observation.x.shape[-2:])))
            inverted.append(InvertedImage(
                index=index, clean=image, observation=observation,
                prior=degradation.finalize_prior(raw.transpose(1, 2, 0), image, observation_uint8(observation)),
                loss=losses[b], initial_loss=initial[b], restart_losses=restart_losses[b], best_restart=int(best[b]),
                working=None if working[b] is observation else working[b],
            ))
        return inverted


# ---------------------------------------------------------------------------------------------
# the stage over a folder


def experiment_for_outputs(outputs: str | os.PathLike, degradation: Degradation) -> Experiment:
    """`-o <root>/inter_data/<task>_<dataset>` -> the Experiment; the task must be the degradation's."""
    experiment = Experiment.from_dir(outputs, "-o/--outputs ")
    if experiment.task != degradation.task:
        raise BIGPriorError(
            f"-o/--outputs {outputs}: {degradation.title} experiments are named {degradation.task}_<dataset>, not {experiment.name}"
        )
    return experiment


NATIVE = "native"  # images keep their size: the prior is made at the generator's and resized to theirs
GENERATOR = "generator"  # images are bicubic-resized to the generator's size first


def read_input_image(path: Path, resolution: int, resize: str | None) -> np.ndarray:
    """An RGB image: as it is with `resize` NATIVE, bicubic-resized to the generator's resolution with
    GENERATOR, and otherwise required to be of the generator's resolution."""
    image = read_rgb8(path)
    if image.shape[:2] == (resolution, resolution) or resize == NATIVE:
        return image
    if resize != GENERATOR:
        raise BIGPriorError(
            f"{path}: image is {image.shape[1]}x{image.shape[0]}, the generator makes {resolution}x{resolution} "
            "(resize the images, or pass --resize True)"
        )
    return np.asarray(Image.fromarray(image).resize((resolution, resolution), Image.BICUBIC))


def check_or_write_args(experiment: Experiment, args: dict, writer: bool, run_only: frozenset[str] = frozenset()) -> None:
    """A resumed experiment must have been made with the same settings (except the `run_only` keys: how a
    run executes, where its files are); the first run writes them."""
    path = experiment.dir / INVERSION_ARGS_FILE
    if path.is_file():
        previous = imageio.read_json(path)
        for key, value in args.items():
            if key not in run_only and key in previous and previous[key] != value:
                raise BIGPriorError(
                    f"{path}: this experiment was made with {key}={previous[key]!r}, this run has {value!r} "
                    "(use the same settings to resume, or another -o/--outputs)"
                )
    elif writer:
        imageio.write_json(path, args)


def write_sigmas(experiment: Experiment, degradation: Degradation, seed: int, count: int) -> None:
    """input/sigma.json: the noise level of images 0..count-1 (deterministic given the seed)."""
    sigmas = [degradation.sigma_for(i, seed) for i in range(count)]
    if count and sigmas[0] is not None:
        path = experiment.sigma_path
        if not path.is_file() or imageio.read_json(path) != sigmas:
            imageio.write_json(path, sigmas, indent=None)


def write_image_outputs(experiment: Experiment, degradation: Degradation, item: InvertedImage, source: str) -> None:
    """All files of one image, the prior last (its presence marks the image finished)."""
    i = item.index
    imageio.write_png(experiment.gt_path(i), item.clean)
    degradation.write_observation(experiment.input_path(i), item.observation)
    if item.observation.mask is not None:
        imageio.write_png(experiment.mask_path(i), mask_to_uint8(item.observation.mask))
    imageio.write_json(experiment.dir / LOG_DIR / f"{i}.json", item.log(source))
    imageio.write_png(experiment.prior_path(i), item.prior)


@dataclass
class StageSummary:
    inverted: int = 0
    skipped: int = 0
    seconds: float = 0.0
    psnr_sum: float = 0.0  # prior vs GT, over the images inverted in this run
    loss_sum: float = 0.0

    def add(self, other: StageSummary) -> None:
        for key, value in asdict(other).items():
            setattr(self, key, getattr(self, key) + value)

    def format(self, experiment: Experiment, processes: int) -> str:
        if not self.inverted:
            return f"{experiment.dir}: nothing to invert ({self.skipped} images already finished)"
        n = self.inverted
        return (
            f"{experiment.dir}: inverted {n} images ({self.skipped} already finished) in {self.seconds / 60:.2f} "
            f"process-minutes over {processes} process(es), {self.seconds / n:.1f} s per image; "
            f"mean final loss {self.loss_sum / n:.4g}, mean prior PSNR vs GT {self.psnr_sum / n:.2f} dB"
        )


def gather_summaries(summary: StageSummary, share: ProcessShare) -> StageSummary:
    """The summary over all processes (waits for all of them); the process's own without torchrun."""
    if share.world == 1:
        return summary
    total = StageSummary()
    for part in gather_objects(summary, share):
        total.add(part)
    return total


def input_files(folder: str | os.PathLike, max_images: int) -> list[Path]:
    """The data set: the first `max_images` image files of `folder` in sorted name order (index = position)."""
    files = imageio.list_images(folder, "-i/--target_images ")
    if not files:
        raise BIGPriorError(f"-i/--target_images {folder}: no image files in the folder")
    return files[:max_images]


def run_stage(
    inverter: Inverter,
    experiment: Experiment,
    images: list[tuple[int, Path]],
    *,
    total_images: int,
    args: dict,
    run_only: frozenset[str] = frozenset(),
    batch_size: int,
    resize: str | None = None,
    share: ProcessShare | None = None,
) -> StageSummary:
    """Invert this process's share of `images` (index, file) and write their outputs; returns this
    process's summary. `total_images` sizes input/sigma.json; `args` is written as mGANargs.txt and a
    rerun must match it except for its `run_only` keys."""
    share = share or ProcessShare()
    degradation, seed = inverter.degradation, inverter.settings.seed
    if batch_size < 1:
        raise BIGPriorError(f"--batch_size must be at least 1, got {batch_size}")
    mine = images[share.rank :: share.world]
    pending = [(i, path) for i, path in mine if not experiment.prior_path(i).is_file()]
    summary = StageSummary(skipped=len(mine) - len(pending))
    clean = {i: read_input_image(path, inverter.resolution, resize) for i, path in pending}  # all checked first
    for i, path in pending:
        degradation.check_size(*clean[i].shape[:2], str(path))
    check_or_write_args(experiment, args, share.rank == 0, run_only)
    if share.rank == 0:
        write_sigmas(experiment, degradation, seed, total_images)
    reset_peak_memory(inverter.device)
    with progress_bar(total=len(pending) * inverter.settings.iterations, unit="img-step", desc=experiment.name, disable=share.rank != 0,
              smoothing=0.05) as bar:
        run = functools.partial(invert_batch, inverter, clean, bar)
        for batch, (results, seconds) in batches_that_fit(pending, run, BatchSize(batch_size), inverter.device, bar.write):
            summary.seconds += seconds
            for (i, path), item in zip(batch, results):
                write_image_outputs(experiment, degradation, item, path.name)
                summary.inverted += 1
                summary.loss_sum += item.loss
                summary.psnr_sum += psnr(item.prior, item.clean)
    print(f"{experiment.dir}: {'' if share.world == 1 else f'process {share.rank}: '}{memory_report(inverter.device)}")
    return summary


def invert_batch(inverter: Inverter, clean: dict[int, np.ndarray], bar: tqdm,
                 batch: Sequence[tuple[int, Path]]) -> tuple[list[InvertedImage], float]:
    """Invert one batch of (index, file); returns its images and seconds. The progress of an attempt that
    runs out of memory is taken back (its batch is run again in halves)."""
    indices, steps = [i for i, _ in batch], [0]

    def progress(n: int) -> None:
        steps[0] += n
        bar.update(n * len(batch))

    started = time.perf_counter()
    try:
        results = inverter([clean[i] for i in indices], indices, progress=progress)
    except torch.cuda.OutOfMemoryError:
        bar.update(-steps[0] * len(batch))
        raise
    return results, time.perf_counter() - started
