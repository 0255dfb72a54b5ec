"""The built-in default against the methods a user already has, on photos that are not training images:
`results/builtin_vs_peers/table.md` (issue 19's last goal).

    python experiments/builtin_vs_peers/measure.py [--lsun ../shared/bigprior-paper/lsun] [--out results/builtin_vs_peers]

For each task (colorization, inpainting of the centre hole and of random holes, blind denoising) and each
photo (scikit-image's sample photos at their own size, and LSUN church and conference test images 250..254:
the built-in networks learnt from LSUN bedroom training images only), the photo is degraded once with the
built-in default's degradation (`Pipeline.simulate`, seed 0, as `bigprior restore --degrade True` does);
the built-in pipeline (`Pipeline.from_defaults`: inversion, classical sources, fusion, known pixels
pasted back) and every peer of the default install restore that same observation, and each 8-bit
result is scored against the photo with the package's metric registry.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from skimage import data as skimage_data

from bigprior import imageio
from bigprior.baselines.classical import methods_for
from bigprior.pipeline import Pipeline
from bigprior.scoring import score_image

SKIMAGE_PHOTOS = ("astronaut", "coffee", "chelsea", "rocket", "hubble_deep_field", "immunohistochemistry")
LSUN_PHOTOS = tuple((category, index) for category in ("church", "conference") for index in range(250, 255))
TASKS = {"col": "colorization", "inpcrop": "inpainting, centre hole", "inpvar": "inpainting, random holes",
         "denblind": "blind denoising"}
BUILTIN = "BIGPrior built-in"


def photos(lsun: Path) -> dict[str, np.ndarray]:
    """name -> HxWx3 float32 photo in [0, 1]."""
    found = {name: imageio.float_from_uint8(getattr(skimage_data, name)()) for name in SKIMAGE_PHOTOS}
    for category, index in LSUN_PHOTOS:
        path = imageio.list_images(lsun / category)[index]
        found[f"{category}{index}"] = imageio.float_from_uint8(imageio.read_rgb(path, allow_conversion=True))
    return found


def score(image: np.ndarray, clean: np.ndarray, color: bool) -> dict[str, float]:
    """The registry's scores of a result as written (8 bits)."""
    return score_image(imageio.float_from_uint8(imageio.uint8_from_float(image)), clean, color_metrics=color)


def measure_task(task: str, clean_photos: dict[str, np.ndarray]) -> dict[str, dict[str, list[float]]]:
    """method -> metric -> per-photo values, and seconds per photo of the built-in pipeline."""
    pipeline = Pipeline.from_defaults(task)
    color = pipeline.degradation.color_metrics
    peers = [cls() for cls in methods_for(task, optional=False)]
    results: dict[str, dict[str, list[float]]] = {}
    for index, (name, clean) in enumerate(clean_photos.items()):
        observation = pipeline.simulate(clean, index)
        start = time.perf_counter()
        restored = pipeline.restore(observation, index=index, clean=clean).restored
        seconds = time.perf_counter() - start
        outputs = {BUILTIN: restored, **{peer.name: peer.restore(observation) for peer in peers}}
        for method, image in outputs.items():
            row = results.setdefault(method, {})
            for key, value in score(image, clean, color).items():
                row.setdefault(key, []).append(value)
        results[BUILTIN].setdefault("seconds", []).append(seconds)
        print(f"{task} {name} {clean.shape[1]}x{clean.shape[0]}: " + ", ".join(
            f"{method} {values['psnr'][-1]:.2f}" for method, values in results.items()), flush=True)
    return results


def table(all_results: dict[str, dict]) -> list[str]:
    lines = ["| task | method | mean PSNR | mean SSIM | AuC | photos where the built-in is at least this method (PSNR) |",
             "| --- | --- | --- | --- | --- | --- |"]
    for task, results in all_results.items():
        ours = np.array(results[BUILTIN]["psnr"])
        for method, values in sorted(results.items(), key=lambda item: -np.mean(item[1]["psnr"])):
            auc = f"{np.mean(values['auc']):.2f}" if "auc" in values else ""
            wins = "" if method == BUILTIN else f"{int((ours >= np.array(values['psnr'])).sum())} of {len(ours)}"
            lines.append(f"| {TASKS[task]} | {method} | {np.mean(values['psnr']):.2f} | {np.mean(values['ssim']):.4f} | {auc} | {wins} |")
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lsun", type=Path, default=Path("../shared/bigprior-paper/lsun"))
    parser.add_argument("--out", type=Path, default=Path("results/builtin_vs_peers"))
    parser.add_argument("--tasks", default=",".join(TASKS))
    args = parser.parse_args(argv)
    clean_photos = photos(args.lsun)
    all_results = {task: measure_task(task, clean_photos) for task in args.tasks.split(",")}
    lines = table(all_results)
    verdict = []
    for task, results in all_results.items():
        best_peer = max((m for m in results if m != BUILTIN), key=lambda m: np.mean(results[m]["psnr"]))
        margin = np.mean(results[BUILTIN]["psnr"]) - np.mean(results[best_peer]["psnr"])
        verdict.append(f"{TASKS[task]}: built-in {margin:+.2f} dB against the best peer ({best_peer}); "
                       f"{np.mean(results[BUILTIN]['seconds']):.1f} s per photo")
    photos_line = ", ".join(f"{name} ({clean.shape[1]}x{clean.shape[0]})" for name, clean in clean_photos.items())
    text = ["# The built-in default against the peers of the default install, on photos that are not training images", "",
            "`python experiments/builtin_vs_peers/measure.py`", "", f"Photos: {photos_line}.", "", *lines, "", *verdict]
    imageio.write_text(args.out / "table.md", "\n".join(text) + "\n")
    print("\n".join(lines + [""] + verdict))
    return 0


if __name__ == "__main__":
    sys.exit(main())
