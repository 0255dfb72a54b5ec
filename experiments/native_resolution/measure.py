"""Restoring photos at their own resolution (the native pipeline) against the resize-all pipeline of
git main at 9c7c4fc, on photos the tests do not use: table.md and results.json in this folder.

    python experiments/native_resolution/measure.py [--workspace runs/native_resolution] [--shared ../shared]

Each photo is degraded once per task with the built-in default's degradation (seed 0; random holes
scaled to the photo) and written as a user's degraded photo (8-bit PNG, the noise clipped; random holes
also as a mask file). Both pipelines restore the same files with `bigprior restore` (no --degrade:
the old one shrinks them to 64x64 and enlarges its results back, the new one works at the photo's
size), and this script scores every output against the clean photo at the photo's resolution. The new
pipeline runs twice for inpainting, with --keep_known True and False. Reruns reuse finished outputs.
`--only_new --new_label "..."` restores with this checkout only and adds its rows to results.json (e.g.
after the built-in networks were retrained).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image
from skimage import data as skimage_data

ROOT = Path(__file__).resolve().parents[2]  # the repository
RESULTS = ROOT / "results" / "native_resolution"  # what this script writes

from bigprior import imageio
from bigprior.defaults import load_defaults
from bigprior.degradations import REGISTRY, mask_to_uint8
from bigprior.pipeline import simulate
from bigprior.scoring import score_outputs

OLD_COMMIT = "9c7c4fc"
SKIMAGE_PHOTOS = ("rocket", "hubble_deep_field")
LSUN_PHOTOS = (("bedroom", 250), ("bedroom", 251), ("church", 250), ("church", 251), ("conference", 250))
LSUN_ENLARGED = 512  # LSUN's 256 px test images, enlarged (bicubic) to this side
SEED = 0
NEW_LABEL = "new (native)"


def clean_photos(workspace: Path, lsun: Path) -> dict[str, Path]:
    """The clean photos as PNG files: scikit-image's at their own size, LSUN test images enlarged."""
    folder = workspace / "clean"
    photos = {}
    for name in SKIMAGE_PHOTOS:
        photos[name] = folder / f"{name}.png"
        if not photos[name].is_file():
            imageio.write_png(photos[name], getattr(skimage_data, name)())
    for category, index in LSUN_PHOTOS:
        name = f"{category}{index}"
        photos[name] = folder / f"{name}.png"
        if not photos[name].is_file():
            source = imageio.list_images(lsun / category)[index]
            image = Image.open(source).convert("RGB").resize((LSUN_ENLARGED, LSUN_ENLARGED), Image.BICUBIC)
            imageio.write_png(photos[name], np.asarray(image))
    return photos


def degraded_inputs(workspace: Path, task: str, photos: dict[str, Path]) -> dict[str, tuple[Path, Path | None, np.ndarray | None]]:
    """Each photo degraded as `task` (seed 0, index = position), as an 8-bit PNG and, for masked tasks
    whose holes vary, a mask file; with the photo's known pixels (masked tasks)."""
    default = load_defaults().task(task)
    degradation, folder = default.make_degradation(), workspace / "degraded" / task
    inputs = {}
    for index, (name, path) in enumerate(photos.items()):
        target, mask_path = folder / f"{name}.png", folder / f"{name}_mask.png"
        observation = simulate(degradation, imageio.float_from_uint8(imageio.read_rgb(path)), index, SEED,
                               default.image_resolution)
        if not target.is_file():
            if observation.mask is not None and REGISTRY[task].varied_masks:
                imageio.write_png(mask_path, mask_to_uint8(observation.mask))
            imageio.write_png(target, imageio.uint8_from_float(imageio.chw_to_hwc(observation.x.clamp(0, 1))))
        known = None if observation.mask is None else observation.mask[0].numpy() == 0
        inputs[name] = (target, mask_path if mask_path.is_file() else None, known)
    return inputs


def restore(code: Path, task: str, inputs: list[tuple[Path, Path | None]], out: Path, extra: list[str]) -> None:
    """`bigprior restore` of one checkout on the degraded photos (one call per mask file)."""
    verb = REGISTRY[task].verb
    groups = [[i for i, m in inputs if m is None]] + [[i] for i, m in inputs if m is not None]
    masks = [None] + [m for _, m in inputs if m is not None]
    for paths, mask in zip(groups, masks):
        if not paths or all((out / f"{p.stem}_metrics.json").is_file() for p in paths):
            continue
        command = [sys.executable, "-m", "bigprior.cli", "restore", "--task", verb, "--input", *map(str, paths),
                   "--out", str(out), "--seed", str(SEED), *(["--mask", str(mask)] if mask else []), *extra]
        env = {**os.environ, "PYTHONPATH": str(code / "code")}
        done = subprocess.run(command, env=env, capture_output=True, text=True)
        if done.returncode != 0:
            raise SystemExit(f"{' '.join(command)} failed:\n{done.stderr[-2000:]}")


def scores(clean: Path, degraded: Path, out: Path, known: np.ndarray | None) -> dict[str, float]:
    """PSNR/SSIM at the photo's resolution of the degraded photo, the prior and BIGPrior, and for masked
    tasks how far BIGPrior moved the known pixels (mean absolute difference, grey levels)."""
    reference = imageio.read_rgb(clean)
    images = {"degraded": imageio.read_rgb(degraded, allow_conversion=True),
              "prior": imageio.read_rgb(out / f"{degraded.stem}_prior.png"),
              "bigprior": imageio.read_rgb(out / f"{degraded.stem}_restored.png")}
    scores = score_outputs(images, imageio.float_from_uint8(reference), color_metrics=False)
    result = {f"{label}_{key}": scores[f"{label}_{key}"] for label in images for key in ("psnr", "ssim")}
    if known is not None:
        result["known_change"] = float(np.abs(images["bigprior"].astype(float) - reference)[known].mean())
    return result


def old_checkout(workspace: Path) -> Path:
    """The code of git main at OLD_COMMIT (the resize-all pipeline), exported once."""
    folder = workspace / f"code_{OLD_COMMIT}"
    if not (folder / "code").is_dir():
        folder.mkdir(parents=True, exist_ok=True)
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", OLD_COMMIT, "code"], capture_output=True, check=True)
        subprocess.run(["tar", "-x", "-C", str(folder)], input=archive.stdout, check=True)
    return folder


def pipelines(task: str, workspace: Path, new_label: str, only_new: bool) -> dict[str, tuple[Path, list[str]]]:
    """label -> (checkout, extra restore flags): the old pipeline (unless `only_new`), the new one of this
    checkout (and, for masked tasks, the new one without pasting the known pixels back)."""
    result = {} if only_new else {f"old ({OLD_COMMIT}, resize-all)": (old_checkout(workspace), [])}
    result[new_label] = (ROOT, [])
    if REGISTRY[task].has_mask:
        result[f"{new_label}, --keep_known False"] = (ROOT, ["--keep_known", "False"])
    return result


def measure_task(workspace: Path, task: str, photos: dict[str, Path], new_label: str = NEW_LABEL,
                 only_new: bool = False) -> dict[str, dict[str, dict[str, float]]]:
    """label -> photo -> scores of one task."""
    inputs = degraded_inputs(workspace, task, photos)
    result = {}
    for label, (code, extra) in pipelines(task, workspace, new_label, only_new).items():
        out = workspace / "restored" / task / "".join(c if c.isalnum() else "_" for c in label)
        restore(code, task, [(path, mask) for path, mask, _ in inputs.values()], out, [*extra, "--device", "cpu"])
        result[label] = {name: scores(photos[name], path, out, known) for name, (path, _, known) in inputs.items()}
    return result


def markdown(results: dict[str, dict[str, dict[str, dict[str, float]]]], photos: dict[str, Path]) -> str:
    """Mean scores per task and pipeline, then BIGPrior's PSNR per photo."""
    kinds = [f"{label}_{metric}" for metric in ("psnr", "ssim") for label in ("degraded", "prior", "bigprior")]
    lines = ["| task | pipeline | degraded PSNR | prior PSNR | BIGPrior PSNR | degraded SSIM | prior SSIM | BIGPrior SSIM |",
             "|" + " --- |" * 8]
    for task, by_label in results.items():
        for label, by_photo in by_label.items():
            means = [np.mean([s[kind] for s in by_photo.values()]) for kind in kinds]
            lines.append(f"| {task} | {label} | " + " | ".join(f"{m:.2f}" if "psnr" in k else f"{m:.4f}"
                                                              for k, m in zip(kinds, means)) + " |")
    lines += ["", "Inpainting: how far BIGPrior moves the known pixels (mean absolute difference, grey levels):", "",
              "| task | pipeline | mean | per photo (" + ", ".join(photos) + ") |", "| --- | --- | --- | --- |"]
    for task, by_label in results.items():
        for label, by_photo in by_label.items():
            if "known_change" in next(iter(by_photo.values())):
                changes = [by_photo[n]["known_change"] for n in photos]
                lines.append(f"| {task} | {label} | {np.mean(changes):.2f} | " + ", ".join(f"{c:.2f}" for c in changes) + " |")
    lines += ["", "BIGPrior PSNR (dB) per photo:", "", "| task | pipeline | " + " | ".join(photos) + " |",
              "|" + " --- |" * (len(photos) + 2)]
    for task, by_label in results.items():
        for label, by_photo in by_label.items():
            lines.append(f"| {task} | {label} | " + " | ".join(f"{by_photo[n]['bigprior_psnr']:.2f}" for n in photos) + " |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workspace", default="runs/native_resolution")
    parser.add_argument("--shared", default=str(ROOT.parent / "shared"))
    parser.add_argument("--tasks", default=",".join(REGISTRY), help="comma-separated experiment prefixes")
    parser.add_argument("--new_label", default=NEW_LABEL, help="label of this checkout's rows (e.g. after retraining)")
    parser.add_argument("--only_new", action="store_true",
                        help="restore with this checkout only and add its rows to the results.json already here")
    args = parser.parse_args()
    workspace = Path(args.workspace).resolve()
    photos = clean_photos(workspace, Path(args.shared) / "bigprior-paper" / "lsun")
    results = imageio.read_json(RESULTS / "results.json")["results"] if args.only_new else {}
    for task in args.tasks.split(","):
        results.setdefault(task, {}).update(measure_task(workspace, task, photos, args.new_label, args.only_new))
        print(f"{task}: done", flush=True)
    sizes = {name: list(Image.open(path).size) for name, path in photos.items()}
    imageio.write_json(RESULTS / "results.json", {"photos": sizes, "results": results})
    text = markdown(results, photos)
    imageio.write_text(RESULTS / "table.md", text)
    print(text)


if __name__ == "__main__":
    main()
