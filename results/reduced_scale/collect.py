"""Collect the reduced-scale reproduction into results/reduced_scale/table.md and make the built-in
default fusion networks from its bedroom runs.

    python results/reduced_scale/collect.py <workspace> [--published ../shared/bigprior-paper]

Reads each experiment's fusion test (`<workspace>/net_data/<exp>_0/metrics.json`: PSNR and AuC of the
unclamped output, the release's convention) and the published table, writes the side-by-side table,
and copies the fusion networks of `DEFAULT_RUNS` (float16) with `defaults.json` into
code/bigprior/assets/default/.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(ROOT / "code"))

from bigprior import imageio  # noqa: E402
from bigprior.defaults import ASSETS_DIR, SETTINGS_FILE  # noqa: E402
from bigprior.fusion.options import FusionOptions  # noqa: E402
from bigprior.published import load_published  # noqa: E402

EXPERIMENTS = ["col_bedroom", "col_church", "denblind_bedroom", "denblind_church", "denblind_conference",
               "inpcrop_bedroom", "inpcrop_church", "inpcrop_conference", "inpvar_bedroom", "inpvar_church",
               "inpvar_conference"]
# the built-in networks: the bedroom runs with --extend_input True (run _1), a rule fixed before seeing results
DEFAULT_RUNS = {"col": "col_bedroom_1", "inpcrop": "inpcrop_bedroom_1", "inpvar": "inpvar_bedroom_1",
                "denblind": "denblind_bedroom_1"}
# the inversion settings that are also the defaults of a restore (mGANargs.txt keys)
INVERSION_KEYS = ("composing_layer", "z_number", "optimization", "lr", "iterations", "init_type", "seed")
DEGRADATION_KEYS = {"inpvar": {"min_patches": "min_p", "max_patches": "max_p", "side_mean": "width_mean", "side_std": "width_var"},
                    "denblind": {"sigma_min": "sigma_min", "sigma_max": "sigma_max"}}


def fmt(value: float | None, decimals: int = 2) -> str:
    return "" if value is None else f"{value:.{decimals}f}"


def _metrics(workspace: Path, exp: str, run: int) -> dict | None:
    path = workspace / "net_data" / f"{exp}_{run}" / "metrics.json"
    return json.loads(path.read_text()) if path.is_file() else None


def table(workspace: Path, published_dir: Path | None) -> str:
    """Run _0 is the paper's fusion, run _1 the same with --extend_input True."""
    published = load_published(published_dir) if published_dir else None
    header = ("| experiment | prior PSNR | BIGPrior PSNR | gain | mean phi | BIGPrior PSNR, extend_input | prior AuC | "
              "BIGPrior AuC | AuC, extend_input | paper prior PSNR | paper BIGPrior PSNR | paper gain | paper mean phi | "
              "paper prior AuC | paper BIGPrior AuC |")
    columns = header.count("|") - 1
    lines = [header, "|" + " --- |" * columns]
    wins, gains, extended = 0, [], []
    for exp in EXPERIMENTS:
        m, e = _metrics(workspace, exp, 0), _metrics(workspace, exp, 1)
        if m is None:
            lines.append(f"| {exp} | (not run) |" + " |" * (columns - 2))
            continue
        prior, fused = m["mean"]["prior"], m["mean"]["bigprior"]
        ext = e["mean"]["bigprior"] if e else {}
        gain = fused["psnr"] - prior["psnr"]
        wins += gain > 0
        gains.append(gain)
        if e:
            extended.append(ext["psnr"] - fused["psnr"])
        paper = {k: published.get(exp, k) if published else None
                 for k in ("prior_psnr", "bigprior_psnr", "phi_mean", "prior_auc", "bigprior_auc")}
        paper_gain = (paper["bigprior_psnr"] - paper["prior_psnr"]) if paper["prior_psnr"] is not None else None
        lines.append(
            f"| {exp} | {fmt(prior['psnr'])} | {fmt(fused['psnr'])} | {gain:+.2f} | {fmt(fused['phi_mean'], 3)} | "
            f"{fmt(ext.get('psnr'))} | {fmt(prior.get('auc'))} | {fmt(fused.get('auc'))} | {fmt(ext.get('auc'))} | "
            f"{fmt(paper['prior_psnr'])} | {fmt(paper['bigprior_psnr'])} | "
            f"{'' if paper_gain is None else f'{paper_gain:+.2f}'} | {fmt(paper['phi_mean'], 3)} | "
            f"{fmt(paper['prior_auc'])} | {fmt(paper['bigprior_auc'])} |"
        )
    done = len(gains)
    summary = (f"BIGPrior (the paper's fusion) beats its prior in {wins} of {done} experiments run (the paper: 11 of 11); "
               f"gain {sum(gains) / max(1, done):+.2f} dB on average (min {min(gains, default=0):+.2f}, "
               f"max {max(gains, default=0):+.2f}).")
    if extended:
        summary += (f" `--extend_input True` changes BIGPrior's PSNR by {sum(extended) / len(extended):+.2f} dB on average "
                    f"(min {min(extended):+.2f}, max {max(extended):+.2f}; better in "
                    f"{sum(d > 0 for d in extended)} of {len(extended)}).")
    return "\n".join(lines) + "\n\n" + summary + "\n"


def make_defaults(workspace: Path) -> dict:
    tasks = {}
    for task, run_name in DEFAULT_RUNS.items():
        run = workspace / "net_data" / run_name
        exp = run_name.rsplit("_", 1)[0]
        metrics = json.loads((run / "metrics.json").read_text())
        options = FusionOptions.load(run)
        state = torch.load(run / f"net_{metrics['epoch']}.pth", map_location="cpu", weights_only=True)
        half = {k: v.half() if v.is_floating_point() else v for k, v in state.items()}
        imageio.torch_save(ASSETS_DIR / f"fusion_{task}.pth", half)
        inversion = imageio.read_json(workspace / "inter_data" / exp / "mGANargs.txt")
        tasks[task] = {
            "inversion": {k: inversion[k] for k in INVERSION_KEYS},
            "degradation": {ours: inversion[theirs] for ours, theirs in DEGRADATION_KEYS.get(task, {}).items()},
            "fusion": {"file": f"fusion_{task}.pth", "dncnn_layers": options.dncnn_layers,
                       "extend_input": options.extend_input, "trained_on": f"{exp} images 0..249 (reduced scale, 64x64)",
                       "run": run.name, "epoch": metrics["epoch"],
                       "test_psnr": {"prior": metrics["mean"]["prior"]["psnr"], "bigprior": metrics["mean"]["bigprior"]["psnr"]}},
        }
    settings = {"generator": "pggan_lsun64.pth", "tasks": tasks}
    imageio.write_json(SETTINGS_FILE, settings)
    return settings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("workspace")
    parser.add_argument("--published", default=str(ROOT.parent / "shared" / "bigprior-paper"))
    parser.add_argument("--no_defaults", action="store_true", help="only the table")
    args = parser.parse_args()
    workspace = Path(args.workspace)
    published = Path(args.published) if Path(args.published).is_dir() else None
    text = table(workspace, published)
    imageio.write_text(HERE / "table.md", text)
    print(text)
    if not args.no_defaults:
        make_defaults(workspace)
        print(f"built-in defaults written to {SETTINGS_FILE}")


if __name__ == "__main__":
    main()
