"""`run_report`: score the experiments, then write the report folder aside and swap it in whole."""

from __future__ import annotations

import csv
import io
import os
import shutil
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from .. import imageio, metrics
from ..errors import BIGPriorError
from ..published import Published, load_published
from . import plots, tables
from .entries import METHOD_TITLES, Entry, resolve_entries
from .options import ReportOptions
from ..scoring import Scorer
from .scoring import ImageResult, Scores, score
from .strength import StrengthCurve, strength_curve

RESULTS_TITLE = "Results per experiment"
CALIBRATION_TITLE = "Calibration of phi: does phi say where the prior is right?"
STRENGTH_TITLE = "The prior's share against a constant rescaling of it"


@dataclass
class Report:
    folder: Path
    summary: Path
    results_csv: Path
    figures: list[Path]
    tables: dict[str, str]  # section title -> markdown table (what summary.md shows)
    entries: list[Entry]
    scores: Scores = field(repr=False)
    notes: list[str] = field(default_factory=list)

    @property
    def results(self) -> dict[str, list[ImageResult]]:
        return self.scores.results


def lpips_model_for(options: ReportOptions) -> tuple[metrics.LPIPS | None, str | None]:
    """(model, None) when LPIPS is computed, else (None, the note saying why not)."""
    if options.lpips == "off":
        return None, "LPIPS: not computed (--lpips off)."
    try:
        return metrics.load_lpips(options.lpips_weights, weights_dir=options.weights_dir), None
    except BIGPriorError as exc:
        if options.lpips == "required":
            raise
        return None, (f"LPIPS: not computed, n/a in the tables: its weights are not on this machine ({exc}). "
                      "See docs/report.md to add them.")


def _write_csv(path: Path, fields: list[str], rows: list[dict]) -> None:
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


def _draw(entries: Sequence[Entry], scores: Scores, curves: dict[str, StrengthCurve], options: ReportOptions,
          folder: Path) -> list[Path]:
    """Every figure into `folder`; returns their paths."""
    paths = [plots.grid_figure(e, plots.grid_indices(e, options.grid, options.grid_images, options.seed),
                               scores.results[e.key], folder / f"grid_{e.key}.png")
             for e in entries if options.grid > 0 or options.grid_images]
    paths += plots.correlation_figures(entries, scores, folder)
    paths.append(plots.histogram_figure(entries, scores, folder / "phi_histogram.png"))
    paths += plots.calibration_figures(entries, scores, folder)
    strength = plots.strength_figure(entries, curves, folder / plots.STRENGTH_FIGURE)
    return paths + ([strength] if strength is not None else [])


def _tables(entries: Sequence[Entry], scores: Scores, curves: dict[str, StrengthCurve], options: ReportOptions,
            reference: Published | None, notes: list[str]) -> dict[str, str]:
    """summary.md's tables by section title (a note is added when nothing matches --published)."""
    columns = tables.metric_columns(entries, scores)
    result = {RESULTS_TITLE: tables.experiments_table(entries, scores, columns),
              "Means per task": tables.task_table(entries, scores, columns)}
    if reference is not None:
        table = tables.published_table(entries, scores, reference)
        if table is None:
            notes.append(f"--published {options.published}: none of these experiments has published numbers.")
        else:
            result[f"Against the published numbers ({options.published})"] = table
    if scores.correlations:
        result["phi against the degradation (denoising)"] = tables.correlation_table(scores.correlations)
    result[CALIBRATION_TITLE] = tables.calibration_table(entries, scores)
    if curves:
        result[STRENGTH_TITLE] = tables.strength_table(entries, curves)
    return result


def run_report(options: ReportOptions) -> Report:
    """Score every test image, then write `<out>/<name>/` (default out: `<root>/reports`)."""
    imageio.check_output_folder(options.reports_folder / options.name, "--out")
    entries = resolve_entries(options.experiments, options.workspace)
    reference = load_published(options.published) if options.published else None
    lpips_model, lpips_note = lpips_model_for(options)
    scores = score(entries, Scorer(lpips_model), options.workers)
    curves = {e.key: curve for e in entries if (curve := strength_curve(e)) is not None}
    notes = [lpips_note] if lpips_note else []
    notes += [note for entry in entries for note in entry.notes]

    target = options.reports_folder
    target.mkdir(parents=True, exist_ok=True)
    built = target / f".{options.name}.tmp-{uuid.uuid4().hex[:8]}"
    built.mkdir()
    try:
        figure_paths = _draw(entries, scores, curves, options, built)
        report_tables = _tables(entries, scores, curves, options, reference, notes)
        _write_csv(built / "results.csv", *tables.csv_rows(entries, scores))
        imageio.write_text(built / "summary.md", summary_markdown(options.name, entries, report_tables, notes,
                                                                  [p.name for p in figure_paths]))
        _replace_folder(built, target / options.name)
    finally:
        shutil.rmtree(built, ignore_errors=True)
    folder = target / options.name
    return Report(folder, folder / "summary.md", folder / "results.csv", [folder / p.name for p in figure_paths],
                  report_tables, entries, scores, notes)


CONVENTIONS = (
    "PSNR: mean over test images of 10 log10(1 / MSE) of the saved 8-bit image against GT; SSIM: scikit-image "
    "on the saved 8-bit images (as the paper's evaluation notebook); AuC (colorization): mean over thresholds "
    "0..149 of the share of pixels within that CIE76 a/b distance, x100; mean/std phi: of the saved phi maps "
    "(8-bit, clamped to [0, 1]), whereas the fusion test's Mphi.npy and the published mean phi average the "
    "unclamped phi."
)
CALIBRATION_CONVENTIONS = (
    "Calibration: the prior's advantage a = |x - gt| - |g - gt| per pixel (absolute errors averaged over the "
    f"channels, colorization's luma compared with each channel; smoothed by a Gaussian of {metrics.ADVANTAGE_SMOOTHING:g} px), "
    "> 0 where the prior is closer to the ground truth; phi: the saved map averaged over its channels. Over the "
    f"pixels of the test images pooled (one in each {metrics.CALIBRATION_STRIDE}x{metrics.CALIBRATION_STRIDE} block, the top-left): "
    "the share of pixels where the prior is better, the Pearson r of phi and a, the area under the ROC curve of "
    "phi detecting the pixels where a > 0 (0.5: phi says nothing; 1: higher on every such pixel), mean phi on "
    "either side. phi outside [0, 1]: the share of the unclamped phi values, as the fusion test recorded it in "
    f"its run's metrics.json (`{metrics.PHI_OUTSIDE_KEY}`); n/a where it did not (the 8-bit maps are clamped)."
)


STRENGTH_CONVENTIONS = (
    "Each test image re-blended from its saved files with the prior's share scaled by a constant s "
    "(`bigprior restore --prior_strength s`: clipped to [0, 1]; in a multi-source fusion the other sources share "
    "the rest in their proportions), scored on the 8-bit result. s = 1 is the trained fusion as its saved shares give "
    "it (its PSNR can differ from the results table's by the 8-bit rounding of the saved phi); a best s far from 1 "
    "says the trained phi is systematically too high or too low (figure `prior_strength.png`)."
)


def summary_markdown(name: str, entries: Sequence[Entry], report_tables: dict[str, str], notes: Sequence[str],
                     figure_names: Sequence[str]) -> str:
    lines = [f"# BIGPrior report `{name}`", "",
             f"{len(entries)} experiment(s), {sum(len(e.indices) for e in entries)} test images:"]
    lines += [f"- {e.title}: images {e.indices[0]}..{e.indices[-1]}, methods "
              f"{', '.join(METHOD_TITLES.get(m, m) for m in e.methods)} ({e.experiment.dir})" for e in entries]
    lines += ["", CONVENTIONS, ""]
    for title, table in report_tables.items():
        lines += [f"## {title}", ""]
        lines += [CALIBRATION_CONVENTIONS, ""] if title == CALIBRATION_TITLE else []
        lines += [STRENGTH_CONVENTIONS, ""] if title == STRENGTH_TITLE else []
        lines += [table, ""]
        if title == RESULTS_TITLE:
            lines += [f"*{note}*" for note in notes] + ([""] if notes else [])
    lines += ["## Figures", ""]
    lines += [f"![{Path(n).stem}]({n})" for n in figure_names]
    return "\n".join(lines) + "\n"
