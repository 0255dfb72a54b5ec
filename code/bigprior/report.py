"""`bigprior report` / `python code/report.py`: the paper's tables and figures from experiment folders.

    python code/report.py                                      # every inter_data/<exp> with OURoutput/
    python code/report.py col_bedroom --published ../shared/bigprior-paper
    python code/report.py paper=ws1/inter_data/col_bedroom own=ws2/inter_data/col_bedroom --name compare

An experiment is named (`col_bedroom`, in the workspace `--root`) or given as a folder
(`<workspace>/inter_data/<experiment>`), optionally as `label=...` to tell two runs of one
experiment apart. Its test images are those of its fusion test (`OURoutput/OURargs.txt`:
train_count..N-1); every method with outputs there is scored against GT: the prior (`mGANoutput`),
BIGPrior (`OURoutput`) and each baseline (`<Method>output`, e.g. `DnCNNoutput`, `Teleaoutput`).

Conventions, as the paper's evaluation notebook: PSNR (mean over images of 10 log10(1 / MSE)) and
SSIM (scikit-image) on the saved 8-bit images; AuC for colorization; LPIPS (AlexNet, v0.0) when its
weights are on this machine; phi mean and std from the saved phi maps (8-bit, clamped to [0, 1]).

`reports/<name>/` gets `results.csv` (one row per image), `summary.md` (one row per experiment,
means per task, published numbers side by side with the difference, phi correlations) and PNG
figures. The folder is built aside and swapped in whole, so a failed report leaves the last one.
"""

from __future__ import annotations

import argparse
import csv
import io
import os
import shutil
import sys
import uuid
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from . import figures, imageio, metrics
from .degradations import BlindAWGN
from .errors import BIGPriorError
from .experiment import FUSION_ARGS_FILE, PRIOR_DIR, Experiment, workspace_root
from .fusion.options import FusionOptions
from .published import Published, load_published
from .runtime import add_root_flag

PRIOR, BIGPRIOR = "prior", "bigprior"
METHOD_TITLES = {PRIOR: "prior", BIGPRIOR: "BIGPrior"}
# metric -> (title, decimals shown)
METRICS = {"psnr": ("PSNR", 2), "ssim": ("SSIM", 4), "auc": ("AuC", 2), "lpips": ("LPIPS", 4)}
PHI_COLUMNS = {"phi_mean": ("mean phi", 3), "phi_std": ("std phi", 3)}
DEFAULT_GRID_IMAGES = 4
LPIPS_MODES = ("auto", "off", "required")


# ---------------------------------------------------------------------------------------------
# what is reported on


@dataclass
class Entry:
    """One experiment's test outputs (a row of the summary)."""

    experiment: Experiment
    label: str  # row name: the user's label, else the fusion run and epoch
    key: str  # unique name for file names
    indices: list[int]
    methods: dict[str, Path]  # method -> folder of its {i}.png: prior, bigprior, then the baselines
    sigmas: list[float] | None  # noise level per image index (denoising)

    @property
    def title(self) -> str:
        return self.experiment.name if self.label == self.experiment.name else f"{self.experiment.name} ({self.label})"


def discover_experiments(root: Path) -> list[str]:
    """Every `inter_data/<experiment>/` with an `OURoutput/` folder, sorted; folders whose name is not
    `<task>_<dataset>` of a known task are skipped with a note."""
    inter_data = root / "inter_data"
    names = []
    for folder in sorted(inter_data.iterdir()) if inter_data.is_dir() else []:
        if not (folder / "OURoutput").is_dir():
            continue
        try:
            Experiment(folder.name, root)
        except BIGPriorError as exc:
            print(f"note: skipping {folder}: {exc}", file=sys.stderr)
            continue
        names.append(folder.name)
    if not names:
        raise BIGPriorError(f"{inter_data}: no experiment with an OURoutput/ folder (run the fusion test first)")
    return names


def _experiment_from_spec(spec: str, root: Path) -> tuple[str | None, Experiment]:
    label, sep, target = spec.partition("=")
    if not sep:
        label, target = None, spec
    if os.sep in target or Path(target).is_dir():
        return label, Experiment.from_dir(target)
    return label, Experiment(target, root)


def _test_indices(experiment: Experiment) -> tuple[list[int], str]:
    """The fusion test's images and a run name, from OURoutput/OURargs.txt; without that file, the
    images found in OURoutput/."""
    out_dir = experiment.output_dir()
    if not out_dir.is_dir():
        raise BIGPriorError(f"{out_dir}: folder not found (run the fusion test of {experiment.name} first)")
    if (out_dir / FUSION_ARGS_FILE).is_file():
        options = FusionOptions.load(out_dir)
        _, indices = experiment.split(options.train_count)
        return indices, f"{options.experiment}_{options.test_model} epoch {options.test_epoch}"
    indices = sorted(int(p.stem) for p in out_dir.glob("*.png") if p.stem.isdigit())
    if not indices:
        raise BIGPriorError(f"{out_dir}: no fused images <index>.png")
    return indices, experiment.name


def _sigmas(experiment: Experiment, indices: list[int]) -> list[float] | None:
    if not issubclass(experiment.degradation, BlindAWGN):
        return None
    sigmas = imageio.read_json(experiment.sigma_path)
    if not isinstance(sigmas, list) or len(sigmas) <= max(indices) or not all(isinstance(s, (int, float)) for s in sigmas):
        raise BIGPriorError(f"{experiment.sigma_path}: expected a JSON list of numbers with an entry for each image up to {max(indices)}")
    return [float(s) for s in sigmas]


def resolve_entries(specs: Sequence[str] | None, root: Path) -> list[Entry]:
    """Entries for experiment names, folders or `label=...` specs (default: every experiment of `root`)."""
    specs = list(specs) if specs else discover_experiments(root)
    parsed = [_experiment_from_spec(spec, root) for spec in specs]
    entries: list[Entry] = []
    for label, experiment in parsed:
        indices, run = _test_indices(experiment)
        methods = {PRIOR: experiment.dir / PRIOR_DIR, BIGPRIOR: experiment.output_dir()}
        methods.update({name: experiment.method_dir(name) for name in experiment.baseline_methods()})
        entries.append(Entry(experiment, label or run, "", indices, methods, _sigmas(experiment, indices)))
    names = [e.experiment.name for e in entries]
    for entry in entries:
        unique = names.count(entry.experiment.name) == 1
        entry.key = entry.experiment.name if unique else _slug(f"{entry.experiment.name}_{entry.label}")
        if not unique and entry.label == entry.experiment.name:
            entry.label = str(entry.experiment.root)
    keys = [e.key for e in entries]
    if len(set(keys)) != len(keys):
        raise BIGPriorError("two experiments share a name and a run: label them, e.g. paper=ws1/inter_data/col_bedroom")
    return entries


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in text).strip("_")


# ---------------------------------------------------------------------------------------------
# per-image metrics


@dataclass
class ImageResult:
    index: int
    sigma: float | None
    scores: dict[str, float]  # "<method>_<metric>" -> value
    phi_mean: float
    phi_std: float
    phi_counts: np.ndarray = field(repr=False)  # 256-bin histogram of the 8-bit phi map


def _read_output(path: Path, shape: tuple[int, ...]) -> np.ndarray:
    image = imageio.read_rgb(path)
    if image.shape != shape:
        raise BIGPriorError(f"{path}: size {image.shape[1]}x{image.shape[0]} differs from the ground truth ({shape[1]}x{shape[0]})")
    return image


def evaluate_image(entry: Entry, index: int, lpips_model: metrics.LPIPS | None = None) -> ImageResult:
    experiment = entry.experiment
    gt = imageio.read_rgb(experiment.gt_path(index))
    scores: dict[str, float] = {}
    for method, folder in entry.methods.items():
        image = _read_output(folder / f"{index}.png", gt.shape)
        scores[f"{method}_psnr"] = metrics.psnr(image, gt)
        scores[f"{method}_ssim"] = metrics.ssim(image, gt)
        if experiment.degradation.color_metrics:
            scores[f"{method}_auc"] = metrics.auc(image, gt)
        if lpips_model is not None:
            scores[f"{method}_lpips"] = metrics.lpips(lpips_model, image, gt)
    phi = _read_output(entry.methods[BIGPRIOR] / f"{index}_phi.png", gt.shape)
    phi_float = phi / 255.0
    return ImageResult(
        index=index,
        sigma=entry.sigmas[index] if entry.sigmas is not None else None,
        scores=scores,
        phi_mean=float(phi_float.mean()),
        phi_std=float(phi_float.std()),
        phi_counts=np.bincount(phi.ravel(), minlength=256),
    )


def evaluate(entries: Sequence[Entry], lpips_model: metrics.LPIPS | None = None, workers: int = 4) -> dict[str, list[ImageResult]]:
    """Per-image results of every entry (key -> results in index order), with a progress bar."""
    jobs = [(entry, index) for entry in entries for index in entry.indices]
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        done = list(tqdm(pool.map(lambda job: evaluate_image(*job, lpips_model), jobs), total=len(jobs), desc="scoring images"))
    results: dict[str, list[ImageResult]] = {entry.key: [] for entry in entries}
    for (entry, _), result in zip(jobs, done):
        results[entry.key].append(result)
    return results


# ---------------------------------------------------------------------------------------------
# tables


@dataclass(frozen=True)
class Column:
    key: str
    title: str
    decimals: int


def csv_rows(entries: Sequence[Entry], results: dict[str, list[ImageResult]]) -> list[dict]:
    rows = []
    for entry in entries:
        for r in results[entry.key]:
            rows.append({"experiment": entry.experiment.name, "run": entry.label, "task": entry.experiment.task,
                         "dataset": entry.experiment.dataset, "index": r.index,
                         "sigma": "" if r.sigma is None else r.sigma, **r.scores, "phi_mean": r.phi_mean, "phi_std": r.phi_std})
    return rows


def entry_means(results: Sequence[ImageResult]) -> dict[str, float]:
    keys = list(dict.fromkeys(k for r in results for k in r.scores))
    means = {k: float(np.mean([r.scores[k] for r in results if k in r.scores])) for k in keys}
    means["phi_mean"] = float(np.mean([r.phi_mean for r in results]))
    means["phi_std"] = float(np.mean([r.phi_std for r in results]))
    return means


def metric_columns(entries: Sequence[Entry], means: dict[str, dict[str, float]], lpips_computed: bool) -> list[Column]:
    """prior, BIGPrior and baseline columns of each metric that has a value somewhere (LPIPS always,
    shown as n/a when it was not computed), then the phi statistics."""
    methods = list(dict.fromkeys(m for e in entries for m in e.methods))
    columns = []
    for metric, (title, decimals) in METRICS.items():
        for method in methods:
            key = f"{method}_{metric}"
            shown = any(key in m for m in means.values()) or (metric == "lpips" and not lpips_computed and method in (PRIOR, BIGPRIOR))
            if shown:
                columns.append(Column(key, f"{METHOD_TITLES.get(method, method)} {title}", decimals))
    columns += [Column(key, title, decimals) for key, (title, decimals) in PHI_COLUMNS.items()]
    return columns


def _cell(value: float | None, decimals: int) -> str:
    return "n/a" if value is None or not np.isfinite(value) else f"{value:.{decimals}f}"


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(" --- " for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def experiments_table(entries: Sequence[Entry], means: dict[str, dict[str, float]], columns: Sequence[Column]) -> str:
    rows = [[entry.experiment.name, entry.label, str(len(entry.indices))]
            + [_cell(means[entry.key].get(c.key), c.decimals) for c in columns] for entry in entries]
    return markdown_table(["experiment", "run", "images"] + [c.title for c in columns], rows)


def task_table(entries: Sequence[Entry], means: dict[str, dict[str, float]], columns: Sequence[Column]) -> str:
    """Means over the experiments of each task (the paper averaged its per-dataset means)."""
    tasks: dict[str, list[Entry]] = {}
    for entry in entries:
        tasks.setdefault(entry.experiment.degradation.title, []).append(entry)
    rows = []
    for title, group in tasks.items():
        row = [title, str(len(group))]
        for c in columns:
            values = [means[e.key][c.key] for e in group if c.key in means[e.key]]
            row.append(_cell(float(np.mean(values)) if values else None, c.decimals))
        rows.append(row)
    return markdown_table(["task", "experiments"] + [c.title for c in columns], rows)


PUBLISHED_METRICS = [  # (report key, title, decimals) compared with published numbers
    ("prior_psnr", "prior PSNR", 2),
    ("bigprior_psnr", "BIGPrior PSNR", 2),
    ("phi_mean", "mean phi", 3),
    ("prior_auc", "prior AuC", 2),
    ("bigprior_auc", "BIGPrior AuC", 2),
]


def published_table(entries: Sequence[Entry], means: dict[str, dict[str, float]], published: Published) -> str | None:
    """This report | published | difference for each published metric, per experiment found there."""
    compared = [e for e in entries if e.experiment.name in published.values]
    shown = [(k, t, d) for k, t, d in PUBLISHED_METRICS if any(published.get(e.experiment.name, k) is not None for e in compared)]
    if not compared or not shown:
        return None
    header = ["experiment", "run"]
    for _, title, _ in shown:
        header += [title, "published", "difference"]
    rows = []
    for entry in compared:
        row = [entry.experiment.name, entry.label]
        for key, _, decimals in shown:
            ours, theirs = means[entry.key].get(key), published.get(entry.experiment.name, key)
            difference = ours - theirs if ours is not None and theirs is not None else None
            row += [_cell(ours, decimals), _cell(theirs, decimals),
                    "n/a" if difference is None else f"{difference:+.{decimals + 1}f}"]
        rows.append(row)
    return markdown_table(header, rows)


# ---------------------------------------------------------------------------------------------
# figures


def _display_observation(experiment: Experiment, index: int) -> figures.Panel:
    x = imageio.chw_to_hwc(experiment.read_observation(index).clamp(0, 1))
    return figures.Panel("degraded", x, cmap="gray" if x.ndim == 2 else None, value_range=(0, 1))


def grid_figure(entry: Entry, indices: Sequence[int], results: Sequence[ImageResult], path: Path) -> Path:
    """degraded | prior | BIGPrior | baselines | phi | GT, one row per chosen image."""
    by_index = {r.index: r for r in results}
    rows = []
    for index in indices:
        scores = by_index[index].scores
        panels = [_display_observation(entry.experiment, index)]
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


@dataclass
class Correlation:
    title: str
    images: int
    phi_sigma: float
    phi_prior_psnr: float


def correlation_figures(entries: Sequence[Entry], results: dict[str, list[ImageResult]], folder: Path) -> tuple[list[Correlation], list[Path]]:
    """The paper's figure: mean phi per image against the noise level and against the prior's PSNR,
    one panel per denoising experiment (dataset)."""
    denoising = [e for e in entries if e.sigmas is not None]
    if not denoising:
        return [], []
    titles = [e.experiment.dataset if e.label == e.experiment.name else f"{e.experiment.dataset} ({e.label})" for e in denoising]
    phi = [np.array([r.phi_mean for r in results[e.key]]) for e in denoising]
    sigma = [np.array([r.sigma for r in results[e.key]]) for e in denoising]
    prior_psnr = [np.array([r.scores[f"{PRIOR}_psnr"] for r in results[e.key]]) for e in denoising]
    paths = [folder / "phi_vs_sigma.png", folder / "phi_vs_prior_psnr.png"]
    r_sigma = figures.correlation_figure([figures.Scatter(t, x, y) for t, x, y in zip(titles, sigma, phi)],
                                         "sigma of the test AWGN (0..255)", "mean phi", paths[0])
    r_psnr = figures.correlation_figure([figures.Scatter(t, x, y) for t, x, y in zip(titles, prior_psnr, phi)],
                                        "PSNR of the generative prior (dB)", "mean phi", paths[1])
    correlations = [Correlation(t, len(p), a, b) for t, p, a, b in zip(titles, phi, r_sigma, r_psnr)]
    return correlations, paths


def histogram_figure(entries: Sequence[Entry], results: dict[str, list[ImageResult]], path: Path) -> Path:
    histograms: dict[str, np.ndarray] = {}
    for entry in entries:
        title = entry.experiment.degradation.title
        counts = np.sum([r.phi_counts for r in results[entry.key]], axis=0)
        histograms[title] = histograms.get(title, 0) + counts
    return figures.phi_histograms(histograms, path)


# ---------------------------------------------------------------------------------------------
# the report


@dataclass
class Report:
    folder: Path
    summary: Path
    results_csv: Path
    figures: list[Path]
    tables: dict[str, str]  # section title -> markdown table (what summary.md shows)
    entries: list[Entry]
    results: dict[str, list[ImageResult]]
    notes: list[str]


def lpips_model_for(mode: str, weights: str | None) -> tuple[metrics.LPIPS | None, str | None]:
    """(model, None) when LPIPS is computed, else (None, the note saying why not)."""
    if mode not in LPIPS_MODES:
        raise BIGPriorError(f"--lpips must be one of {', '.join(LPIPS_MODES)}, got {mode!r}")
    if mode == "off":
        return None, "LPIPS: not computed (--lpips off)."
    try:
        return metrics.load_lpips(weights), None
    except BIGPriorError as exc:
        if mode == "required":
            raise
        return None, (f"LPIPS: not computed, n/a in the tables: its weights are not on this machine ({exc}). "
                      "See docs/report.md to add them.")


def _write_csv(path: Path, rows: list[dict]) -> None:
    fields = list(dict.fromkeys(k for row in rows for k in row))
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=fields, restval="", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    imageio.write_text(path, buffer.getvalue())


def _replace_folder(built: Path, target: Path) -> None:
    old = target.with_name(f".{target.name}.old-{uuid.uuid4().hex[:8]}")
    if target.exists():
        os.replace(target, old)
    os.replace(built, target)
    shutil.rmtree(old, ignore_errors=True)


def run_report(
    experiments: Sequence[str] | None = None,
    root: str | os.PathLike | None = None,
    name: str = "report",
    out: str | os.PathLike | None = None,
    published: str | os.PathLike | None = None,
    grid: int = DEFAULT_GRID_IMAGES,
    grid_images: Sequence[int] | None = None,
    seed: int = 0,
    lpips: str = "auto",
    lpips_weights: str | None = None,
    workers: int = 4,
) -> Report:
    """Score every test image, then write `<out>/<name>/` (default out: `<root>/reports`)."""
    root = workspace_root(root)
    if not name or _slug(name) != name:
        raise BIGPriorError(f"--name {name!r}: use letters, digits, - and _ only")
    entries = resolve_entries(experiments, root)
    reference = load_published(published) if published else None
    lpips_model, lpips_note = lpips_model_for(lpips, lpips_weights)
    results = evaluate(entries, lpips_model, workers)
    means = {entry.key: entry_means(results[entry.key]) for entry in entries}
    columns = metric_columns(entries, means, lpips_model is not None)
    notes = [lpips_note] if lpips_note else []

    target = Path(out) if out else root / "reports"
    target.mkdir(parents=True, exist_ok=True)
    built = target / f".{name}.tmp-{uuid.uuid4().hex[:8]}"
    built.mkdir()
    try:
        figure_paths = [grid_figure(e, grid_indices(e, grid, grid_images, seed), results[e.key], built / f"grid_{e.key}.png")
                        for e in entries if grid > 0 or grid_images]
        correlations, correlation_paths = correlation_figures(entries, results, built)
        figure_paths += correlation_paths
        figure_paths.append(histogram_figure(entries, results, built / "phi_histogram.png"))
        tables = {"Results per experiment": experiments_table(entries, means, columns),
                  "Means per task": task_table(entries, means, columns)}
        if reference is not None:
            table = published_table(entries, means, reference)
            if table is None:
                notes.append(f"--published {published}: none of these experiments has published numbers.")
            else:
                tables[f"Against the published numbers ({published})"] = table
        if correlations:
            tables["phi against the degradation (denoising)"] = markdown_table(
                ["dataset", "images", "Pearson r (phi, sigma)", "Pearson r (phi, prior PSNR)"],
                [[c.title, str(c.images), _cell(c.phi_sigma, 3), _cell(c.phi_prior_psnr, 3)] for c in correlations])
        _write_csv(built / "results.csv", csv_rows(entries, results))
        imageio.write_text(built / "summary.md", summary_markdown(name, entries, tables, notes, [p.name for p in figure_paths]))
        _replace_folder(built, target / name)
    finally:
        shutil.rmtree(built, ignore_errors=True)
    folder = target / name
    return Report(folder, folder / "summary.md", folder / "results.csv", [folder / p.name for p in figure_paths],
                  tables, entries, results, notes)


CONVENTIONS = (
    "PSNR: mean over test images of 10 log10(1 / MSE) of the saved 8-bit image against GT; SSIM: scikit-image "
    "on the saved 8-bit images (as the paper's evaluation notebook); AuC (colorization): mean over thresholds "
    "0..149 of the share of pixels within that CIE76 a/b distance, x100; mean/std phi: of the saved phi maps "
    "(8-bit, clamped to [0, 1]), whereas the fusion test's Mphi.npy and the published mean phi average the "
    "unclamped phi."
)


def summary_markdown(name: str, entries: Sequence[Entry], tables: dict[str, str], notes: Sequence[str], figure_names: Sequence[str]) -> str:
    lines = [f"# BIGPrior report `{name}`", "",
             f"{len(entries)} experiment(s), {sum(len(e.indices) for e in entries)} test images:"]
    lines += [f"- {e.title}: images {e.indices[0]}..{e.indices[-1]}, methods "
              f"{', '.join(METHOD_TITLES.get(m, m) for m in e.methods)} ({e.experiment.dir})" for e in entries]
    lines += ["", CONVENTIONS, ""]
    for title, table in tables.items():
        lines += [f"## {title}", "", table, ""]
        if title == "Results per experiment":
            lines += [f"*{note}*" for note in notes] + ([""] if notes else [])
    lines += ["## Figures", ""]
    lines += [f"![{Path(n).stem}]({n})" for n in figure_names]
    return "\n".join(lines) + "\n"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description="Tables and figures of BIGPrior experiments (the paper's evaluation).")
    parser.add_argument("experiments", nargs="*",
                        help="experiment names, folders <workspace>/inter_data/<exp>, or label=<either> "
                             "(default: every experiment in inter_data/ with OURoutput/)")
    parser.add_argument("--name", default="report", help="report folder name under --out")
    add_root_flag(parser, holds="inter_data/")
    parser.add_argument("--out", default=None, help="folder of reports (default: <root>/reports)")
    parser.add_argument("--published", default=None, help="folder with published numbers: README.md results table and/or net_data/*/*.npy")
    parser.add_argument("--grid", type=int, default=DEFAULT_GRID_IMAGES, help="random test images per experiment in its image grid (0: no grid)")
    parser.add_argument("--grid_images", default=None, help="comma-separated test image indices for the grids instead")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random choice of grid images")
    parser.add_argument("--lpips", choices=LPIPS_MODES, default="auto",
                        help="auto: LPIPS when its weights are found; off; required: fail without them")
    parser.add_argument("--lpips_weights", default=None, help=f"folder with {metrics.ALEXNET_WEIGHTS_FILE} and {metrics.LPIPS_LINEAR_FILE}")
    parser.add_argument("--workers", type=int, default=4, help="threads scoring images")
    return parser


def _parse_indices(text: str | None) -> list[int] | None:
    if not text:
        return None
    try:
        return [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise BIGPriorError(f"--grid_images {text!r}: expected comma-separated image indices, e.g. 250,260") from None


def main(argv: Sequence[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    report = run_report(args.experiments, args.root, args.name, args.out, args.published, args.grid,
                        _parse_indices(args.grid_images), args.seed, args.lpips, args.lpips_weights, args.workers)
    for entry in report.entries:
        means = entry_means(report.results[entry.key])
        line = f"{entry.title}: PSNR prior {means[f'{PRIOR}_psnr']:.2f} -> BIGPrior {means[f'{BIGPRIOR}_psnr']:.2f} dB"
        if f"{BIGPRIOR}_auc" in means:
            line += f", AuC {means[f'{PRIOR}_auc']:.2f} -> {means[f'{BIGPRIOR}_auc']:.2f}"
        print(line + f", mean phi {means['phi_mean']:.3f}")
    for note in report.notes:
        print(f"note: {note}")
    print(report.summary)
