"""Wall time of `bigprior report` on the paper's 50 col_bedroom test images (../shared/bigprior-paper).

    python benchmarks/bench_report.py [--workers 4] [--grid 4]

Builds a workspace in a temporary folder (the paper's files linked one by one, nothing written into
../shared), runs the report command as a user would (a fresh process, imports included) and prints
the seconds it took.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PAPER = Path(os.environ.get("BIGPRIOR_SHARED", ROOT.parent / "shared")) / "bigprior-paper"


def link_experiment(workspace: Path) -> None:
    source = PAPER / "inter_data" / "col_bedroom"
    for sub in ("GT", "input", "mGANoutput", "OURoutput"):
        (workspace / "inter_data" / "col_bedroom" / sub).mkdir(parents=True)
        for file in (source / sub).iterdir():
            os.symlink(file, workspace / "inter_data" / "col_bedroom" / sub / file.name)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--grid", type=int, default=4)
    args = parser.parse_args()
    if not PAPER.is_dir():
        sys.exit(f"{PAPER}: not found (the benchmark reads the paper's released outputs)")
    with tempfile.TemporaryDirectory() as folder:
        workspace = Path(folder)
        link_experiment(workspace)
        command = [sys.executable, str(ROOT / "code" / "report.py"), "col_bedroom", "--root", str(workspace),
                   "--published", str(PAPER), "--workers", str(args.workers), "--grid", str(args.grid)]
        start = time.perf_counter()
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        seconds = time.perf_counter() - start
    print(f"report on 50 col_bedroom test images (PSNR, SSIM, AuC, phi and its calibration; grid {args.grid}; {args.workers} workers): {seconds:.1f} s")


if __name__ == "__main__":
    main()
