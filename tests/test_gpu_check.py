"""benchmarks/gpu_check.sh end to end at toy sizes on the CPU (`--smoke`): every part runs and reports, so the
script is known to work before a GPU is spent on it."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from conftest import ROOT


def test_gpu_check_smoke_run_writes_a_full_report(tmp_path: Path) -> None:
    report = tmp_path / "report.md"
    env = {**os.environ, "PYTHON": sys.executable}
    env.pop("OUT", None)
    done = subprocess.run(["bash", str(ROOT / "benchmarks" / "gpu_check.sh"), "--smoke", "--work", str(tmp_path / "work"),
                           "--report", str(report)], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    text = report.read_text()
    assert text in done.stdout
    parts = re.findall(r"^\| (.+?) \| (.+?) \| \d+ \|$", text, re.MULTILINE)
    assert len(parts) == 7 and all(status == "ok" for _, status in parts), parts
    assert re.search(r"\| colorization \| strict fp32, folded \| [0-9.]+ \(\d+ ms/step\) \| [0-9.]+ \| [0-9.]+x \| - \| "
                     r"float32 check after 2 steps: max \\\|batched - reference\\\| = [0-9.e+-]+", text)
    assert "| inpainting | bf16 autocast, channels-last, folded |" in text and "bf16 vs fp32 priors after 2 steps" in text
    assert len(re.findall(r"^\| this project, precision=\w+ \| [0-9.]+ \|$", text, re.MULTILINE)) == 3
    assert len(re.findall(r"^\| 0 \| (extendFalse|extendTrue|bounded) \| 2 \| whole \|", text, re.MULTILINE)) == 3  # collect.py's rows
    assert "max |weight difference| = 0 (bit-identical)" in text
    assert "4 priors written" in text and "over 1 process(es)" in text
    assert "| resume: the same weights as the uninterrupted run | 0 | toy sizes |" in text
