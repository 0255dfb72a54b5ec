"""Writing a restoration: its images at the photo's size, a figure of shrunk panels and its metrics."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib import colormaps
from PIL import Image

from . import figures, imageio
from .errors import BIGPriorError
from .pipeline import Restoration

PHI_OVERLAY_ALPHA = 0.55
FIGURE_SIDE = 384  # the figure's panels are shown at most this large (the full-size images are written beside it)
OUTPUT_KINDS = ("input", "prior", "restored", "phi", "phi_overlay", "figure")


def check_output_folder(out: Path) -> None:
    """The output folder must be a folder, or creatable in a writable one (nothing is created here)."""
    imageio.check_output_folder(out, "--out")


def phi_heat(phi: np.ndarray) -> np.ndarray:
    """HxWx3 phi -> uint8 HxW map of its channel mean, clamped to [0, 1]."""
    return imageio.uint8_from_float(np.clip(phi.mean(axis=2), 0, 1))


def phi_overlay(restored: np.ndarray, heat: np.ndarray) -> np.ndarray:
    """The restored image with mean phi as a heatmap on top (bright = taken from the prior)."""
    lut = colormaps[figures.PHI_COLORMAP](np.linspace(0, 1, 256))[:, :3].astype(np.float32)
    return imageio.uint8_from_float((1 - PHI_OVERLAY_ALPHA) * restored + PHI_OVERLAY_ALPHA * lut[heat])


def thumbnail(image: np.ndarray, side: int = FIGURE_SIDE) -> np.ndarray:
    """A uint8 image shrunk (area) to fit a side x side square; as it is when it fits."""
    height, width = image.shape[:2]
    scale = side / max(height, width)
    if scale >= 1:
        return image
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return np.asarray(Image.fromarray(image).resize(size, Image.BOX))


def figure_panels(r: Restoration, images: dict[str, np.ndarray]) -> list[figures.Panel]:
    """input | prior | BIGPrior | phi | ground truth, shrunk to FIGURE_SIDE."""
    scores = r.scores()
    def db(label: str) -> str:
        return f" {scores[label + '_psnr']:.1f} dB" if f"{label}_psnr" in scores else ""
    panels = [figures.Panel(f"input{db('degraded')}", thumbnail(images["input"])),
              figures.Panel(f"prior ({r.prior_resolution} px){db('prior')}", thumbnail(images["prior"])),
              figures.Panel(f"BIGPrior{db('bigprior')}", thumbnail(images["restored"])),
              figures.Panel(f"phi (mean {scores['phi_mean']:.2f})", thumbnail(images["phi"]), cmap=figures.PHI_COLORMAP,
                            value_range=(0, 255))]
    if r.clean is not None:
        panels.append(figures.Panel("ground truth", thumbnail(imageio.uint8_from_float(r.clean))))
    return panels


def images_of(r: Restoration) -> dict[str, np.ndarray]:
    """The input (what the fusion saw), prior, restored image and mean phi as uint8 images of the photo's size."""
    return {"input": imageio.uint8_from_float(r.observed()), "prior": r.prior,
            "restored": imageio.uint8_from_float(r.restored), "phi": phi_heat(r.phi)}


def write_restoration(r: Restoration, name: str, out: Path, keep_known: bool) -> dict[str, Path]:
    """Write every output of one photo at the photo's size (each file atomically) and its metrics."""
    images = images_of(r)
    images["phi_overlay"] = phi_overlay(r.restored, images["phi"])
    paths = {kind: out / f"{name}_{kind}.png" for kind in OUTPUT_KINDS}
    for kind, image in images.items():
        imageio.write_png(paths[kind], image)
    figures.panel_grid([(name, figure_panels(r, images))], paths["figure"])
    paths["metrics"] = out / f"{name}_metrics.json"
    known = {"keep_known": keep_known} if r.observation.mask is not None else {}
    imageio.write_json(paths["metrics"], {"name": name, **r.scores(), **known, "notes": r.notes})
    return paths
