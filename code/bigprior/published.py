"""Published numbers for a report to compare with (`bigprior report --published DIR`).

DIR is read in two ways, both optional: a results table in `DIR/README.md` (a markdown table whose
first column is `experiment` and whose other headers name the metrics, as in the paper data's
README), and the per-image metric files of runs in `DIR/net_data/<experiment>_<ID>/` (`MSE.npy`,
`MSE_GAN.npy`, `Mphi.npy`, `AUC.npy`, `AUC_GAN.npy`, as the release and this project's fusion test
save them). The table wins where both give a value (it is what was published); the files fill in
the rest, with PSNR = mean over images of 10 log10(1 / MSE).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import metrics
from .errors import BIGPriorError

# README table header -> metric key of the report
TABLE_COLUMNS = {
    "prior psnr": "prior_psnr",
    "bigprior psnr": "bigprior_psnr",
    "mean phi": "phi_mean",
    "prior auc": "prior_auc",
    "bigprior auc": "bigprior_auc",
}
# metric key -> (file in a run folder, is it an MSE to turn into PSNR)
RUN_FILES = {
    "prior_psnr": ("MSE_GAN.npy", True),
    "bigprior_psnr": ("MSE.npy", True),
    "phi_mean": ("Mphi.npy", False),
    "prior_auc": ("AUC_GAN.npy", False),
    "bigprior_auc": ("AUC.npy", False),
}
_RUN_FOLDER = re.compile(r"^(?P<experiment>.+)_(?P<id>\d+)$")


@dataclass
class Published:
    values: dict[str, dict[str, float]] = field(default_factory=dict)  # experiment -> metric -> value
    sources: dict[str, dict[str, str]] = field(default_factory=dict)  # experiment -> metric -> where from

    def get(self, experiment: str, metric: str) -> float | None:
        return self.values.get(experiment, {}).get(metric)


def parse_results_table(text: str) -> dict[str, dict[str, float]]:
    """Metric values per experiment from every markdown table of `text` headed `| experiment | ...`
    with at least one known metric column; empty or non-numeric cells are left out."""
    results: dict[str, dict[str, float]] = {}
    header: list[str] | None = None
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped.startswith("|"):
            header = None
            continue
        cells = [c.strip() for c in stripped.strip("|").split("|")]
        if header is None:
            names = [c.lower() for c in cells]
            header = names if names and names[0] == "experiment" and any(n in TABLE_COLUMNS for n in names) else []
            continue
        if not header or all(set(c) <= set("-: ") for c in cells):
            continue
        row = results.setdefault(cells[0], {})
        for name, cell in zip(header[1:], cells[1:]):
            if name in TABLE_COLUMNS:
                try:
                    row[TABLE_COLUMNS[name]] = float(cell)
                except ValueError:
                    pass
    return {experiment: row for experiment, row in results.items() if row}


def run_folder_metrics(folder: Path) -> dict[str, float]:
    """Means of the metric files of one run folder (those present)."""
    values = {}
    for metric, (name, is_mse) in RUN_FILES.items():
        path = folder / name
        if not path.is_file():
            continue
        try:
            per_image = np.load(path, allow_pickle=False).astype(np.float64)
        except (ValueError, OSError, EOFError) as exc:
            raise BIGPriorError(f"{path}: not a readable .npy array ({exc})") from exc
        values[metric] = float(np.mean(metrics.psnr_from_mse(per_image) if is_mse else per_image))
    return values


def load_published(folder: str | Path) -> Published:
    folder = Path(folder)
    if not folder.is_dir():
        raise BIGPriorError(f"--published {folder}: folder not found")
    published = Published()
    readme = folder / "README.md"
    if readme.is_file():
        for experiment, row in parse_results_table(readme.read_text()).items():
            published.values.setdefault(experiment, {}).update(row)
            published.sources.setdefault(experiment, {}).update({metric: str(readme) for metric in row})
    runs: dict[str, Path] = {}
    net_data = folder / "net_data"
    for path in sorted(net_data.iterdir(), key=lambda p: p.name) if net_data.is_dir() else []:
        match = _RUN_FOLDER.match(path.name)
        if match and path.is_dir() and (path / "MSE.npy").is_file():
            current = runs.get(match["experiment"])
            if current is None or int(_RUN_FOLDER.match(current.name)["id"]) > int(match["id"]):
                runs[match["experiment"]] = path  # the lowest run ID of each experiment
    for experiment, run in runs.items():
        for metric, value in run_folder_metrics(run).items():
            if metric not in published.values.get(experiment, {}):
                published.values.setdefault(experiment, {})[metric] = value
                published.sources.setdefault(experiment, {})[metric] = str(run)
    if not published.values:
        raise BIGPriorError(f"--published {folder}: found no results table in README.md and no net_data/<experiment>_<ID>/MSE.npy")
    return published
