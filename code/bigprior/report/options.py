"""Everything a report is made from, in one object: the command line builds it, the notebook and the
tests write it out."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ..errors import BIGPriorError
from ..experiment import workspace_root

DEFAULT_GRID_IMAGES = 4
LPIPS_MODES = ("auto", "off", "required")


@dataclass
class ReportOptions:
    """The options of `bigprior report` (the flags of the same names)."""

    experiments: Sequence[str] | None = None  # names, folders or label=...; None: every experiment of root
    root: str | os.PathLike | None = None  # the workspace (None: $BIGPRIOR_ROOT, else the current directory)
    name: str = "report"  # the report folder's name under `out`
    out: str | os.PathLike | None = None  # folder of reports (None: <root>/reports)
    published: str | os.PathLike | None = None  # folder with published numbers
    grid: int = DEFAULT_GRID_IMAGES  # random test images per experiment in its image grid (0: none)
    grid_images: Sequence[int] | None = None  # these test images in the grids instead
    seed: int = 0  # of the random choice of grid images
    lpips: str = "auto"  # auto | off | required
    lpips_weights: str | os.PathLike | None = None  # folder holding both LPIPS weight files
    weights_dir: str | os.PathLike | None = None  # else the model zoo's weights folders (bigprior.zoo)
    workers: int = 4  # threads scoring images

    def __post_init__(self) -> None:
        if not self.name or slug(self.name) != self.name:
            raise BIGPriorError(f"--name {self.name!r}: use letters, digits, - and _ only")
        if self.lpips not in LPIPS_MODES:
            raise BIGPriorError(f"--lpips must be one of {', '.join(LPIPS_MODES)}, got {self.lpips!r}")

    @property
    def workspace(self) -> Path:
        return workspace_root(self.root)

    @property
    def reports_folder(self) -> Path:
        """Where the report folder `<name>/` goes."""
        return Path(self.out) if self.out else self.workspace / "reports"


def slug(text: str) -> str:
    """`text` with every character other than letters, digits, - and _ replaced by _ (a file name)."""
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in text).strip("_")
