"""The report's figures, from its `Scores` (drawn by `bigprior.figures`): image grids, phi against the
noise level, phi histograms, and the calibration of phi (reliability and ROC curves)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from .. import figures, imageio, metrics
from ..errors import BIGPriorError
from .entries import BIGPRIOR, METHOD_TITLES, PRIOR, Entry
from .scoring import ImageResult, Scores, dataset_title, read_observation
from .strength import StrengthCurve
from .tables import cell

RELIABILITY_FIGURE, ROC_FIGURE, STRENGTH_FIGURE = "phi_reliability.png", "phi_roc.png", "prior_strength.png"


def _display_observation(entry: Entry, index: int) -> figures.Panel:
    x = np.clip(read_observation(entry.experiment, index), 0, 1)
    return figures.Panel("degraded", x, cmap="gray" if x.ndim == 2 else None, value_range=(0, 1))


def grid_figure(entry: Entry, indices: Sequence[int], results: Sequence[ImageResult], path: Path) -> Path:
    """degraded | prior | BIGPrior | baselines | phi | GT, one row per chosen image."""
    by_index = {r.index: r for r in results}
    rows = []
    for index in indices:
        scores = by_index[index].scores
        panels = [_display_observation(entry, index)]
        for method, folder in entry.methods.items():
            title = f"{METHOD_TITLES.get(method, method)} {scores[f'{method}_psnr']:.2f} dB"
            panels.append(figures.Panel(title, imageio.read_rgb(folder / f"{index}.png")))
        phi = imageio.read_rgb(entry.methods[BIGPRIOR] / f"{index}_phi.png").mean(axis=2) / 255.0
        panels.append(figures.Panel(f"phi (mean {phi.mean():.2f})", phi, cmap=figures.PHI_COLORMAP, value_range=(0, 1)))
        panels.append(figures.Panel("GT", imageio.read_rgb(entry.experiment.gt_path(index))))
        sigma = f", sigma {by_index[index].sigma:g}" if by_index[index].sigma is not None else ""
        rows.append((f"{entry.experiment.name} #{index}{sigma}", panels))
    return figures.panel_grid(rows, path)


def grid_indices(entry: Entry, count: int, chosen: Sequence[int] | None, seed: int) -> list[int]:
    if chosen:
        missing = [i for i in chosen if i not in entry.indices]
        if missing:
            raise BIGPriorError(f"--grid_images: image {missing[0]} is not a test image of {entry.title} ({entry.indices[0]}..{entry.indices[-1]})")
        return list(chosen)
    rng = np.random.default_rng(seed)
    return sorted(int(i) for i in rng.choice(entry.indices, size=min(count, len(entry.indices)), replace=False))


def correlation_figures(entries: Sequence[Entry], scores: Scores, folder: Path) -> list[Path]:
    """The paper's figure: mean phi per image against the noise level and against the prior's PSNR,
    one panel per denoising experiment (dataset)."""
    denoising = [e for e in entries if e.sigmas is not None]
    if not denoising:
        return []
    titles = [dataset_title(e) for e in denoising]
    phi = [np.array([r.phi["phi_mean"] for r in scores.results[e.key]]) for e in denoising]
    sigma = [np.array([r.sigma for r in scores.results[e.key]]) for e in denoising]
    prior_psnr = [np.array([r.scores[f"{PRIOR}_psnr"] for r in scores.results[e.key]]) for e in denoising]
    paths = [folder / "phi_vs_sigma.png", folder / "phi_vs_prior_psnr.png"]
    figures.correlation_figure([figures.Scatter(t, x, y) for t, x, y in zip(titles, sigma, phi)],
                               "sigma of the test AWGN (0..255)", "mean phi", paths[0])
    figures.correlation_figure([figures.Scatter(t, x, y) for t, x, y in zip(titles, prior_psnr, phi)],
                               "PSNR of the generative prior (dB)", "mean phi", paths[1])
    return paths


def histogram_figure(entries: Sequence[Entry], scores: Scores, path: Path) -> Path:
    histograms: dict[str, np.ndarray] = {}
    for entry in entries:
        title = entry.experiment.degradation.title
        counts = np.sum([r.phi_counts for r in scores.results[entry.key]], axis=0)
        histograms[title] = histograms.get(title, 0) + counts
    return figures.phi_histograms(histograms, path)


def _by_task(entries: Sequence[Entry], line: Callable[[Entry], figures.Line]) -> dict[str, list[figures.Line]]:
    panels: dict[str, list[figures.Line]] = {}
    for entry in entries:
        panels.setdefault(entry.experiment.degradation.title, []).append(line(entry))
    return panels


def calibration_figures(entries: Sequence[Entry], scores: Scores, folder: Path) -> list[Path]:
    """Reliability curves (mean phi per bin of the prior's advantage) and ROC curves of phi detecting
    the pixels where the prior is better, one panel per task, one line per experiment."""
    calibration = {e.key: scores.calibration[e.key].calibration for e in entries}

    def reliability(entry: Entry) -> figures.Line:
        curve = calibration[entry.key].reliability
        return figures.Line(f"{entry.title} (r = {cell(calibration[entry.key].pearson, 2)})", curve.advantage, curve.phi)

    def roc(entry: Entry) -> figures.Line:
        curve = calibration[entry.key].roc
        return figures.Line(f"{entry.title} (AUC = {cell(curve.auc, 3)})", curve.false_positive_rate, curve.true_positive_rate)

    return [
        figures.line_panels(_by_task(entries, reliability),
                            f"prior advantage |x - gt| - |g - gt| (smoothed; {metrics.RELIABILITY_BINS} bins of equal pixel count)",
                            "mean phi in the bin", folder / RELIABILITY_FIGURE, vertical=0.0),
        figures.line_panels(_by_task(entries, roc), "false positive rate (phi high, the prior is not better)",
                            "true positive rate (pixels where the prior is better)", folder / ROC_FIGURE,
                            diagonal=True, square=True),
    ]


def strength_figure(entries: Sequence[Entry], curves: dict[str, StrengthCurve], path: Path) -> Path | None:
    """PSNR (and, for colorization, AuC) against the prior strength s, one panel per task and score, one
    line per experiment; the dashed line is s = 1, the trained fusion."""
    panels: dict[str, list[figures.Line]] = {}
    for entry in entries:
        curve = curves.get(entry.key)
        if curve is None:
            continue
        label = f"{entry.title} (best s = {curve.strengths[curve.best]:g})"
        panels.setdefault(f"{entry.experiment.degradation.title}: PSNR", []).append(figures.Line(label, curve.strengths, curve.psnr))
        if curve.auc is not None:
            panels.setdefault(f"{entry.experiment.degradation.title}: AuC", []).append(
                figures.Line(entry.title, curve.strengths, curve.auc))
    if not panels:
        return None
    return figures.line_panels(panels, "prior strength s (the prior's share scaled by s, clipped to [0, 1])",
                               "mean over the test images (dB; AuC x100)", path, vertical=1.0)
