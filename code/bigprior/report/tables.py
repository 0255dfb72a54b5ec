"""The report's tables, from its `Scores`: results.csv rows and the markdown tables of summary.md."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..published import Published
from .entries import BIGPRIOR, METHOD_TITLES, PRIOR, Entry
from ..scoring import IMAGE_METRICS
from .scoring import PHI_METRICS, Correlation, Scores
from .strength import StrengthCurve


@dataclass(frozen=True)
class Column:
    key: str
    title: str
    decimals: int


CSV_IDENTITY = ["experiment", "run", "task", "dataset", "index", "sigma"]


def csv_rows(entries: Sequence[Entry], scores: Scores) -> tuple[list[str], list[dict]]:
    """results.csv: its columns (who, every score in order of appearance, every phi metric) and one row
    per test image (empty cells where a value is n/a)."""
    rows = []
    for entry in entries:
        for r in scores.results[entry.key]:
            rows.append({"experiment": entry.experiment.name, "run": entry.label, "task": entry.experiment.task,
                         "dataset": entry.experiment.dataset, "index": r.index, "sigma": "" if r.sigma is None else r.sigma,
                         **r.scores, **r.phi})
    score_keys = dict.fromkeys(k for results in scores.results.values() for r in results for k in r.scores)
    return CSV_IDENTITY + list(score_keys) + list(PHI_METRICS), rows


def metric_columns(entries: Sequence[Entry], scores: Scores) -> list[Column]:
    """prior, BIGPrior and baseline columns of each image metric that has a value somewhere (or is
    `shown_when_absent`, as n/a), then the phi metrics shown in tables."""
    methods = list(dict.fromkeys(m for e in entries for m in e.methods))
    columns = []
    for metric in IMAGE_METRICS.values():
        for method in methods:
            key = f"{method}_{metric.key}"
            absent_but_shown = metric.shown_when_absent and method in (PRIOR, BIGPRIOR)
            if any(key in m for m in scores.means.values()) or absent_but_shown:
                columns.append(Column(key, f"{METHOD_TITLES.get(method, method)} {metric.title}", metric.decimals))
    columns += [Column(m.key, m.title, m.decimals) for m in PHI_METRICS.values() if m.in_tables]
    return columns


def cell(value: float | None, decimals: int) -> str:
    return "n/a" if value is None or not np.isfinite(value) else f"{value:.{decimals}f}"


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(" --- " for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def experiments_table(entries: Sequence[Entry], scores: Scores, columns: Sequence[Column]) -> str:
    rows = [[entry.experiment.name, entry.label, str(len(entry.indices))]
            + [cell(scores.means[entry.key].get(c.key), c.decimals) for c in columns] for entry in entries]
    return markdown_table(["experiment", "run", "images"] + [c.title for c in columns], rows)


def task_table(entries: Sequence[Entry], scores: Scores, columns: Sequence[Column]) -> str:
    """Means over the experiments of each task (the paper averaged its per-dataset means)."""
    tasks: dict[str, list[Entry]] = {}
    for entry in entries:
        tasks.setdefault(entry.experiment.degradation.title, []).append(entry)
    rows = []
    for title, group in tasks.items():
        row = [title, str(len(group))]
        for c in columns:
            values = [scores.means[e.key][c.key] for e in group if c.key in scores.means[e.key]]
            row.append(cell(float(np.mean(values)) if values else None, c.decimals))
        rows.append(row)
    return markdown_table(["task", "experiments"] + [c.title for c in columns], rows)


PUBLISHED_METRICS = [  # (report key, title, decimals) compared with published numbers
    ("prior_psnr", "prior PSNR", 2),
    ("bigprior_psnr", "BIGPrior PSNR", 2),
    ("phi_mean", "mean phi", 3),
    ("prior_auc", "prior AuC", 2),
    ("bigprior_auc", "BIGPrior AuC", 2),
]


def published_table(entries: Sequence[Entry], scores: Scores, published: Published) -> str | None:
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
            ours, theirs = scores.means[entry.key].get(key), published.get(entry.experiment.name, key)
            difference = ours - theirs if ours is not None and theirs is not None else None
            row += [cell(ours, decimals), cell(theirs, decimals),
                    "n/a" if difference is None else f"{difference:+.{decimals + 1}f}"]
        rows.append(row)
    return markdown_table(header, rows)


def correlation_table(correlations: Sequence[Correlation]) -> str:
    """Pearson r of the mean phi per image with the noise level and with the prior's PSNR (denoising)."""
    return markdown_table(["dataset", "images", "Pearson r (phi, sigma)", "Pearson r (phi, prior PSNR)"],
                          [[c.title, str(c.images), cell(c.phi_sigma, 3), cell(c.phi_prior_psnr, 3)] for c in correlations])


CALIBRATION_HEADER = ["experiment", "run", "images", "pixels", "prior better", "Pearson r (phi, advantage)",
                      "ROC AUC", "mean phi where prior better", "mean phi where observation better", "phi outside [0, 1]"]


def calibration_table(entries: Sequence[Entry], scores: Scores) -> str:
    """Per experiment, over the pooled calibration pixels of its test images: does phi say where the
    prior is right? (phi outside [0, 1]: as the fusion test recorded it, n/a where it did not.)"""
    rows = []
    for entry in entries:
        pooled = scores.calibration[entry.key]
        c = pooled.calibration
        rows.append([entry.experiment.name, entry.label, str(len(entry.indices)), str(c.pixels), cell(c.prior_better_share, 3),
                     cell(c.pearson, 3), cell(c.roc.auc, 3), cell(c.phi_where_prior_better, 3),
                     cell(c.phi_where_observation_better, 3), cell(pooled.phi_outside, 4)])
    return markdown_table(CALIBRATION_HEADER, rows)


def strength_table(entries: Sequence[Entry], curves: dict[str, StrengthCurve]) -> str:
    """Per experiment: the PSNR (AuC) at s = 1, the best constant strength and its PSNR (AuC)."""
    rows = []
    for entry in entries:
        curve = curves.get(entry.key)
        if curve is None:
            continue
        one, best = curve.at(1.0), curve.best
        auc = (lambda k: cell(curve.auc[k], 2)) if curve.auc is not None else (lambda k: "")
        rows.append([entry.title, cell(curve.psnr[one], 2), auc(one), f"{curve.strengths[best]:g}", cell(curve.psnr[best], 2),
                     auc(best), f"{curve.psnr[best] - curve.psnr[one]:+.2f}"])
    return markdown_table(["experiment", "PSNR at s = 1", "AuC at s = 1", "best s", "PSNR at best s", "AuC there",
                           "gain"], rows)
