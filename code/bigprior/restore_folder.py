"""The output folder of `bigprior restore`: the settings it was made with, which photos are complete, and
the run's summary.

- `restore_settings.json` records every flag that changes results (not the run-only ones: which photos,
  where, on which device, in which batches). A rerun of the same command resumes: photos whose outputs are
  complete are skipped. A rerun whose settings differ is refused with one line naming the first differing
  flag, before any work, so one folder never mixes results of two settings (use another --out).
- A photo's outputs are complete when `<name>_metrics.json` exists: the writer writes it last, every file
  atomically, so an interrupted photo is simply restored again.
- `summary.csv`: one row per photo of the command (restored now, complete before, failed), with its size,
  mean phi, scores (with --degrade True) and seconds, and the reason of a failure.
"""

from __future__ import annotations

import argparse
import csv
import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import imageio
from .errors import BIGPriorError
from .writer import METRICS_SUFFIX

SETTINGS_FILE = "restore_settings.json"
SUMMARY_FILE = "summary.csv"
# flags that choose which photos, where and how fast (not what a photo becomes): a resumed run may change them
RUN_ONLY_FLAGS = frozenset({"input", "recursive", "out", "device", "batch_size", "weights_dir"})
RESTORED, COMPLETE, FAILED = "restored", "complete before", "failed"
SCORE_SUFFIXES = ("_psnr", "_ssim", "_auc", "_lpips")


def run_settings(args: argparse.Namespace) -> dict[str, Any]:
    """The flags that decide a photo's results (everything but RUN_ONLY_FLAGS)."""
    return {key: value for key, value in sorted(vars(args).items()) if key not in RUN_ONLY_FLAGS}


def check_settings(out: Path, settings: dict[str, Any]) -> bool:
    """Whether `out` holds outputs of these settings (a resumable folder); an error naming the first flag
    that differs when it holds another run's."""
    path = out / SETTINGS_FILE
    if not path.is_file():
        return False
    recorded = imageio.read_json(path)
    if not isinstance(recorded, dict):
        raise BIGPriorError(f"{path}: not a settings file of `bigprior restore` (remove it, or use another --out)")
    for key in sorted(set(settings) | set(recorded)):
        if recorded.get(key) != settings.get(key):
            raise BIGPriorError(f"--{key}: {out} holds outputs made with --{key} {recorded.get(key)}, this run has "
                                f"--{key} {settings.get(key)} (rerun with the same flags to resume, or use another --out)")
    return True


def write_settings(out: Path, settings: dict[str, Any]) -> None:
    imageio.write_json(out / SETTINGS_FILE, settings)


def is_complete(out: Path, name: str) -> bool:
    return (out / f"{name}{METRICS_SUFFIX}").is_file()


@dataclass
class PhotoRow:
    """One photo's line of the summary."""

    name: str
    input: str
    status: str
    width: int | None = None
    height: int | None = None
    seconds: float | None = None
    scores: dict[str, Any] = field(default_factory=dict)  # its metrics (summary.csv: mean phi and the scores)
    error: str = ""

    @classmethod
    def of_scores(cls, name: str, path: Path, status: str, scores: dict, seconds: float | None = None) -> PhotoRow:
        return cls(name, str(path), status, scores.get("width"), scores.get("height"), seconds, dict(scores))

    @classmethod
    def complete(cls, out: Path, name: str, path: Path) -> PhotoRow:
        """The row of a photo restored by an earlier run, from its metrics file."""
        try:
            scores = imageio.read_json(out / f"{name}{METRICS_SUFFIX}")
        except BIGPriorError:
            scores = {}
        return cls.of_scores(name, path, COMPLETE, scores if isinstance(scores, dict) else {})


def summary_csv(rows: list[PhotoRow]) -> str:
    """The rows as CSV: name, input, status, width, height, seconds, phi_mean, every score, error."""
    scores = list(dict.fromkeys(key for row in rows for key in row.scores if key.endswith(SCORE_SUFFIXES)))
    columns = ["name", "input", "status", "width", "height", "seconds", "phi_mean", *scores, "error"]
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        values = {"name": row.name, "input": row.input, "status": row.status, "width": row.width,
                  "height": row.height, "seconds": None if row.seconds is None else round(row.seconds, 2),
                  "error": row.error, **{k: v for k, v in row.scores.items() if k == "phi_mean" or k in scores}}
        writer.writerow(["" if values.get(column) is None else values[column] for column in columns])
    return text.getvalue()


def write_summary(out: Path, rows: list[PhotoRow]) -> Path:
    path = out / SUMMARY_FILE
    imageio.write_text(path, summary_csv(rows))
    return path


def summary_line(rows: list[PhotoRow], seconds: float, processes: int) -> str:
    """`restored 8 photos (2 complete before, 1 failed) in 93 s, 11.6 s per photo, 2 processes`."""
    counts = {status: sum(row.status == status for row in rows) for status in (RESTORED, COMPLETE, FAILED)}
    done = counts[RESTORED]
    rate = f", {seconds / done:.1f} s per photo" if done else ""
    over = f" over {processes} processes" if processes > 1 else ""
    return (f"restored {done} photo{'s' if done != 1 else ''} ({counts[COMPLETE]} complete before, "
            f"{counts[FAILED]} failed) in {seconds:.0f} s{rate}{over}")
