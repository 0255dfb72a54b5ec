"""`pip install .` (not editable) gives a working package: nothing in it depends on the source checkout."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import numpy as np
from PIL import Image

from conftest import ROOT


def _run(args: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)


def test_non_editable_install_runs_from_another_folder(tmp_path):
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    source = tmp_path / "source"  # what the project's build reads, copied: the build leaves files beside it
    shutil.copytree(ROOT / "code" / "bigprior", source / "code" / "bigprior", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    built = _run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation", "--no-index",
                  "--wheel-dir", str(tmp_path / "dist"), str(source)], tmp_path, dict(os.environ))
    assert built.returncode == 0, built.stderr[-2000:]
    wheel = next((tmp_path / "dist").glob("bigprior-*.whl"))
    installed = _run([sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet", "--no-deps",
                      "--no-index", str(wheel)], tmp_path, dict(os.environ))
    assert installed.returncode == 0, installed.stderr[-2000:]
    # the dependencies (torch, ...) come from this interpreter's site-packages; a path line in a .pth file
    # does not run that folder's own .pth files, so the editable install of the checkout stays out of sight
    site = Path(_run([str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"], tmp_path,
                     dict(os.environ)).stdout.strip())
    (site / "dependencies.pth").write_text(sysconfig.get_path("purelib") + "\n")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {key: value for key, value in os.environ.items() if key not in ("PYTHONPATH", "BIGPRIOR_ROOT")}
    where = _run([str(python), "-c", "import bigprior; print(bigprior.__file__)"], elsewhere, env)
    assert where.returncode == 0 and Path(where.stdout.strip()).is_relative_to(venv), where.stdout + where.stderr

    usage = _run([str(venv / "bin" / "bigprior"), "--help"], elsewhere, env)
    assert usage.returncode == 0 and "restore" in usage.stdout
    report_usage = _run([str(venv / "bin" / "bigprior"), "report", "--help"], elsewhere, env)
    assert report_usage.stdout.startswith("usage: bigprior report"), report_usage.stdout[:200]

    Image.fromarray(np.random.default_rng(0).integers(0, 256, (40, 56, 3), dtype=np.uint8)).save(elsewhere / "photo.png")
    restored = _run([str(venv / "bin" / "bigprior"), "restore", "--task", "inpaint", "--input", "photo.png", "--out",
                     "out", "--degrade", "True", "--iterations", "3", "--device", "cpu"], elsewhere, env)
    assert restored.returncode == 0, restored.stderr[-2000:]
    assert (elsewhere / "out" / "photo_restored.png").is_file() and (elsewhere / "out" / "photo_metrics.json").is_file()
