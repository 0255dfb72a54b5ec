"""Differentiable augmentation (DiffAugment; Zhao et al., NeurIPS 2020) for GANs on little data.

The same random transforms are applied to real and generated images before the discriminator
sees them, and are differentiable, so the generator is trained through them and does not learn to
reproduce them. Images are in [-1, 1]. Every draw comes from the `torch.Generator` passed in, which
makes a training step repeatable given its seed.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

POLICIES = ("color", "translation", "cutout")
TRANSLATION_RATIO = 0.125  # shifts up to 1/8 of the image size, borders filled with 0 (mid-grey)
CUTOUT_RATIO = 0.5  # one square hole of half the image size, filled with 0


def _uniform(batch: int, generator: torch.Generator, device: torch.device) -> torch.Tensor:
    return torch.rand(batch, 1, 1, 1, generator=generator).to(device)


def random_color(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Brightness shift in [-0.5, 0.5), saturation x [0, 2), contrast x [0.5, 1.5), per image."""
    batch, device = x.shape[0], x.device
    x = x + (_uniform(batch, generator, device) - 0.5)
    grey = x.mean(dim=1, keepdim=True)
    x = (x - grey) * (_uniform(batch, generator, device) * 2) + grey
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    return (x - mean) * (_uniform(batch, generator, device) + 0.5) + mean


def random_translation(x: torch.Tensor, generator: torch.Generator, ratio: float = TRANSLATION_RATIO) -> torch.Tensor:
    """Shift each image by whole pixels in [-ratio*size, ratio*size], zero padding."""
    batch, _, height, width = x.shape
    max_dy, max_dx = int(height * ratio + 0.5), int(width * ratio + 0.5)
    dy = torch.randint(-max_dy, max_dy + 1, (batch, 1, 1), generator=generator).to(x.device)
    dx = torch.randint(-max_dx, max_dx + 1, (batch, 1, 1), generator=generator).to(x.device)
    rows = torch.arange(height, device=x.device).view(1, height, 1) - dy  # source row of each target row
    cols = torch.arange(width, device=x.device).view(1, 1, width) - dx
    inside = ((rows >= 0) & (rows < height) & (cols >= 0) & (cols < width)).unsqueeze(1)
    flat = (rows.clamp(0, height - 1) * width + cols.clamp(0, width - 1)).view(batch, 1, -1)
    shifted = x.flatten(2).gather(2, flat.expand(-1, x.shape[1], -1)).view_as(x)
    return shifted * inside


def random_cutout(x: torch.Tensor, generator: torch.Generator, ratio: float = CUTOUT_RATIO) -> torch.Tensor:
    """Zero one square of ratio*size per image at a random centre (clipped at the borders)."""
    batch, _, height, width = x.shape
    cut_h, cut_w = int(height * ratio + 0.5), int(width * ratio + 0.5)
    top = torch.randint(0, height + (1 - cut_h % 2), (batch, 1, 1), generator=generator).to(x.device) - cut_h // 2
    left = torch.randint(0, width + (1 - cut_w % 2), (batch, 1, 1), generator=generator).to(x.device) - cut_w // 2
    rows = torch.arange(height, device=x.device).view(1, height, 1)
    cols = torch.arange(width, device=x.device).view(1, 1, width)
    hole = (rows >= top) & (rows < top + cut_h) & (cols >= left) & (cols < left + cut_w)
    return x * (~hole).unsqueeze(1)


_TRANSFORMS = {"color": random_color, "translation": random_translation, "cutout": random_cutout}


def check_policy(policy: Sequence[str]) -> None:
    unknown = [name for name in policy if name not in _TRANSFORMS]
    if unknown:
        raise ValueError(f"unknown augmentation {unknown[0]!r}; known: {', '.join(POLICIES)}")


def diff_augment(x: torch.Tensor, policy: Sequence[str], generator: torch.Generator) -> torch.Tensor:
    """Apply the transforms named in `policy`, in the order given."""
    for name in policy:
        x = _TRANSFORMS[name](x, generator)
    return x.contiguous()
