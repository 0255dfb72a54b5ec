"""The report's numbers: metrics registered once, computed per test image, then gathered per
experiment (the register / calc shape of NVlabs' metrics/metric_main.py). Tables and figures read
only the `Scores` this module returns.

Every method's output is scored against GT with the package's image metrics (`bigprior.scoring`, one
value per method: `<method>_<key>`); `PhiMetric`s, registered here, describe BIGPrior's phi map of the
image, with the calibration of phi against the prior's advantage (`metrics.prior_advantage`) among them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..progress import progress_bar
from .. import imageio, metrics
from ..errors import BIGPriorError
from ..experiment import Experiment
from ..scoring import Scorer, score_outputs
from .entries import BIGPRIOR, PRIOR, Entry


@dataclass
class PhiImage:
    """BIGPrior's phi of one image, as the report sees it."""

    values: np.ndarray  # HxWx3 in [0, 1], the saved 8-bit map
    phi: np.ndarray  # calibration pixels: phi (mean over channels) ...
    advantage: np.ndarray  # ... and the prior's advantage there (`metrics.calibration_pixels`)
    phi_outside: float | None  # share of phi outside [0, 1], as the fusion test recorded it


@dataclass(frozen=True)
class PhiMetric:
    """A number of one image's phi; `in_tables`: its mean over images is a column of the summary's
    tables (else it is in results.csv, and the calibration table pools pixels instead)."""

    key: str
    title: str
    decimals: int
    compute: Callable[[PhiImage], float | None]  # None: not available for this image
    in_tables: bool = False


PHI_METRICS: dict[str, PhiMetric] = {}


def register(metric: PhiMetric) -> None:
    """Add a phi metric to the report (in this order in results.csv and the tables)."""
    PHI_METRICS[metric.key] = metric


register(PhiMetric("phi_mean", "mean phi", 3, lambda p: float(p.values.mean()), in_tables=True))
register(PhiMetric("phi_std", "std phi", 3, lambda p: float(p.values.std()), in_tables=True))
register(PhiMetric("prior_better_share", "share of pixels where the prior is better", 3, lambda p: float((p.advantage > 0).mean())))
register(PhiMetric("phi_advantage_r", "Pearson r (phi, advantage)", 3, lambda p: metrics.pearson(p.phi, p.advantage)))
register(PhiMetric("phi_roc_auc", "ROC AUC of phi", 3, lambda p: metrics.roc_curve(p.phi, p.advantage).auc))
register(PhiMetric(metrics.PHI_OUTSIDE_KEY, "phi outside [0, 1]", 4, lambda p: p.phi_outside))


@dataclass
class ImageResult:
    index: int
    sigma: float | None
    scores: dict[str, float]  # "<method>_<image metric>" -> value
    phi: dict[str, float]  # phi metric -> value (those available)
    phi_counts: np.ndarray = field(repr=False)  # 256-bin histogram of the 8-bit phi map
    pixels: tuple[np.ndarray, np.ndarray] = field(repr=False)  # calibration pixels (phi, advantage)


def read_output(path: Path, shape: tuple[int, ...]) -> np.ndarray:
    """An output image (HxWx3 uint8) of the ground truth's size."""
    image = imageio.read_rgb(path)
    if image.shape != shape:
        raise BIGPriorError(f"{path}: size {image.shape[1]}x{image.shape[0]} differs from the ground truth ({shape[1]}x{shape[0]})")
    return image


def read_observation(experiment: Experiment, index: int) -> np.ndarray:
    """The observation x as the fusion sees it: HxW (colorization's luma) or HxWx3, float."""
    return imageio.chw_to_hwc(experiment.read_observation(index))


def _phi_image(entry: Entry, index: int, gt: np.ndarray, prior: np.ndarray) -> tuple[PhiImage, np.ndarray]:
    """phi of one image with its calibration pixels, and the 8-bit map."""
    phi = read_output(entry.methods[BIGPRIOR] / f"{index}_phi.png", gt.shape)
    observation = read_observation(entry.experiment, index)
    if observation.shape[:2] != gt.shape[:2]:
        raise BIGPriorError(f"{entry.experiment.input_path(index)}: size differs from the ground truth's")
    advantage = metrics.prior_advantage(observation, prior, gt)
    pixels = metrics.calibration_pixels(phi, advantage)
    outside = entry.phi_outside.get(index) if entry.phi_outside is not None else None
    return PhiImage(phi / 255.0, *pixels, outside), phi


def evaluate_image(entry: Entry, index: int, scorer: Scorer) -> ImageResult:
    """Every registered metric of one test image (calc)."""
    gt = imageio.read_rgb(entry.experiment.gt_path(index))
    images = {method: read_output(folder / f"{index}.png", gt.shape) for method, folder in entry.methods.items()}
    scores = score_outputs(images, gt, color_metrics=entry.experiment.degradation.color_metrics, scorer=scorer)
    phi, phi_uint8 = _phi_image(entry, index, gt, images[PRIOR])
    values = {m.key: m.compute(phi) for m in PHI_METRICS.values()}
    return ImageResult(
        index=index,
        sigma=entry.sigmas[index] if entry.sigmas is not None else None,
        scores=scores,
        phi={key: value for key, value in values.items() if value is not None},
        phi_counts=np.bincount(phi_uint8.ravel(), minlength=256),
        pixels=(phi.phi, phi.advantage),
    )


@dataclass
class ExperimentCalibration:
    """The calibration of phi over the pooled calibration pixels of an experiment's test images."""

    calibration: metrics.Calibration
    phi_outside: float | None  # mean over the images of the recorded share outside [0, 1]; None: not recorded


def experiment_calibration(results: Sequence[ImageResult]) -> ExperimentCalibration:
    phi = np.concatenate([r.pixels[0] for r in results])
    advantage = np.concatenate([r.pixels[1] for r in results])
    outside = [r.phi.get(metrics.PHI_OUTSIDE_KEY) for r in results]
    recorded = None if None in outside else float(np.mean(outside))
    return ExperimentCalibration(metrics.calibration(phi, advantage), recorded)


def entry_means(results: Sequence[ImageResult]) -> dict[str, float]:
    """Means over the images of the scores and of the phi metrics shown in tables."""
    keys = list(dict.fromkeys(k for r in results for k in r.scores))
    means = {k: float(np.mean([r.scores[k] for r in results if k in r.scores])) for k in keys}
    means.update({m.key: float(np.mean([r.phi[m.key] for r in results])) for m in PHI_METRICS.values() if m.in_tables})
    return means


@dataclass
class Correlation:
    """Pearson r of the mean phi per image with the noise level and with the prior's PSNR (the paper's
    denoising figure), over the test images of one experiment."""

    title: str
    images: int
    phi_sigma: float
    phi_prior_psnr: float


def dataset_title(entry: Entry) -> str:
    return entry.experiment.dataset if entry.label == entry.experiment.name else f"{entry.experiment.dataset} ({entry.label})"


def phi_correlation(entry: Entry, results: Sequence[ImageResult]) -> Correlation:
    phi = np.array([r.phi["phi_mean"] for r in results])
    sigma = np.array([r.sigma for r in results], dtype=np.float64)
    prior_psnr = np.array([r.scores[f"{PRIOR}_psnr"] for r in results])
    r = lambda x: metrics.pearson(x, phi) if len(phi) >= 2 else float("nan")  # noqa: E731
    return Correlation(dataset_title(entry), len(results), r(sigma), r(prior_psnr))


@dataclass
class Scores:
    """Everything measured, by entry key."""

    results: dict[str, list[ImageResult]]  # per image, in index order
    means: dict[str, dict[str, float]]
    calibration: dict[str, ExperimentCalibration]
    correlations: list[Correlation]  # of the denoising experiments, in order


def score(entries: Sequence[Entry], scorer: Scorer, workers: int = 4) -> Scores:
    """Score every test image of every entry (threads, with a progress bar), then gather per entry."""
    jobs = [(entry, index) for entry in entries for index in entry.indices]
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        done = list(progress_bar(pool.map(lambda job: evaluate_image(*job, scorer), jobs), total=len(jobs), desc="scoring images"))
    results: dict[str, list[ImageResult]] = {entry.key: [] for entry in entries}
    for (entry, _), result in zip(jobs, done):
        results[entry.key].append(result)
    return Scores(results, {key: entry_means(r) for key, r in results.items()},
                  {key: experiment_calibration(r) for key, r in results.items()},
                  [phi_correlation(e, results[e.key]) for e in entries if e.sigmas is not None])
