"""Shared test helpers: where ../shared is, building small workspaces from it, running the scripts.

../shared is read in place, never copied into the repository. Outside CI a test that needs it
skips with the reason; under CI (CI=true) its absence is a failure. Workspaces link the shared
*files* one by one into a temporary folder, so nothing a test writes can reach ../shared.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CODE = ROOT / "code"
sys.path.insert(0, str(CODE))

SHARED = Path(os.environ.get("BIGPRIOR_SHARED", ROOT.parent / "shared")).resolve()
PAPER = SHARED / "bigprior-paper"
VECTORS = SHARED / "testvectors" / "pggan"
STYLEGAN2 = SHARED / "testvectors" / "stylegan2"


def require_shared(path: Path) -> Path:
    """Return `path` (inside ../shared) or skip (outside CI) / fail (CI=true) when it is missing."""
    if not path.exists():
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{path} is missing: CI must run with ../shared present")
        pytest.skip(f"{path} is not available (tests read ../shared in place)")
    return path


def link_files(src_dir: Path, dst_dir: Path, names: list[str]) -> None:
    """Symlink each named file of src_dir into a real folder dst_dir."""
    dst_dir.mkdir(parents=True, exist_ok=True)
    for name in names:
        os.symlink(src_dir / name, dst_dir / name)


def paper_col_bedroom_workspace(root: Path, indices: range | list[int] = range(300), run: bool = True) -> Path:
    """A workspace with the paper's col_bedroom data (GT, input, mGANoutput linked file by file) and,
    if `run`, a copy of net_data/col_bedroom_1."""
    src = require_shared(PAPER / "inter_data" / "col_bedroom")
    dst = root / "inter_data" / "col_bedroom"
    for sub in ("GT", "input", "mGANoutput"):
        link_files(src / sub, dst / sub, [f"{i}.png" for i in indices])
    if run:
        run_src = require_shared(PAPER / "net_data" / "col_bedroom_1")
        run_dst = root / "net_data" / "col_bedroom_1"
        run_dst.mkdir(parents=True)
        for f in run_src.iterdir():
            (run_dst / f.name).write_bytes(f.read_bytes())
    return root


def run_script(args: list[str], cwd: Path, timeout: float = 900, env: dict | None = None) -> subprocess.CompletedProcess:
    """Run `python <args>` with the project's code importable; returns the completed process."""
    full_env = {**os.environ, "PYTHONPATH": str(CODE), **(env or {})}
    return subprocess.run([sys.executable, *args], cwd=cwd, env=full_env, capture_output=True, text=True, timeout=timeout)


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    """An empty workspace folder (inter_data/ and net_data/ are created on demand)."""
    return tmp_path


@pytest.fixture(scope="module")
def one_torch_thread():
    """Small convolutions: one thread is fastest, and immune to other processes on a shared CPU."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
