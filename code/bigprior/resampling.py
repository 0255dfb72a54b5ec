"""Bringing an observation to the generator's size, and the prior back to the photo's.

The observation is resampled by an explicit linear operator, one matrix per axis (`resampling_matrix`):
area averaging when shrinking (PyTorch's `interpolate(mode="area")`, adaptive average pooling) and
linear interpolation when enlarging (`mode="bilinear"`, `align_corners=False`). Because the operator
is explicit, what it does to the rest of the observation is exact:
- a mask (1 = missing) is carried over conservatively: a working pixel is missing when any pixel its
  weights touch is missing, so the inversion never fits a value that mixes in a hole;
- white noise of level sigma becomes noise of level sigma * `noise_gain` (the root mean square over the
  working pixels of the norm of their weights; 1/k for k x k area averaging).
The prior goes back to the photo's size with antialiased bicubic interpolation (`resize_image`).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def resampling_matrix(size_in: int, size_out: int) -> torch.Tensor:
    """The (size_out, size_in) matrix of the 1-D resampling: rows are non-negative and sum to 1."""
    matrix = torch.zeros(size_out, size_in, dtype=torch.float64)
    if size_out <= size_in:  # area: output i averages input [floor(i n / m), ceil((i + 1) n / m))
        for i in range(size_out):
            start, end = (i * size_in) // size_out, -((-(i + 1) * size_in) // size_out)
            matrix[i, start:end] = 1.0 / (end - start)
        return matrix
    scale = size_in / size_out  # linear: sample at the input coordinate of each output pixel centre
    for i in range(size_out):
        position = max((i + 0.5) * scale - 0.5, 0.0)
        left = min(int(math.floor(position)), size_in - 1)
        right = min(left + 1, size_in - 1)
        weight = position - left
        matrix[i, left] += 1 - weight
        matrix[i, right] += weight
    return matrix


def _axes(height: int, width: int, size: tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor]:
    return resampling_matrix(height, size[0]), resampling_matrix(width, size[1])


def resample(image: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Resample a CxHxW image to (height, width) = `size` with the per-axis matrices (float32 result)."""
    rows, columns = _axes(image.shape[-2], image.shape[-1], size)
    out = image.to(torch.float32) @ columns.T.to(torch.float32)  # C x H x w
    return rows.to(torch.float32) @ out  # C x h x w


def conservative_mask(mask: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """A 1xHxW mask (1 = missing) at `size`: missing wherever the resampling weights touch a missing pixel."""
    rows, columns = _axes(mask.shape[-2], mask.shape[-1], size)
    touched = (rows > 0).to(torch.float32) @ (mask > 0.5).to(torch.float32) @ (columns > 0).to(torch.float32).T
    return (touched > 0).to(torch.float32)


def noise_gain(height: int, width: int, size: tuple[int, int]) -> float:
    """Level of white noise after resampling an HxW image to `size`, relative to before (root mean
    square over the output pixels; each output pixel's variance is sigma^2 times its squared weights)."""
    rows, columns = _axes(height, width, size)
    return math.sqrt(float((rows**2).sum(1).mean() * (columns**2).sum(1).mean()))


def resize_image(image: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Resize a CxHxW image in [0, 1] to (height, width) = `size`: antialiased bicubic, clamped to [0, 1]."""
    if tuple(image.shape[-2:]) == tuple(size):
        return image
    out = F.interpolate(image[None].to(torch.float32), size=size, mode="bicubic", align_corners=False, antialias=True)
    return out[0].clamp_(0, 1)
