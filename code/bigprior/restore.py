"""`bigprior restore`: restore any image with a generative prior and a fusion network.

    bigprior restore --task denoise --input photo.png --out results/
    bigprior restore --task colorize --input photo.png --out results/ --degrade True

A photo is the observation (a grayscale or colour photo to colorize, a photo with a hole and its mask,
a noisy photo), or with `--degrade True` a clean photo from which the observation is simulated, and
PSNR/SSIM against it are reported. The defaults are the built-in generator and fusion networks
(`bigprior.defaults`); `--gan_model/--gan_weights` and `--fusion_run` take others.

Photos of another size are resized to the generator's resolution (bicubic, with a warning), restored
there, and the results resized back; metrics are computed at the working resolution. Transparent
images (RGBA, LA, palette with transparency) are flattened onto white; a grayscale photo is colour
for inpainting (its grey replicated), but an error for denoising, which expects RGB noise.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import torch
from matplotlib import colormaps
from PIL import Image

from . import figures, imageio, metrics
from .defaults import TaskDefault, task_defaults
from .degradations import Degradation, Inpainting, Observation, luma, read_mask
from .errors import BIGPriorError
from .fusion.model import BIGPriorFusion, load_fusion_run
from .generators import load_generator as load_generator_file
from .zoo import resolve_generator_path
from .inversion.losses import build_loss
from .inversion.spaces import LATENT_SPACES
from .inversion.stage import Inverter
from .runtime import add_runtime_flags, resolve_device, str2bool

TASKS = ("colorize", "inpaint", "denoise")
PHI_OVERLAY_ALPHA = 0.55


def warn(message: str) -> None:
    print(f"warning: {message}", file=sys.stderr)


# ---------------------------------------------------------------------------------------------
# reading photos


def read_photo(path: Path) -> np.ndarray:
    """A photo as HxW (grayscale) or HxWx3 uint8; transparency is flattened onto white (with a warning)."""
    path = Path(path)
    image = imageio.open_image(path, "--input ")
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        warn(f"{path}: {image.mode} image, its transparency is flattened onto white")
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(background, rgba).convert("RGB")
    elif image.mode in ("L", "I", "I;16", "F", "1"):
        image = image.convert("L")
    elif image.mode != "RGB":
        image = image.convert("RGB")
    return np.asarray(image)


def resize(image: np.ndarray, size: tuple[int, int], resample: int = Image.BICUBIC) -> np.ndarray:
    """Resize an HxW or HxWx3 uint8 image to (width, height)."""
    if image.shape[1::-1] == size:
        return image
    return np.asarray(Image.fromarray(image).resize(size, resample))


def resize_float(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resize an HxWxC float image channel by channel (bicubic, no clipping)."""
    if image.shape[1::-1] == size:
        return image
    planes = [np.asarray(Image.fromarray(image[:, :, c].astype(np.float32), "F").resize(size, Image.BICUBIC))
              for c in range(image.shape[2])]
    return np.stack(planes, axis=2)


# ---------------------------------------------------------------------------------------------
# restoring


@dataclass
class Restoration:
    """One restored photo at the working resolution; arrays are HxWx3."""

    name: str
    observation: np.ndarray  # float, what the restoration saw (grey replicated; holes black)
    prior: np.ndarray  # uint8, the generative prior
    restored: np.ndarray  # float in [0, 1]: (1 - phi) x + phi g, clamped
    phi: np.ndarray  # float, unclamped
    clean: np.ndarray | None = None  # uint8 ground truth, with --degrade
    original_size: tuple[int, int] = (0, 0)  # (width, height) of the input photo
    notes: list[str] = field(default_factory=list)

    def scores(self) -> dict:
        result = {"phi_mean": float(self.phi.mean()), "phi_std": float(self.phi.std())}
        if self.clean is not None:
            for label, image in (("degraded", np.clip(self.observation, 0, 1)), ("prior", self.prior),
                                 ("bigprior", self.restored)):
                result[f"{label}_psnr"] = metrics.psnr(image, self.clean)
                result[f"{label}_ssim"] = metrics.ssim(image, self.clean)
        return result


class Restorer:
    """A generator inversion plus a fusion network for one degradation."""

    def __init__(self, inverter: Inverter, fusion: BIGPriorFusion, device: torch.device) -> None:
        self.inverter, self.fusion, self.device = inverter, fusion, device
        self.degradation = inverter.degradation
        self.resolution = inverter.resolution

    def restore(self, observations: Sequence[Observation], names: Sequence[str],
                clean: Sequence[np.ndarray | None] | None = None, batch_size: int = 8) -> list[Restoration]:
        """Invert and fuse observations (CxRxR tensors of the working resolution)."""
        clean = list(clean) if clean is not None else [None] * len(observations)
        results: list[Restoration] = []
        for start in range(0, len(observations), batch_size):
            part = slice(start, start + batch_size)
            inverted = self.inverter.invert_observations(observations[part], list(range(start, start + len(observations[part]))), clean[part])
            x = torch.stack([o.x for o in observations[part]]).to(self.device)
            prior = torch.stack([imageio.hwc_to_chw(imageio.float_from_uint8(item.prior)) for item in inverted]).to(self.device)
            with torch.no_grad():
                out, phi = self.fusion(x, prior)
            out = out.clamp(0, 1)
            for k, item in enumerate(inverted):
                observed = imageio.chw_to_hwc(x[k].expand(3, -1, -1))
                results.append(Restoration(names[start + k], observed, item.prior, imageio.chw_to_hwc(out[k]),
                                           imageio.chw_to_hwc(phi[k]), item.clean))
        return results


def degradation_for(task: str, defaults: dict[str, TaskDefault], mask: torch.Tensor | None,
                    random_mask: bool) -> tuple[Degradation, TaskDefault]:
    """The degradation of a restore task and the built-in default it uses (inpainting: the centre-hole
    network for the centre hole, the random-mask network for any other mask)."""
    if task == "colorize":
        default = defaults["col"]
        return default.make_degradation(), default
    if task == "denoise":
        default = defaults["denblind"]
        return default.make_degradation(), default
    if task == "inpaint":
        if mask is not None:
            return Inpainting(mask), defaults["inpvar"]
        if random_mask:
            default = defaults["inpvar"]
            return default.make_degradation(), default
        default = defaults["inpcrop"]
        return default.make_degradation(), default
    raise BIGPriorError(f"--task {task!r}: expected one of {', '.join(TASKS)}")


def observation_from_photo(task: str, photo: np.ndarray, mask: torch.Tensor | None, path: Path) -> Observation:
    """A user's degraded photo (working resolution) as the degradation's observation."""
    if task == "denoise" and photo.ndim == 2:
        raise BIGPriorError(f"--input {path}: grayscale image; denoising expects an RGB photo")
    if task == "colorize":
        if photo.ndim == 3:
            warn(f"{path}: colour photo; its luma is colorized")
            return Observation(x=luma(imageio.hwc_to_chw(imageio.float_from_uint8(photo))))
        return Observation(x=imageio.hwc_to_chw(imageio.float_from_uint8(photo)))
    rgb = np.repeat(photo[:, :, None], 3, axis=2) if photo.ndim == 2 else photo
    x = imageio.hwc_to_chw(imageio.float_from_uint8(rgb))
    if task == "inpaint":
        return Observation(x=x * (1 - mask), mask=mask)
    return Observation(x=x)


# ---------------------------------------------------------------------------------------------
# writing


def phi_overlay(restored: np.ndarray, phi: np.ndarray) -> np.ndarray:
    """The restored image with mean phi as a heatmap on top (bright = taken from the prior)."""
    heat = colormaps[figures.PHI_COLORMAP](np.clip(phi.mean(axis=2), 0, 1))[:, :, :3]
    return np.clip((1 - PHI_OVERLAY_ALPHA) * restored + PHI_OVERLAY_ALPHA * heat, 0, 1)


def figure_panels(r: Restoration) -> list[figures.Panel]:
    panels = [
        figures.Panel("input", np.clip(r.observation, 0, 1)),
        figures.Panel("prior", r.prior),
        figures.Panel("BIGPrior", r.restored),
        figures.Panel("phi (prior share)", np.clip(r.phi.mean(axis=2), 0, 1), cmap=figures.PHI_COLORMAP, value_range=(0, 1)),
    ]
    if r.clean is not None:
        panels.append(figures.Panel("ground truth", r.clean))
    return panels


def write_restoration(r: Restoration, out: Path) -> dict[str, Path]:
    """Write every output of one photo (each file atomically), back at the photo's own size."""
    size = r.original_size
    if size != r.restored.shape[1::-1]:
        r.notes.append(f"restored at {r.restored.shape[1]}x{r.restored.shape[0]}, written at {size[0]}x{size[1]}")

    def at_size(image: np.ndarray) -> np.ndarray:
        return resize(imageio.uint8_from_float(image) if image.dtype != np.uint8 else image, size)

    paths = {kind: out / f"{r.name}_{kind}.png" for kind in ("input", "prior", "restored", "phi", "phi_overlay", "figure")}
    imageio.write_png(paths["input"], at_size(np.clip(r.observation, 0, 1)))
    imageio.write_png(paths["prior"], at_size(r.prior))
    imageio.write_png(paths["restored"], at_size(r.restored))
    imageio.write_png(paths["phi"], resize(imageio.uint8_from_float(np.clip(r.phi.mean(axis=2), 0, 1)), size))
    imageio.write_png(paths["phi_overlay"], at_size(phi_overlay(r.restored, r.phi)))
    figures.panel_grid([(r.name, figure_panels(r))], paths["figure"])
    paths["metrics"] = out / f"{r.name}_metrics.json"
    imageio.write_json(paths["metrics"], {"name": r.name, **r.scores(), "notes": r.notes})
    return paths


def format_table(rows: Sequence[Restoration]) -> str:
    degrade = rows[0].clean is not None
    header = f"{'image':16s} {'mean phi':>8s}"
    if degrade:
        header += f" {'degraded':>9s} {'prior':>7s} {'BIGPrior':>9s}   (PSNR dB)"
    lines = [header]
    for r in rows:
        s = r.scores()
        line = f"{r.name:16s} {s['phi_mean']:8.3f}"
        if degrade:
            line += f" {s['degraded_psnr']:9.2f} {s['prior_psnr']:7.2f} {s['bigprior_psnr']:9.2f}"
        lines.append(line)
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# building a restorer


def load_generator(gan_model: str | None = None, gan_weights: str | None = None) -> torch.nn.Module:
    """The built-in generator, or a published one (PGGAN or StyleGAN2) by name or file."""
    return load_generator_file(resolve_generator_path(gan_model, gan_weights))


def working_mask(mask_image: torch.Tensor, resolution: int) -> torch.Tensor:
    """A mask (1xHxW, 1 = missing) at the generator's resolution (nearest)."""
    resized = torch.nn.functional.interpolate(mask_image[None], size=(resolution, resolution), mode="nearest")[0]
    return (resized > 0.5).float()


def build_restorer(task: str, generator: torch.nn.Module, device: torch.device, *, mask: torch.Tensor | None = None,
                   random_mask: bool = False, fusion_run: str | None = None, fusion_epoch: int | None = None,
                   iterations: int | None = None, seed: int = 0, latent_space: str | None = None,
                   defaults: dict[str, TaskDefault] | None = None) -> Restorer:
    """Generator inversion + fusion for `task`; `mask` (working resolution) is the inpainting mask;
    `iterations` and `latent_space`, when given, replace the built-in inversion setting's."""
    defaults = defaults or task_defaults()
    degradation, default = degradation_for(task, defaults, mask, random_mask)
    overrides = {key: value for key, value in (("iterations", iterations), ("latent_space", latent_space)) if value is not None}
    settings = replace(default.inversion, seed=seed, **overrides)
    inverter = Inverter(generator, build_loss("L2", 0.0, 1.0, 0.0), degradation, settings, device)
    channels = degradation.observation_channels
    fusion = (load_fusion_run(fusion_run, fusion_epoch, device, "--fusion_run ") if fusion_run
              else default.fusion_model(channels, device))
    if fusion.observation_channels != channels:
        raise BIGPriorError(f"--fusion_run {fusion_run}: its network takes {fusion.observation_channels}-channel observations, "
                            f"--task {task} gives {channels}")
    return Restorer(inverter, fusion, device)


def prepare(task: str, paths: Sequence[Path], resolution: int, degradation: Degradation, degrade: bool,
            mask_size: tuple[int, int] | None, seed: int) -> tuple[list[Observation], list[np.ndarray | None], list[tuple[int, int]]]:
    """Read every photo (all are checked before anything is inverted) and make its observation at the
    working resolution. `mask_size` (width, height) is the given mask's: every photo must match it."""
    observations, clean, sizes = [], [], []
    working = (resolution, resolution)
    for index, path in enumerate(paths):
        photo = read_photo(path)
        size = photo.shape[1::-1]
        if mask_size is not None and size != mask_size:
            raise BIGPriorError(f"--mask: the mask is {mask_size[0]}x{mask_size[1]} but {path} is {size[0]}x{size[1]}")
        if size != working:
            warn(f"{path}: {size[0]}x{size[1]} image resized to the generator's {working[0]}x{working[1]} and back")
        photo = resize(photo, working)
        if degrade:
            if photo.ndim == 2:
                raise BIGPriorError(f"--input {path}: grayscale image; --degrade True needs a colour photo")
            observation = degradation.observe(imageio.hwc_to_chw(imageio.float_from_uint8(photo)), index, seed)
            clean.append(photo)
        else:
            mask = getattr(degradation, "mask", None)
            if task == "inpaint" and mask is None:
                mask = degradation.mask_for(index, seed, resolution, resolution)
            observation = observation_from_photo(task, photo, mask, path)
            clean.append(None)
        observations.append(observation)
        sizes.append(size)
    return observations, clean, sizes


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bigprior restore", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--task", required=True, help=f"one of {', '.join(TASKS)}")
    parser.add_argument("--input", required=True, nargs="+", help="photo(s) to restore")
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument("--degrade", type=str2bool, default=False,
                        help="True: the input is clean; simulate the degradation and report PSNR/SSIM")
    parser.add_argument("--mask", default=None, help="inpainting mask, white = missing, the photo's size (default: centre hole)")
    parser.add_argument("--random_mask", type=str2bool, default=False, help="with --degrade: random rectangular holes")
    parser.add_argument("--gan_model", default=None, help="a published generator's name instead of the built-in one")
    parser.add_argument("--gan_weights", default=None, help="a generator weights file instead of the built-in one")
    parser.add_argument("--fusion_run", default=None, help="a fusion run folder (net_data/<exp>_<ID>) instead of the built-in network")
    parser.add_argument("--fusion_epoch", type=int, default=None, help="checkpoint epoch of --fusion_run (default: the one its test_epoch_rule picks, else the last)")
    parser.add_argument("--iterations", type=int, default=None, help="inversion steps (default: the built-in setting)")
    parser.add_argument("--latent_space", choices=LATENT_SPACES, default=None,
                        help="inversion latent space (default: the built-in setting's multi); z, w, w+ for StyleGAN2 priors")
    add_runtime_flags(parser)
    return parser


def main(argv: Sequence[str] | None = None) -> list[Restoration]:
    args = build_parser().parse_args(argv)
    if args.task not in TASKS:
        raise BIGPriorError(f"--task {args.task!r}: expected one of {', '.join(TASKS)}")
    if args.mask and args.task != "inpaint":
        raise BIGPriorError("--mask is only for --task inpaint")
    device = resolve_device(args.device)
    mask_image = read_mask(Path(args.mask)) if args.mask else None
    generator = load_generator(args.gan_model, args.gan_weights)
    mask = working_mask(mask_image, generator.resolution) if mask_image is not None else None
    restorer = build_restorer(args.task, generator, device, mask=mask, random_mask=args.random_mask,
                              fusion_run=args.fusion_run, fusion_epoch=args.fusion_epoch, iterations=args.iterations,
                              seed=args.seed, latent_space=args.latent_space)
    paths = [Path(p) for p in args.input]
    mask_size = (mask_image.shape[-1], mask_image.shape[-2]) if mask_image is not None else None
    observations, clean, sizes = prepare(args.task, paths, restorer.resolution, restorer.degradation, args.degrade,
                                         mask_size, args.seed)
    results = restorer.restore(observations, [p.stem for p in paths], clean)
    out = Path(args.out)
    for r, size in zip(results, sizes):
        r.original_size = size
        write_restoration(r, out)
    print(format_table(results))
    print(f"outputs: {out}/<name>_{{input,prior,restored,phi,phi_overlay,figure}}.png and <name>_metrics.json")
    return results
