"""The machinery of tests/test_bad_input.py (issue 11): bad-input cases, files that are wrong in one
way each, a pickle that would run code, the snapshot of a folder, and running a command in-process.

A case prepares a workspace (a fresh temporary folder) and returns the command line and the text its
last line of output must hold (the file or flag at fault). The test snapshots the whole workspace
before and after the run: every file that was there must be byte-identical, nothing may be added
(no partial result, no temporary file, no folder), and the marker of the code-running pickle must
never appear.
"""

from __future__ import annotations

import builtins
import hashlib
import os
import pickle
import shutil
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from bigprior import cli
from bigprior.inversion.cli import SCRIPTS, script_main
from bigprior.commandline import run_cli

MARKER = "CODE_RAN"  # the file a code-running pickle creates in the workspace when it is unpickled
TEMP_PATTERNS = ("*.tmp*", "tmp*", ".*.tmp", "*.partial", "*.part", "*~")


# ---------------------------------------------------------------------------------------------
# cases


@dataclass(frozen=True)
class Setup:
    """A prepared case: the command line, and the text the last line of output must hold."""

    argv: list[str]
    names: str


@dataclass(frozen=True)
class Case:
    id: str
    command: str  # a `bigprior` command, or an inversion script's name (colorization, inpainting, denoising)
    build: Callable[[Path, "Assets"], Setup]
    xfail: str | None = None  # a known bug in code another engineer owns (strict: it must still fail)
    needs_permissions: bool = False  # an unwritable-folder case (root ignores permissions)
    hidden_modules: tuple[str, ...] = ()  # packages that look uninstalled during the run (an optional extra missing)


@dataclass(frozen=True)
class Assets:
    """Files built once for the whole module (never handed to a command: cases copy what they use)."""

    root: Path
    weights: Path  # a tiny 32 px PGGAN generator (converted .pth)
    pggan_pkl: Path  # the same kind of network as an official TensorFlow pickle
    stylegan2_pkl: Path  # a tiny StyleGAN2-ADA network pickle
    extra: dict[str, Path] = field(default_factory=dict)

    def copy(self, name: str, workspace: Path, to: str | None = None) -> Path:
        """Copy the prepared file or folder `name` into the workspace (as `to`); returns the copy."""
        source, target = self.root / name, workspace / (to or name)
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_dir():
            shutil.copytree(source, target, symlinks=False)
        else:
            shutil.copyfile(source, target)
        return target


# ---------------------------------------------------------------------------------------------
# running a command


def invoke(command: str, argv: Sequence[str]) -> int:
    """Run a command in this process as its entry point would; returns the exit code. An exception other
    than SystemExit escapes (the caller reports it as the traceback a user would have seen)."""
    saved = sys.argv[0]
    try:
        if command in SCRIPTS:
            sys.argv[0] = f"{command}.py"
            return run_cli(script_main(command), list(argv))
        return cli.main([command, *argv])
    except SystemExit as exc:  # argparse
        return exc.code if isinstance(exc.code, int) else 1
    finally:
        sys.argv[0] = saved


def last_line(text: str) -> str:
    """The last non-empty line of a stream (a progress bar's carriage-return updates count as lines)."""
    lines = [part.strip() for line in text.splitlines() for part in line.split("\r")]
    lines = [line for line in lines if line]
    return lines[-1] if lines else ""


# ---------------------------------------------------------------------------------------------
# the snapshot of a folder


def snapshot(folder: Path) -> dict[str, str]:
    """Every path under `folder` (relative) -> the SHA-256 of a file's bytes, `<dir>` for a folder, the
    target of a link, and its permission bits (a chmod is a change too)."""
    entries: dict[str, str] = {}
    for path in sorted(folder.rglob("*")):
        key = str(path.relative_to(folder))
        mode = f" {path.lstat().st_mode & 0o7777:o}"
        if path.is_symlink():
            entries[key] = f"-> {os.readlink(path)}{mode}"
        elif path.is_dir():
            entries[key] = f"<dir>{mode}"
        else:
            entries[key] = hashlib.sha256(path.read_bytes()).hexdigest() + mode
    return entries


def temp_files(paths: Sequence[str]) -> list[str]:
    """The paths whose name looks like a temporary file's (imageio.atomic_path: .<name>.<pid>.<id>.tmp<suffix>)."""
    return [p for p in paths if any(Path(p).match(pattern) for pattern in TEMP_PATTERNS)]


# ---------------------------------------------------------------------------------------------
# files that are wrong in one way


class RunsCode:
    """Unpickling it runs code: it creates the workspace's marker file (through builtins.exec)."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple:
        return builtins.exec, (f"open({str(self.marker)!r}, 'w').close()",)


def code_running_pickle(path: Path, workspace: Path) -> Path:
    """A file that runs code when unpickled: a PyTorch zip archive (torch.save) for .pth/.pt, a plain
    pickle for anything else (.pkl, as the official TensorFlow and StyleGAN2 networks are)."""
    payload = {"state_dict": RunsCode(workspace / MARKER), "epoch": 0}
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix in (".pth", ".pt"):
        torch.save(payload, path)
    else:
        path.write_bytes(pickle.dumps(payload, protocol=4))
    return path


def truncated(source: Path, target: Path) -> Path:
    """The first half of a file's bytes."""
    data = source.read_bytes()
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data[: len(data) // 2])
    return target


def text_file(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("this is a text file, not what its name says\n")
    return path


def empty_file(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"")
    return path


def blocking_file(path: Path) -> Path:
    """A regular file where a folder must go."""
    return text_file(path)


def unwritable_folder(path: Path) -> Path:
    """A folder nothing can be created in (0o500; the test restores 0o700 before cleaning up)."""
    path.mkdir(parents=True, exist_ok=True)
    path.chmod(0o500)
    return path


def smooth_rgb(width: int, height: int, seed: int = 0) -> np.ndarray:
    """A smooth random HxWx3 uint8 image (a coarse grid resized bicubically), asymmetric top to bottom."""
    coarse = np.random.default_rng(seed).integers(0, 256, (4, 4, 3), dtype=np.uint8)
    image = np.asarray(Image.fromarray(coarse).resize((width, height), Image.BICUBIC)).copy()
    image[: max(1, height // 8)] = (250, 20, 20)  # a red top band: orientation errors show
    return image


def write_rgb(path: Path, width: int = 32, height: int = 32, seed: int = 0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(smooth_rgb(width, height, seed)).save(path)
    return path


def write_images(folder: Path, count: int = 3, size: int = 32) -> list[Path]:
    """`count` RGB PNGs img_0.png..., sorted name order = index order."""
    return [write_rgb(folder / f"img_{i}.png", size, size, seed=i) for i in range(count)]


def restore_permissions(folder: Path) -> None:
    """Make every folder under `folder` writable again (so pytest can delete the workspace)."""
    for path in [folder, *folder.rglob("*")]:
        if path.is_dir() and not path.is_symlink() and not os.access(path, os.W_OK | os.X_OK):
            path.chmod(0o700)


def image_of_mode(path: Path, mode: str, width: int, height: int) -> np.ndarray:
    """Write an image of a Pillow mode; returns the HxWx3 uint8 RGB a viewer shows for it (the truth
    the restored known pixels are compared with)."""
    rgb = smooth_rgb(width, height)
    gray = np.asarray(Image.fromarray(rgb).convert("L"))
    path.parent.mkdir(parents=True, exist_ok=True)
    if mode == "I;16":
        Image.fromarray(gray.astype(np.uint16) * 257).save(path)
        truth = gray
    elif mode == "RGBA":
        alpha = np.full((height, width), 255, np.uint8)
        alpha[:, : width // 2] = 0  # the left half transparent: white once flattened
        Image.fromarray(np.dstack([rgb, alpha]), "RGBA").save(path)
        truth = np.where(alpha[:, :, None] == 0, 255, rgb)
    elif mode == "CMYK":
        image = Image.fromarray(rgb).convert("CMYK")
        image.save(path)
        truth = np.asarray(image.convert("RGB"))
    elif mode == "P":
        image = Image.fromarray(rgb).quantize(16)
        image.save(path)
        truth = np.asarray(image.convert("RGB"))
    elif mode == "L":
        Image.fromarray(gray).save(path)
        truth = gray
    else:
        Image.fromarray(rgb).save(path)
        truth = rgb
    return truth if truth.ndim == 3 else np.repeat(truth[:, :, None], 3, axis=2)
