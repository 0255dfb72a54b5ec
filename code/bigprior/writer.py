"""Writing a restoration: its images at the photo's size, the account of its sources, a figure of shrunk
panels, its metrics, and what a later re-blend needs to make the same files without any network.

Per photo `<name>` (every file written atomically, `<name>_metrics.json` last: its presence marks the photo's
outputs complete, which is what a resumed `restore` checks):

    <name>_input.png        what the fusion saw (clamped to 8 bits)
    <name>_prior.png        the generative prior, enlarged to the photo
    <name>_<source>.png     each classical source (multi-source fusion only)
    <name>_restored.png     the result
    <name>_phi.png          phi (channel mean, 8 bits): the share of the prior(s), 1 - the data's share
    <name>_phi_overlay.png  phi as a heatmap over the result
    <name>_shares.png       where each pixel came from: data (blue) / classical (green) / generative (red), with a legend
    <name>_figure.png       the panels side by side, shrunk
    <name>_metrics.json     scores, mean shares, the steering, notes
    <name>_phi.npy          phi exactly (float32, H x W x C), lossless
    <name>_restoration.npz  the rest of the state, lossless: the observation, its mask, every source's share,
                            the ground truth when the photo was degraded here, and the sources' names and kinds
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch
from matplotlib import colormaps
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from PIL import Image

from . import figures, imageio
from .degradations import Observation
from .errors import BIGPriorError
from .restoration import SHARE_COLOURS, Restoration, Source, SourceKind, Steering, observed_uint8, share_picture
from .workers import cpu_count

PHI_OVERLAY_ALPHA = 0.55
FIGURE_SIDE = 384  # the figure's panels are shown at most this large (the full-size images are written beside it)
PHOTO_SIZE_KINDS = ("input", "prior", "restored", "phi", "phi_overlay")  # <name>_<kind>.png at the photo's size
FIGURE_KINDS = ("shares", "figure")  # shrunk, with titles and legends
OUTPUT_KINDS = PHOTO_SIZE_KINDS + FIGURE_KINDS
STATE_SUFFIX = "_restoration.npz"
PHI_SUFFIX = "_phi.npy"
METRICS_SUFFIX = "_metrics.json"  # written last


def check_output_folder(out: Path) -> None:
    """The output folder must be a folder, or creatable in a writable one (nothing is created here)."""
    imageio.check_output_folder(out, "--out")


def phi_heat(phi: np.ndarray) -> np.ndarray:
    """HxWxC phi -> uint8 HxW map of its channel mean, clamped to [0, 1]."""
    return imageio.by_rows(lambda block: imageio.uint8_from_float(np.clip(block.mean(axis=2), 0, 1)), phi)


def phi_overlay(restored: np.ndarray, heat: np.ndarray) -> np.ndarray:
    """The restored image with mean phi as a heatmap on top (bright = taken from the prior)."""
    lut = colormaps[figures.PHI_COLORMAP](np.linspace(0, 1, 256))[:, :3].astype(np.float32)
    return imageio.by_rows(lambda image, levels: imageio.uint8_from_float(
        (1 - PHI_OVERLAY_ALPHA) * image + PHI_OVERLAY_ALPHA * lut[levels]), restored, heat)


def thumbnail(image: np.ndarray, side: int = FIGURE_SIDE) -> np.ndarray:
    """A uint8 image shrunk (area) to fit a side x side square; as it is when it fits."""
    height, width = image.shape[:2]
    scale = side / max(height, width)
    if scale >= 1:
        return image
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return np.asarray(Image.fromarray(image).resize(size, Image.BOX))


def write_share_figure(r: Restoration, picture: np.ndarray, path: Path) -> None:
    """The share picture, shrunk, with a legend naming each kind and its mean share."""
    means = {kind: float(share.mean()) for kind, share in r.kind_shares().items()}
    figure = Figure(figsize=(5.5, 4.2))
    ax = figure.subplots()
    ax.imshow(thumbnail(picture))
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title("where each pixel comes from")
    present = {SourceKind.DATA} | {s.kind for s in r.sources}
    handles = [Patch(color=SHARE_COLOURS[kind], label=f"{kind.value} {100 * means[kind]:.0f}%") for kind in SourceKind if kind in present]
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1), frameon=False)
    figures.save_figure(figure, path)


def figure_panels(r: Restoration, images: dict[str, np.ndarray]) -> list[figures.Panel]:
    """input | each source | BIGPrior | phi | ground truth, shrunk to FIGURE_SIDE."""
    scores = r.scores()

    def db(label: str) -> str:
        return f" {scores[label + '_psnr']:.1f} dB" if f"{label}_psnr" in scores else ""

    panels = [figures.Panel(f"input{db('degraded')}", thumbnail(images["input"]))]
    for source, image in zip(r.sources, r.images):
        title = f"prior ({r.prior_resolution} px)" if source.kind is SourceKind.GENERATIVE else source.name
        panels.append(figures.Panel(f"{title}{db(source.name)}", thumbnail(image)))
    panels += [figures.Panel(f"BIGPrior{db('bigprior')}", thumbnail(images["restored"])),
               figures.Panel(f"phi (mean {scores['phi_mean']:.2f})", thumbnail(images["phi"]), cmap=figures.PHI_COLORMAP,
                             value_range=(0, 255))]
    if r.clean is not None:
        panels.append(figures.Panel("ground truth", thumbnail(imageio.uint8_from_float(r.clean))))
    return panels


def images_of(r: Restoration) -> dict[str, np.ndarray]:
    """The input (what the fusion saw), prior, restored image and mean phi as uint8 images of the photo's size."""
    return {"input": observed_uint8(r.observation), "prior": r.prior,
            "restored": imageio.uint8_from_float(r.restored), "phi": phi_heat(r.phi)}


def _compact(array: np.ndarray) -> np.ndarray:
    """uint8 when the float32 array is exactly an 8-bit image (`imageio.float_from_uint8` of its
    rounding), else the float32 array: the state stays lossless and small for 8-bit photos."""
    rows = np.ascontiguousarray(array).reshape(-1, array.shape[-1])  # CxHxW or HxWxC: blocks of rows either way
    as_uint8 = imageio.uint8_from_float(rows)
    block = imageio.ROW_BLOCK
    exact = all(np.array_equal(imageio.float_from_uint8(as_uint8[top : top + block]), rows[top : top + block])
                for top in range(0, rows.shape[0], block))
    return as_uint8.reshape(array.shape) if exact else array.astype(np.float32, copy=False)


def _expand(array: np.ndarray) -> np.ndarray:
    return imageio.float_from_uint8(array) if array.dtype == np.uint8 else array


def write_state(r: Restoration, name: str, out: Path) -> None:
    """phi and the lossless state a re-blend reads back (`read_restoration`)."""
    imageio.write_npy(out / f"{name}{PHI_SUFFIX}", r.phi.astype(np.float32, copy=False))
    meta = {"sources": [{"name": s.name, "kind": s.kind.value, "title": s.title} for s in r.sources],
            "prior_resolution": r.prior_resolution, "keep_known": r.keep_known, "working_sigma": r.working_sigma,
            "sigma": r.observation.sigma, "notes": r.notes, "phi_channels": r.phi.shape[2]}
    arrays = {"observation": _compact(r.observation.x.cpu().numpy()), "meta": np.array(json.dumps(meta))}
    if r.observation.mask is not None:
        arrays["mask"] = r.observation.mask.cpu().numpy().astype(np.uint8)
    if len(r.sources) > 1:
        arrays["shares"] = r.shares
    if r.clean is not None:
        arrays["clean"] = _compact(r.clean)
    imageio.write_with(out / f"{name}{STATE_SUFFIX}", lambda tmp: np.savez(tmp, **arrays))


def read_restoration(stem: Path) -> Restoration:
    """The restoration written at `<folder>/<name>` (`stem`), from its state, phi and source images."""
    state_path, phi_path = stem.with_name(stem.name + STATE_SUFFIX), stem.with_name(stem.name + PHI_SUFFIX)
    for path in (state_path, phi_path):
        if not path.is_file():
            raise BIGPriorError(f"{path}: not found (give <out>/<name> of a `bigprior restore` output)")
    try:
        with np.load(state_path, allow_pickle=False) as state:
            arrays = {key: state[key] for key in state.files}
        meta = json.loads(str(arrays["meta"]))
        sources = tuple(Source(s["name"], SourceKind(s["kind"]), s["title"]) for s in meta["sources"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise BIGPriorError(f"{state_path}: not a restoration state file ({exc.__class__.__name__})") from exc
    phi = imageio.read_npy_image(phi_path, channels=meta["phi_channels"])
    images = [imageio.read_rgb(stem.with_name(f"{stem.name}_{s.name}.png")) for s in sources]
    observation = Observation(x=torch.from_numpy(_expand(arrays["observation"])),
                              mask=torch.from_numpy(arrays["mask"].astype(np.float32)) if "mask" in arrays else None,
                              sigma=meta["sigma"])
    shares = arrays["shares"] if len(sources) > 1 else phi[None]
    if shares.shape[1:3] != phi.shape[:2] or any(image.shape[:2] != phi.shape[:2] for image in images):
        raise BIGPriorError(f"{stem}: its files are not of one photo's size")
    clean = _expand(arrays["clean"]) if "clean" in arrays else None
    restored = np.clip(imageio.float_from_uint8(imageio.read_rgb(stem.with_name(f"{stem.name}_restored.png"))), 0, 1)
    return Restoration(observation, sources, images, shares, restored, meta["prior_resolution"], keep_known=meta["keep_known"],
                       working_sigma=meta["working_sigma"], clean=clean, notes=meta["notes"])


def write_restoration(r: Restoration, name: str, out: Path, steering: Steering = Steering()) -> dict[str, Path]:
    """Write every output of one photo at the photo's size (each file atomically) and its metrics, which
    say how the result was `steering`-ed. The scores are computed while the images are written, the files
    shared between threads (one per core); the metrics file is written last, when every other file is."""
    paths = {kind: out / f"{name}_{kind}.png" for kind in OUTPUT_KINDS}
    with ThreadPoolExecutor(cpu_count(), thread_name_prefix="bigprior-writer") as pool:
        scoring = pool.submit(r.scores)
        images = images_of(r)
        images["phi_overlay"] = phi_overlay(r.restored, images["phi"])
        jobs = [pool.submit(imageio.write_png, paths[kind], image, True) for kind, image in images.items()]
        jobs += [pool.submit(imageio.write_png, out / f"{name}_{source.name}.png", image, True)
                 for source, image in zip(r.sources, r.images) if source.kind is not SourceKind.GENERATIVE]
        jobs.append(pool.submit(write_state, r, name, out))
        scores = scoring.result()
        write_share_figure(r, share_picture(r.kind_shares()), paths["shares"])  # matplotlib: in this thread only
        figures.panel_grid([(name, figure_panels(r, images))], paths["figure"])
        for job in jobs:
            job.result()
    paths["metrics"] = out / f"{name}{METRICS_SUFFIX}"
    known = {"keep_known": r.keep_known} if r.observation.mask is not None else {}
    steered = {"steering": steering_summary(steering)}
    imageio.write_json(paths["metrics"], {"name": name, **scores, **known, **steered, "notes": r.notes})
    return paths


def steering_summary(steering: Steering) -> dict:
    """The steering as metrics.json records it (masks by their pixel counts)."""
    return {"prior_strength": steering.prior_strength, "max_phi": steering.max_phi,
            "protect_pixels": int(steering.protect.sum()) if steering.protect is not None else 0,
            "prior_region_pixels": int(steering.prior_region.sum()) if steering.prior_region is not None else 0}
