"""Geometry of the fusion's images: padding to a network's size multiple and the 8 dihedral transforms
(flips and 90-degree rotations) that training-time augmentation and test-time self-ensemble use.

Every function works on the last two dimensions of a tensor (..., H, W).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

DIHEDRAL = 8  # transforms k = 0..7: k % 4 quarter turns after a horizontal flip when k >= 4; 0 is the identity


def dihedral(image: torch.Tensor, k: int) -> torch.Tensor:
    """Transform k of the dihedral group of the square (k = 0 returns `image` itself)."""
    if k == 0:
        return image
    flipped = image.flip(-1) if k >= 4 else image
    return torch.rot90(flipped, k % 4, dims=(-2, -1))


def undo_dihedral(image: torch.Tensor, k: int) -> torch.Tensor:
    """The inverse of `dihedral(., k)`: undo_dihedral(dihedral(t, k), k) == t."""
    if k == 0:
        return image
    turned = torch.rot90(image, -(k % 4), dims=(-2, -1))
    return turned.flip(-1) if k >= 4 else turned


def random_dihedral(batch: tuple[torch.Tensor, ...], generator: torch.Generator) -> tuple[torch.Tensor, ...]:
    """One random dihedral transform, drawn from the (CPU) generator, applied to every tensor of `batch`
    (e.g. the observation, ground truth and prior of a batch: they stay aligned)."""
    k = int(torch.randint(0, DIHEDRAL, (1,), generator=generator))
    return tuple(dihedral(t, k) for t in batch)


def pad_to_multiple(image: torch.Tensor, multiple: int) -> torch.Tensor:
    """`image` extended at the bottom and right to the next multiple of `multiple` in height and width
    (itself when it already is one): mirrored (reflect, the edge pixel not repeated), or the edge pixel
    repeated where the image is too small to mirror. Padding only at the bottom and right keeps the
    top-left pixel at the origin, so tiles that start at multiples of `multiple` see the network's grid
    exactly as the whole image does."""
    height, width = image.shape[-2:]
    bottom, right = -height % multiple, -width % multiple
    if bottom == 0 and right == 0:
        return image
    mode = "reflect" if bottom < height and right < width else "replicate"
    return F.pad(image, (0, right, 0, bottom), mode=mode)
