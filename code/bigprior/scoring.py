"""The one registry of image metrics: what the fusion test, `restore`, the demo and the report score an
output with (the register / calc shape of NVlabs' metrics/metric_main.py). Adding a metric is one
`register` call here; every table that shows scores reads them from `score_image`.

A metric scores an output image against the ground truth, both HxWx3, float in [0, 1] or uint8. Float
outputs are scored as the release scored them: PSNR and AuC on the unclamped values, SSIM on the
output clamped to [0, 1] (`metrics.ssim`). Every metric works on images of any size in bounded memory.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from . import metrics
from .workers import cpu_count


@dataclass(frozen=True)
class Scorer:
    """What scoring needs besides the images: the LPIPS model, when its weights are on this machine."""

    lpips_model: metrics.LPIPS | None = None


@dataclass(frozen=True)
class ImageMetric:
    """A metric of an output image against the ground truth, for the tasks it applies to."""

    key: str
    title: str
    decimals: int
    compute: Callable[[np.ndarray, np.ndarray, Scorer], float]
    applies: Callable[[bool, Scorer], bool] = lambda color_metrics, scorer: True  # (the task's color_metrics, scorer)
    shown_when_absent: bool = False  # a column (n/a) even where not computed, so a reader sees it is missing
    # several outputs against one ground truth at once (the same values as `compute` of each), when faster
    compute_many: Callable[[list[np.ndarray], np.ndarray, Scorer], list[float]] | None = None


IMAGE_METRICS: dict[str, ImageMetric] = {}


def register(metric: ImageMetric) -> None:
    """Add a metric (in this order in every table)."""
    if metric.key in IMAGE_METRICS:
        raise ValueError(f"metric {metric.key!r} registered twice")
    IMAGE_METRICS[metric.key] = metric


register(ImageMetric("psnr", "PSNR", 2, lambda image, gt, scorer: metrics.psnr(image, gt)))
register(ImageMetric("ssim", "SSIM", 4, lambda image, gt, scorer: metrics.ssim(image, gt),
                     compute_many=lambda images, gt, scorer: metrics.ssim_many(images, gt, workers=cpu_count())))
register(ImageMetric("auc", "AuC", 2, lambda image, gt, scorer: metrics.auc(image, gt),
                     applies=lambda color_metrics, scorer: color_metrics,
                     compute_many=lambda images, gt, scorer: metrics.auc_many(images, gt, workers=cpu_count())))
register(ImageMetric("lpips", "LPIPS", 4, lambda image, gt, scorer: metrics.lpips(scorer.lpips_model, image, gt),
                     applies=lambda color_metrics, scorer: scorer.lpips_model is not None, shown_when_absent=True))


def applied_metrics(color_metrics: bool, scorer: Scorer = Scorer()) -> list[ImageMetric]:
    """The registered metrics that apply to a task (`Degradation.color_metrics`) with this scorer."""
    return [metric for metric in IMAGE_METRICS.values() if metric.applies(color_metrics, scorer)]


def score_image(image: np.ndarray, reference: np.ndarray, *, color_metrics: bool, scorer: Scorer = Scorer()) -> dict[str, float]:
    """Every applicable registered metric of one output image against its ground truth."""
    if image.shape != reference.shape:
        raise ValueError(f"an output of shape {image.shape} cannot be scored against a reference of shape {reference.shape}")
    return {metric.key: metric.compute(image, reference, scorer) for metric in applied_metrics(color_metrics, scorer)}


def score_outputs(outputs: dict[str, np.ndarray], reference: np.ndarray, *, color_metrics: bool,
                  scorer: Scorer = Scorer()) -> dict[str, float]:
    """The scores of several methods' outputs of one image, keyed `<method>_<metric>` (a metric that scores
    several outputs at once does: SSIM shares the reference's statistics and the CPU's cores)."""
    for image in outputs.values():
        if image.shape != reference.shape:
            raise ValueError(f"an output of shape {image.shape} cannot be scored against a reference of shape {reference.shape}")
    values: dict[str, dict[str, float]] = {method: {} for method in outputs}
    for metric in applied_metrics(color_metrics, scorer):
        if metric.compute_many is not None:
            scores = metric.compute_many(list(outputs.values()), reference, scorer)
        else:
            scores = [metric.compute(image, reference, scorer) for image in outputs.values()]
        for method, value in zip(outputs, scores):
            values[method][metric.key] = value
    return {f"{method}_{key}": value for method, scores in values.items() for key, value in scores.items()}
