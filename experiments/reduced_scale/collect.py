"""Collect the reduced-scale reproduction into results/reduced_scale/table.md.

    python experiments/reduced_scale/collect.py <workspace> [--published ../shared/bigprior-paper]

Reads each experiment's fusion test (`<workspace>/net_data/<exp>_0/metrics.json`: PSNR and AuC of the
unclamped output, the release's convention) and the published table, writes the side-by-side table,
(The built-in networks are made by `bigprior write-defaults`.)
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


ROOT = Path(__file__).resolve().parents[2]  # the repository
RESULTS = ROOT / "results" / "reduced_scale"  # what this script writes

from bigprior import imageio
from bigprior.published import load_published

EXPERIMENTS = ["col_bedroom", "col_church", "denblind_bedroom", "denblind_church", "denblind_conference",
               "inpcrop_bedroom", "inpcrop_church", "inpcrop_conference", "inpvar_bedroom", "inpvar_church",
               "inpvar_conference"]


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("workspace")
    parser.add_argument("--published", default=str(ROOT.parent / "shared" / "bigprior-paper"))
    args = parser.parse_args()
    published = Path(args.published) if Path(args.published).is_dir() else None
    text = table(Path(args.workspace), published)
    imageio.write_text(RESULTS / "table.md", text)
    print(text)


if __name__ == "__main__":
    main()
