"""The command line of `bigprior report` / `python code/report.py`."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from .. import zoo
from ..errors import BIGPriorError
from ..commandline import add_root_flag
from .build import run_report
from .entries import BIGPRIOR, PRIOR
from .options import DEFAULT_GRID_IMAGES, LPIPS_MODES, ReportOptions


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bigprior report", description="Tables and figures of BIGPrior experiments (the paper's evaluation).")
    parser.add_argument("experiments", nargs="*",
                        help="experiment names, folders <workspace>/inter_data/<exp>, or label=<either> "
                             "(default: every experiment in inter_data/ with OURoutput/)")
    parser.add_argument("--name", default="report", help="report folder name under --out")
    add_root_flag(parser)  # inter_data/, and net_data/ for what the fusion runs recorded
    parser.add_argument("--out", default=None, help="folder of reports (default: <root>/reports)")
    parser.add_argument("--published", default=None, help="folder with published numbers: README.md results table and/or net_data/*/*.npy")
    parser.add_argument("--grid", type=int, default=DEFAULT_GRID_IMAGES, help="random test images per experiment in its image grid (0: no grid)")
    parser.add_argument("--grid_images", default=None, help="comma-separated test image indices for the grids instead")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random choice of grid images")
    parser.add_argument("--lpips", choices=LPIPS_MODES, default="auto",
                        help="auto: LPIPS when its weights are found; off; required: fail without them")
    parser.add_argument("--lpips_weights", default=None, help=f"folder with {zoo.ALEXNET_FILE} and {zoo.LPIPS_LINEAR_FILE} "
                        "(default: the weights folders, see --weights_dir)")
    zoo.add_weights_dir_flag(parser)
    parser.add_argument("--workers", type=int, default=4, help="threads scoring images")
    return parser


def _parse_indices(text: str | None) -> list[int] | None:
    if not text:
        return None
    try:
        return [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise BIGPriorError(f"--grid_images {text!r}: expected comma-separated image indices, e.g. 250,260") from None


def options_from_args(args: argparse.Namespace) -> ReportOptions:
    return ReportOptions(**{**vars(args), "grid_images": _parse_indices(args.grid_images)})


def main(argv: Sequence[str] | None = None) -> None:
    report = run_report(options_from_args(build_parser().parse_args(argv)))
    for entry in report.entries:
        means = report.scores.means[entry.key]
        calibration = report.scores.calibration[entry.key].calibration
        line = f"{entry.title}: PSNR prior {means[f'{PRIOR}_psnr']:.2f} -> BIGPrior {means[f'{BIGPRIOR}_psnr']:.2f} dB"
        if f"{BIGPRIOR}_auc" in means:
            line += f", AuC {means[f'{PRIOR}_auc']:.2f} -> {means[f'{BIGPRIOR}_auc']:.2f}"
        print(line + f", mean phi {means['phi_mean']:.3f}"
              f" (r with the prior's advantage {calibration.pearson:.2f}, ROC AUC {calibration.roc.auc:.3f})")
    for note in report.notes:
        print(f"note: {note}")
    print(report.summary)
