"""Pick the classical peers' settings on LSUN training images only, and check the shipped defaults.

    python experiments/peers/tune.py ../shared/bigprior-paper/lsun [--out results/peers/tuning.md] [--write_table]

For each task, every candidate setting of each peer restores the observations of training images 0..9
of bedroom, church and conference (made by the task's degradation with the project's seeded streams,
seed 0, exactly as the inversion scripts make them: the colorization luma truncated to 8 bits as its
input files are), and the setting with the best mean PSNR is picked. The colorization peers learn from images:
MeanChroma is the mean chroma of training images 0..249 (no choice to make); LumaChroma's shrinkage
`prior_count` is picked by fitting on images 10..249 and scoring on 0..9, then the table is fitted on
0..249 (`--write_table` writes it to code/bigprior/assets/peers/luma_chroma.json). Test images 250..299
are never read.

The printed table (and `--out`) shows every candidate's mean PSNR and whether the pick equals the
default the package ships; a default that is not the pick is a failure (exit 1).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import torch

from bigprior import imageio, metrics
from bigprior.baselines.classical import REGISTRY
from bigprior.baselines.classical.base import ClassicalMethod
from bigprior.baselines.classical.colorization import ChromaStatistics, LumaChroma, MeanChroma
from bigprior.degradations import REGISTRY as TASKS, Observation

CATEGORIES = ("bedroom", "church", "conference")
TUNING_IMAGES = range(10)  # the images every setting is scored on
TRAINING_IMAGES = range(250)  # what the colorization peers may learn from
SEED = 0
TABLE_ASSET = Path("code/bigprior/assets/peers/luma_chroma.json")

# candidate settings per peer (each a dict of fields); the shipped default must be among them
CANDIDATES: dict[str, list[dict]] = {
    "NLMeans": [{"h_factor": h, "patch_size": p, "patch_distance": 6} for h in (0.4, 0.5, 0.6, 0.7) for p in (3, 5)],
    "TV": [{"weight_factor": w} for w in (0.5, 0.625, 0.75, 0.875, 1.0)],
    "FastNLMeans": [{"h_factor": h, "h_color_factor": h} for h in (0.3, 0.4, 0.5, 0.6, 0.7)],
    "BM3D": [{"sigma_factor": s} for s in (0.8, 0.9, 1.0, 1.1, 1.2)],
    "Telea": [{"radius": r} for r in (9, 17, 25, 33, 41, 49)],
    "NavierStokes": [{"radius": r} for r in (9, 17, 25, 33, 41)],
    "Biharmonic": [{"split_into_regions": True}],
}
PRIOR_COUNTS = (0.0, 10.0, 100.0, 1000.0, 10000.0)


def clean_images(lsun: Path, category: str, indices: Iterable[int]) -> list[tuple[int, np.ndarray]]:
    files = imageio.list_images(lsun / category)
    return [(i, imageio.float_from_uint8(imageio.read_rgb(files[i], allow_conversion=True))) for i in indices]


def observations(task: str, lsun: Path, indices: Iterable[int]) -> list[tuple[Observation, np.ndarray]]:
    """(observation, ground truth) of each category's images, as the task's degradation makes them."""
    degradation = TASKS[task]()
    pairs = []
    for category in CATEGORIES:
        for index, clean in clean_images(lsun, category, indices):
            observation = degradation.observe(imageio.hwc_to_chw(clean), index, SEED)
            if task == "col":  # the input files hold 8-bit luma, truncated (Colorization.write_observation)
                luma = imageio.float_from_uint8(imageio.uint8_from_float_truncated(observation.x[0]))
                observation = Observation(x=torch.from_numpy(luma)[None])
            pairs.append((observation, clean))
    return pairs


def mean_psnr(method: ClassicalMethod, pairs: Sequence[tuple[Observation, np.ndarray]]) -> float:
    return float(np.mean([metrics.psnr(imageio.float_from_uint8(imageio.uint8_from_float(method.restore(o))), gt)
                          for o, gt in pairs]))


def tune_method(name: str, pairs: Sequence[tuple[Observation, np.ndarray]]) -> tuple[list[str], bool]:
    """Table lines for one peer's candidates and whether its default is the best candidate."""
    cls = REGISTRY[name]
    default = {key: value for key, value in cls().settings().items()}
    scores = []
    for settings in CANDIDATES[name]:
        scores.append((mean_psnr(cls.from_settings({**default, **settings}), pairs), settings))
        print(f"  {name} {settings}: {scores[-1][0]:.3f} dB", flush=True)
    best = max(scores, key=lambda item: item[0])[1]
    agrees = all(default[key] == value for key, value in best.items())
    lines = [f"| {name} | {json.dumps(s)} | {p:.3f} | {'pick' if s == best else ''} |" for p, s in scores]
    return lines, agrees


def chroma_statistics(lsun: Path, indices: Iterable[int]) -> ChromaStatistics:
    """The chroma statistics of (8-bit input luma, ground truth) over each category's images."""
    return ChromaStatistics.of_images([(o.x[0].numpy(), gt) for o, gt in observations("col", lsun, indices)])


def tune_colorization(lsun: Path, write_table: bool) -> tuple[list[str], bool]:
    pairs = observations("col", lsun, TUNING_IMAGES)
    held_out = chroma_statistics(lsun, [i for i in TRAINING_IMAGES if i not in TUNING_IMAGES])
    lines, scores = [], []
    for count in PRIOR_COUNTS:
        scores.append((mean_psnr(LumaChroma.from_statistics(held_out, count), pairs), count))
        print(f"  LumaChroma prior_count {count:g}: {scores[-1][0]:.3f} dB", flush=True)
    best = max(scores)[1]
    lines += [f"| LumaChroma | {{\"prior_count\": {c:g}}} (fit on 10..249) | {p:.3f} | {'pick' if c == best else ''} |"
              for p, c in scores]
    full = chroma_statistics(lsun, TRAINING_IMAGES)
    mean, table = MeanChroma.from_statistics(full), LumaChroma.from_statistics(full, best)
    shipped_mean, shipped_table = MeanChroma(), LumaChroma()
    lines.append(f"| MeanChroma | fit on 0..249: cb {mean.cb:.6f}, cr {mean.cr:.6f} (shipped {shipped_mean.cb:.6f}, "
                 f"{shipped_mean.cr:.6f}) | {mean_psnr(mean, pairs):.3f} | |")
    agrees = best == LumaChroma.PRIOR_COUNT and np.allclose([mean.cb, mean.cr], [shipped_mean.cb, shipped_mean.cr], atol=1e-9)
    table_agrees = np.allclose(table.cb, shipped_table.cb, atol=1e-9) and np.allclose(table.cr, shipped_table.cr, atol=1e-9)
    if write_table:
        imageio.write_json(TABLE_ASSET, {"method": LumaChroma.name, "settings": dataclasses.asdict(table),
                                         "fitted_on": "LSUN images 0..249 of bedroom, church, conference (750 images)",
                                         "written_by": "experiments/peers/tune.py"})
    elif not table_agrees:
        print(f"  the shipped {TABLE_ASSET} differs from the fit (rerun with --write_table)")
    return lines, agrees and (table_agrees or write_table)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("lsun", type=Path, help="folder with bedroom/, church/, conference/ (../shared/bigprior-paper/lsun)")
    parser.add_argument("--out", type=Path, default=None, help="write the table (markdown) here too")
    parser.add_argument("--write_table", action="store_true", help=f"write the fitted LumaChroma table to {TABLE_ASSET}")
    parser.add_argument("--tasks", default="denblind,inpcrop,col", help="comma-separated tasks to tune")
    args = parser.parse_args(argv)
    lines = ["| peer | setting | mean PSNR, LSUN 0..9 x 3 categories (dB) | |", "| --- | --- | --- | --- |"]
    failures = []
    for task in args.tasks.split(","):
        print(f"{task}:", flush=True)
        if task == "col":
            task_lines, agrees = tune_colorization(args.lsun, args.write_table)
            lines += task_lines
            failures += [] if agrees else ["MeanChroma/LumaChroma"]
            continue
        pairs = observations(task, args.lsun, TUNING_IMAGES)
        for cls in REGISTRY.values():
            if task in cls.tasks() and cls.available() and cls.name in CANDIDATES:
                method_lines, agrees = tune_method(cls.name, pairs)
                lines += method_lines
                failures += [] if agrees else [cls.name]
    text = "\n".join(lines)
    print(text)
    if args.out:
        imageio.write_text(args.out, f"# Peer settings picked on training images\n\n`python experiments/peers/tune.py "
                                     f"{args.lsun}`\n\n{text}\n")
    if failures:
        print(f"the shipped defaults of {', '.join(failures)} are not the picks above", file=sys.stderr)
        return 1
    print("every shipped default is the pick")
    return 0


if __name__ == "__main__":
    sys.exit(main())
