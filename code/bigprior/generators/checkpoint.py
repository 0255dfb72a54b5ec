"""Generator files: which family a file holds, reading PyTorch files safely, checking state dicts.

A file is told apart without being loaded as a pickle: PyTorch files (zip or pre-1.6 legacy format)
are read with `torch.load(..., weights_only=True)` (once; the content goes to the family's builder), and
a pickle's family is its first global (`safe_pickle.first_global`, which builds nothing):
`tfutil.Network` is an official PGGAN TensorFlow pickle, `torch_utils.persistence._reconstruct_persistent_obj`
a StyleGAN2-ADA network pickle. A converted StyleGAN2 file (`bigprior convert-stylegan2`) is a dict
with `format: "bigprior-stylegan2"`; any other PyTorch file is taken for a PGGAN checkpoint (whose
reader says what is missing).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..errors import BIGPriorError
from .safe_pickle import first_global
from ..zoo import missing_weights_message

PGGAN, STYLEGAN2, STYLEGAN2_TF = "pggan", "stylegan2", "stylegan2-tf"
STYLEGAN2_FORMAT = "bigprior-stylegan2"  # the `format` entry of converted StyleGAN2 files
LOADER = {PGGAN: "load_pggan", STYLEGAN2: "load_stylegan2"}
PICKLE_FAMILIES = {
    ("tfutil", "Network"): (PGGAN, "an official PGGAN TensorFlow pickle"),
    ("torch_utils.persistence", "_reconstruct_persistent_obj"): (STYLEGAN2, "a StyleGAN2-ADA network pickle"),
    ("dnnlib.tflib.network", "Network"): (
        STYLEGAN2_TF, "an official StyleGAN/StyleGAN2 TensorFlow pickle, which is not supported (the PyTorch "
                      "pickles of stylegan2-ada-pytorch are; NVlabs' legacy.py converts one to the other)"),
}

_ZIP_MAGIC = b"PK\x03\x04"
_LEGACY_TORCH_MAGIC = b"\x80\x02\x8a\x0al\xfc\x9cF\xf9 j\xa8P\x19"  # pickled torch.serialization.MAGIC_NUMBER


@dataclass(frozen=True)
class GeneratorFile:
    """What a generator file holds: its family (PGGAN, STYLEGAN2, STYLEGAN2_TF or None when unknown), in
    words, and a PyTorch file's content (already read; None for pickles)."""

    path: Path
    family: str | None
    kind: str
    content: Any = None

    def require(self, family: str) -> None:
        """Raise naming the file and what it is when it holds another family's generator."""
        if self.family not in (None, family):
            how = f"; load it with {LOADER[self.family]}" if self.family in LOADER else ""
            raise BIGPriorError(f"{self.path}: {self.kind}, not a {'PGGAN' if family == PGGAN else 'StyleGAN2'} "
                                f"generator{how} (load_generator and --gan_weights pick the type from the file)")


def is_torch_file(path: Path) -> bool:
    """True for files written by torch.save (zip archive, or the legacy format of torch < 1.6)."""
    with open(path, "rb") as f:
        head = f.read(len(_LEGACY_TORCH_MAGIC))
    return head.startswith(_ZIP_MAGIC) or head == _LEGACY_TORCH_MAGIC


def read_torch_file(path: Path) -> Any:
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises several exception types for foreign or corrupt files
        first = next((line.strip() for line in str(exc).splitlines() if line.strip()), "")  # torch's are pages long
        raise BIGPriorError(f"{path}: not a readable PyTorch checkpoint ({exc.__class__.__name__}: {first})") from exc


def identify_generator_file(path: str | os.PathLike) -> GeneratorFile:
    """The family of a generator file; a missing file is an error saying where the weights are published."""
    path = Path(path)
    if not path.is_file():
        raise BIGPriorError(missing_weights_message(path))
    if is_torch_file(path):
        content = read_torch_file(path)
        if isinstance(content, Mapping) and content.get("format") == STYLEGAN2_FORMAT:
            return GeneratorFile(path, STYLEGAN2, "a converted StyleGAN2 file (bigprior convert-stylegan2)", content)
        return GeneratorFile(path, PGGAN, "a PyTorch PGGAN checkpoint", content)
    found = first_global(path)
    if found in PICKLE_FAMILIES:
        return GeneratorFile(path, *PICKLE_FAMILIES[found])
    kind = f"a pickle whose first global is {found[0]}.{found[1]}" if found else "not a readable network pickle"
    return GeneratorFile(path, None, kind)


def check_state_dict(model: nn.Module, state: Mapping[str, torch.Tensor], source: str) -> None:
    """Raise naming the first missing, extra or mis-shaped key (never load partially)."""
    own = model.state_dict()
    for key, value in own.items():
        if key not in state:
            raise BIGPriorError(f"{source}: missing key {key}")
        if not isinstance(state[key], torch.Tensor):
            raise BIGPriorError(f"{source}: key {key} is a {type(state[key]).__name__}, expected a tensor")
        if tuple(state[key].shape) != tuple(value.shape):
            raise BIGPriorError(f"{source}: key {key} has shape {tuple(state[key].shape)}, expected {tuple(value.shape)}")
    for key in state:
        if key not in own:
            raise BIGPriorError(f"{source}: unexpected key {key}")
