"""Loading an experiment's fusion data into memory: per image its observation, ground truth, the
sources the network blends (the generative prior; in the multi-source fusion also classical
restorations) and, where the network takes it, the mask of the missing pixels.

The paper's data set is small (300 images of 256x256), so everything is read once, checked, and kept
as tensors; batches are then index lookups, with no loader processes in the training loop.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import torch

from ..progress import progress_bar
from .. import imageio
from ..errors import BIGPriorError
from ..experiment import Experiment
from .spec import GENERATIVE_PRIOR, FusionSpec


@dataclass
class FusionData:
    """Stacked data of the listed image indices, float32 in [0, 1]: x (N, C_x, H, W), gt (N, 3, H, W),
    sources (N, S, 3, H, W) in the network's order, mask (N, 1, H, W; 1 = missing) or None."""

    indices: list[int]
    x: torch.Tensor
    gt: torch.Tensor
    sources: torch.Tensor
    mask: torch.Tensor | None = None

    @classmethod
    def from_prior(cls, indices: list[int], x: torch.Tensor, gt: torch.Tensor, prior: torch.Tensor) -> FusionData:
        """The paper's data: the prior is the one source."""
        return cls(indices, x, gt, prior[:, None])

    def __len__(self) -> int:
        return len(self.indices)

    def to(self, device: torch.device) -> FusionData:
        mask = self.mask.to(device) if self.mask is not None else None
        return FusionData(self.indices, self.x.to(device), self.gt.to(device), self.sources.to(device), mask)

    def batch(self, index: torch.Tensor | slice) -> tuple[torch.Tensor, ...]:
        """(x, gt, sources[, mask]) of some images."""
        parts = (self.x, self.gt, self.sources) + ((self.mask,) if self.mask is not None else ())
        return tuple(t[index] for t in parts)


def source_names(spec: FusionSpec) -> tuple[str, ...]:
    """The sources a network blends besides the observation (the paper's fusion: the prior)."""
    return spec.sources[1:] if spec.sources else (GENERATIVE_PRIOR,)


def source_path(experiment: Experiment, name: str, i: int):
    """Where image i of a source lies: the prior in mGANoutput/, a classical method in <name>output/."""
    return experiment.prior_path(i) if name == GENERATIVE_PRIOR else experiment.method_dir(name) / f"{i}.png"


def read_image_data(experiment: Experiment, spec: FusionSpec, i: int) -> tuple[torch.Tensor, ...]:
    """(observation, ground truth, sources (S, 3, H, W)[, mask]) of image i, checked to share one size."""
    x, gt = experiment.read_observation(i), experiment.read_gt(i)
    if x.shape[-2:] != gt.shape[-2:]:
        raise BIGPriorError(f"{experiment.input_path(i)}: size {_size(x)} differs from {experiment.gt_path(i)} ({_size(gt)})")
    sources = []
    for name in source_names(spec):
        path = source_path(experiment, name, i)
        if name != GENERATIVE_PRIOR and not path.is_file():
            raise BIGPriorError(f"{path}: not found (run `bigprior peers --experiment {experiment.name} --methods {name}` first)")
        image = imageio.hwc_to_chw(imageio.float_from_uint8(imageio.read_rgb(path)))
        if image.shape[-2:] != gt.shape[-2:]:
            raise BIGPriorError(f"{path}: size {_size(image)} differs from {experiment.gt_path(i)} ({_size(gt)})")
        sources.append(image)
    parts = (x, gt, torch.stack(sources))
    if spec.mask_channel:
        parts += (experiment.read_mask(i, *gt.shape[-2:]),)
    return parts


def _size(t: torch.Tensor) -> str:
    return f"{t.shape[-1]}x{t.shape[-2]}"


def load_fusion_data(experiment: Experiment, indices: Sequence[int], spec: FusionSpec, workers: int = 4,
                     desc: str = "loading") -> FusionData:
    """Read and check every image's data before anything is trained or written."""
    indices = list(indices)
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        items = list(progress_bar(pool.map(lambda i: read_image_data(experiment, spec, i), indices), total=len(indices),
                          desc=desc, leave=False))
    first_shape = items[0][1].shape
    for i, item in zip(indices, items):
        if item[1].shape != first_shape:
            raise BIGPriorError(
                f"{experiment.gt_path(i)}: size {item[1].shape[-1]}x{item[1].shape[-2]} differs from "
                f"{experiment.gt_path(indices[0])} ({first_shape[-1]}x{first_shape[-2]}); all images must share one size"
            )
    stacked = [torch.stack(parts) for parts in zip(*items)]
    return FusionData(indices, *stacked)
