"""Tabulate results/col_bedroom_from_scratch runs (from <workspace>/runs.txt) into table.md.

    python experiments/col_bedroom_from_scratch/collect.py <workspace> [table file (default: table.md here)]
"""

from __future__ import annotations

import json
import platform
import sys
from pathlib import Path

import numpy as np
import torch

RESULTS = Path(__file__).resolve().parents[2] / "results" / "col_bedroom_from_scratch"  # what this script writes
PUBLISHED = {"psnr": 23.08, "auc": 89.28}


def main() -> None:
    workspace = Path(sys.argv[1])
    rows, by_variant = [], {}
    for line in (workspace / "runs.txt").read_text().splitlines():
        tag, run, seconds = line.split()
        metrics = json.loads((Path(run) / "metrics.json").read_text())
        options = json.loads((Path(run) / "OURargs.txt").read_text())
        fused = metrics["mean"]["bigprior"]
        variant = tag.split("_", 1)[1]
        by_variant.setdefault(variant, []).append(fused)
        rows.append(f"| {options['seed']} | {variant} | {options['epochs']} | {options['crop_size'] or 'whole'} | "
                    f"{metrics['epoch']} | {fused['psnr']:.2f} | {fused['auc']:.2f} | {fused['phi_mean']:.3f} | "
                    f"{int(seconds) / 60:.1f} |")
    device = torch.cuda.get_device_name(0) if torch.cuda.is_available() else f"CPU ({platform.processor() or platform.machine()})"
    lines = [
        f"Device: {device}. Published (the paper's checkpoint, epoch 24): PSNR {PUBLISHED['psnr']} dB, AuC {PUBLISHED['auc']}.",
        "",
        "| seed | variant | epochs | training crops | tested epoch | PSNR | AuC | mean phi | wall time (min) |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
        *rows,
        "",
    ]
    for variant, runs in sorted(by_variant.items()):
        psnr = [r["psnr"] for r in runs]
        auc = [r["auc"] for r in runs]
        lines.append(f"{variant}: PSNR {np.mean(psnr):.2f} dB (min {min(psnr):.2f}, max {max(psnr):.2f}), "
                     f"AuC {np.mean(auc):.2f} over {len(runs)} seed(s); above the published {PUBLISHED['psnr']} dB in "
                     f"{sum(p > PUBLISHED['psnr'] for p in psnr)} of {len(runs)}.")
    text = "\n".join(lines) + "\n"
    (Path(sys.argv[2]) if len(sys.argv) > 2 else RESULTS / "table.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
