"""`runtime.run_cli`: what a user sees when a command fails in ways no input check can catch: the GPU
out of memory, a full disk, Ctrl-C in the middle of a write. One line, no traceback, no partial file."""

from __future__ import annotations

import errno
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from bigprior import imageio
from bigprior.commandline import run_cli


def _last_line(capsys) -> str:
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err + captured.out
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, lines
    return lines[0]


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_gpu_out_of_memory_is_one_line_naming_the_batch_flag(capsys):
    def main(argv):
        raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB")

    assert run_cli(main, []) == 2
    assert "out of GPU memory" in (line := _last_line(capsys)) and "--batch_size" in line


@pytest.mark.parametrize("failure", ["full disk", "ctrl-c"])
def test_a_failed_write_leaves_no_partial_file(tmp_path, monkeypatch, capsys, failure):
    """The writer has put half a file on disk when the disk fills up or the user presses Ctrl-C."""
    target = tmp_path / "out" / "image.png"
    target.parent.mkdir()
    (target.parent / "kept.png").write_bytes(b"an earlier result")

    def save(self, fp, format=None, **kwargs):
        Path(fp).write_bytes(b"\x89PNG half")
        if failure == "full disk":
            raise OSError(errno.ENOSPC, "No space left on device")
        raise KeyboardInterrupt

    monkeypatch.setattr(Image.Image, "save", save)
    code = run_cli(lambda argv: imageio.write_png(target, np.zeros((4, 4, 3), np.uint8)), [])
    assert _leftovers(target.parent) == ["kept.png"]  # no temporary file, no half-written image
    assert (target.parent / "kept.png").read_bytes() == b"an earlier result"
    line = _last_line(capsys)
    if failure == "full disk":
        assert code == 2 and str(target) in line and "No space left on device" in line
    else:
        assert code == 130 and "interrupted" in line and "resume" in line


def test_an_operating_system_error_names_its_file(tmp_path, capsys):
    missing = tmp_path / "nowhere" / "weights.pth"
    assert run_cli(lambda argv: open(missing, "rb"), []) == 2
    assert str(missing) in (line := _last_line(capsys)) and "No such file" in line
