"""The table of results/stylegan2_inversion/README.md from the check-inversion reports of run.sh.

    python experiments/stylegan2_inversion/collect.py [runs/stylegan2_inversion]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

TASKS = ("col", "inpcrop", "inpvar", "denblind")
SPACES = ("z", "w", "w+", "multi")


def order(report: dict) -> tuple[int, int, int]:
    """z, w, w+, then multi by number of codes and composing block."""
    arguments = report["tasks"][TASKS[0]]["arguments"]
    block = str(arguments["composing_layer"]).lstrip("b")
    return SPACES.index(arguments["latent_space"]), arguments["z_number"], int(block)


def row(report: dict) -> str:
    tasks = report["tasks"]
    arguments = tasks[TASKS[0]]["arguments"]
    space = arguments["latent_space"]
    if space == "multi":
        space = f"multi, N={arguments['z_number']}, at {arguments['composing_layer']}"
    cells = [f"{tasks[t]['psnr_start']:.2f} → **{tasks[t]['psnr_prior']:.2f}**" for t in TASKS]
    per_step = sum(tasks[t]["seconds_per_image"] for t in TASKS) / len(TASKS) / arguments["iterations"]
    return f"| {space} | " + " | ".join(cells) + f" | {per_step * 1000:.0f} |"


def main(folder: Path) -> None:
    reports = sorted((json.loads(p.read_text()) for p in folder.glob("*/check_inversion.json")), key=order)
    print("| latent space | " + " | ".join(f"{t} PSNR (dB)" for t in TASKS) + " | ms per image-step |")
    print("| --- | " + " | ".join("---" for _ in TASKS) + " | --- |")
    for report in reports:
        print(row(report))


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "runs/stylegan2_inversion"))
