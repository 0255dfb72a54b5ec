"""`load_generator(path)`: a PGGAN or StyleGAN2 generator, the family read from the file itself."""

from __future__ import annotations

import os

from torch import nn

from ..errors import BIGPriorError
from .checkpoint import PGGAN, STYLEGAN2, identify_generator_file
from .pggan import pggan_from_file
from .stylegan2 import stylegan2_from_file

DEFAULT_NETWORK = {PGGAN: "Gs", STYLEGAN2: "G_ema"}  # the published (moving-average) generator of each family


def load_generator(path: str | os.PathLike, which: str | None = None, class_index: int | None = None) -> nn.Module:
    """The generator in `path`: a PGGAN (converted or genforce .pth, official TensorFlow pickle) or a
    StyleGAN2 (NVlabs' network pickle, converted .pth). `which` defaults to the published network (Gs,
    G_ema); `class_index` is for conditional StyleGAN2 generators only."""
    file = identify_generator_file(path)
    if file.family == PGGAN:
        if class_index is not None:
            raise BIGPriorError(f"{file.path}: class_index {class_index}, but PGGAN generators are unconditional")
        return pggan_from_file(file, which or DEFAULT_NETWORK[PGGAN])
    if file.family == STYLEGAN2:
        return stylegan2_from_file(file, which or DEFAULT_NETWORK[STYLEGAN2], class_index)
    raise BIGPriorError(f"{file.path}: {file.kind}; expected a PGGAN or StyleGAN2 generator (an official pickle "
                        "or a .pth file)")
