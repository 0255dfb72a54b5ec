"""The report's figures, written as PNG files: image grids, the phi correlation panels, phi histograms,
line panels (the calibration of phi: reliability and ROC curves).

Figures are built on `matplotlib.figure.Figure` directly (no pyplot state, no GUI backend), so they
draw the same in a terminal, in CI and inside the notebook, and are written atomically.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from . import imageio, metrics

PHI_COLORMAP = "inferno"  # the paper's phi maps
DPI = 100


@dataclass
class Panel:
    """One image of a grid: HxWx3 (RGB, uint8 or float in [0, 1]) or HxW (shown with `cmap`)."""

    title: str
    image: np.ndarray
    cmap: str | None = None
    value_range: tuple[float, float] | None = None


@dataclass
class Scatter:
    """One panel of a correlation figure."""

    title: str
    x: np.ndarray
    y: np.ndarray


def save_figure(figure: Figure, path: Path) -> Path:
    """Write a figure as a PNG, atomically."""
    imageio.write_with(path, lambda tmp: figure.savefig(tmp, format="png", dpi=DPI, bbox_inches="tight"))
    return path


def panel_grid(rows: Sequence[tuple[str, Sequence[Panel]]], path: Path) -> Path:
    """One row per image (its label on the left), one column per panel."""
    columns = max(len(panels) for _, panels in rows)
    figure = Figure(figsize=(2.2 * columns, 2.4 * len(rows)))
    axes = figure.subplots(len(rows), columns, squeeze=False)
    for r, (label, panels) in enumerate(rows):
        for c in range(columns):
            ax = axes[r][c]
            ax.set_xticks([])
            ax.set_yticks([])
            if c >= len(panels):
                ax.set_axis_off()
                continue
            panel = panels[c]
            vmin, vmax = panel.value_range or (None, None)
            ax.imshow(panel.image, cmap=panel.cmap, vmin=vmin, vmax=vmax, interpolation="nearest")
            ax.set_title(panel.title, fontsize=8)
        axes[r][0].set_ylabel(label, fontsize=9)
    figure.tight_layout()
    return save_figure(figure, path)


def correlation_figure(panels: Sequence[Scatter], xlabel: str, ylabel: str, path: Path) -> list[float]:
    """Scatter of y against x per panel with the least-squares line and the Pearson correlation (the
    paper's phi-vs-sigma / phi-vs-prior-PSNR figure); returns the correlations."""
    figure = Figure(figsize=(5 * len(panels), 4))
    axes = figure.subplots(1, len(panels), squeeze=False)[0]
    correlations = []
    for ax, panel in zip(axes, panels):
        x, y = np.asarray(panel.x, dtype=np.float64), np.asarray(panel.y, dtype=np.float64)
        r = metrics.pearson(x, y) if len(x) >= 2 else float("nan")
        correlations.append(r)
        ax.plot(x, y, "o", color="tab:green", markersize=4)
        if len(x) >= 2 and np.ptp(x) > 0:
            slope, intercept = np.polyfit(x, y, 1)
            line_x = np.array([x.min(), x.max()])
            ax.plot(line_x, slope * line_x + intercept, color="tab:blue")
        ax.grid(True, alpha=0.4)
        ax.set_title(panel.title)
        ax.set_xlabel(xlabel)
        ax.text(0.04, 0.06, f"Pearson r = {r:.2f}", transform=ax.transAxes,
                bbox={"boxstyle": "round", "facecolor": "lightgray", "alpha": 0.8})
    axes[0].set_ylabel(ylabel)
    figure.tight_layout()
    save_figure(figure, path)
    return correlations


def phi_histograms(histograms: dict[str, np.ndarray], path: Path, bins: int = 32) -> Path:
    """Distribution of the per-pixel phi values of each task, one panel per task, as fractions of
    pixels. `histograms` holds 256-bin counts of the 8-bit phi maps (bin k = phi k/255), grouped here
    into `bins` bars; the shares at exactly 0 and 1 (where the saved maps clamp phi) are written out."""
    figure = Figure(figsize=(4.5 * len(histograms), 3.5))
    axes = figure.subplots(1, len(histograms), squeeze=False)[0]
    levels = np.arange(256) / 255.0
    edges = np.linspace(0, 256, bins + 1).astype(int)
    for ax, (title, counts) in zip(axes, histograms.items()):
        fractions = counts / max(1, counts.sum())
        ax.bar(edges[:-1] / 255.0, np.add.reduceat(fractions, edges[:-1]), width=np.diff(edges) / 255.0,
               align="edge", color="tab:orange", edgecolor="white", linewidth=0.5)
        mean = float((levels * fractions).sum())
        ax.axvline(mean, color="black", linestyle="--", linewidth=1)
        ax.set_title(f"{title} (mean {mean:.3f})")
        ax.text(0.97, 0.95, f"phi = 0: {100 * fractions[0]:.1f}%\nphi = 1: {100 * fractions[-1]:.1f}%",
                transform=ax.transAxes, ha="right", va="top", fontsize=8)
        ax.set_xlabel("phi (saved map, clamped to [0, 1])")
        ax.set_xlim(0, 1)
    axes[0].set_ylabel("fraction of pixels")
    figure.tight_layout()
    return save_figure(figure, path)


@dataclass
class Line:
    """One curve of a line panel."""

    label: str
    x: np.ndarray
    y: np.ndarray


def line_panels(panels: dict[str, Sequence[Line]], xlabel: str, ylabel: str, path: Path, diagonal: bool = False,
                vertical: float | None = None, square: bool = False) -> Path:
    """One panel per title, one line (with markers) per `Line`, a legend of their labels; `diagonal`
    draws y = x (a ROC's chance line), `vertical` a dashed line at that x, `square` fixes both axes to
    [0, 1]."""
    figure = Figure(figsize=(5 * len(panels), 4.2))
    axes = figure.subplots(1, len(panels), squeeze=False)[0]
    for ax, (title, lines) in zip(axes, panels.items()):
        for line in lines:
            ax.plot(line.x, line.y, marker="o" if len(line.x) <= 50 else None, markersize=3, linewidth=1.2, label=line.label)
        if diagonal:
            ax.plot([0, 1], [0, 1], color="gray", linestyle=":", linewidth=1)
        if vertical is not None:
            ax.axvline(vertical, color="gray", linestyle="--", linewidth=1)
        if square:
            ax.set_xlim(0, 1)
            ax.set_ylim(0, 1)
        ax.grid(True, alpha=0.4)
        ax.set_title(title)
        ax.set_xlabel(xlabel)
        ax.legend(fontsize=7, loc="best")
    axes[0].set_ylabel(ylabel)
    figure.tight_layout()
    return save_figure(figure, path)
