"""Loading an experiment's (observation, ground truth, prior) triplets into memory for the fusion stage.

The paper's data set is small (300 images of 256x256), so triplets are read once, checked, and kept
as tensors; batches are then index lookups, with no loader processes in the training loop.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import torch
from tqdm import tqdm

from ..errors import BIGPriorError
from ..experiment import Experiment


@dataclass
class TripletSet:
    """Stacked triplets of the listed image indices (N x C x H x W, float32 in [0, 1])."""

    indices: list[int]
    x: torch.Tensor
    gt: torch.Tensor
    prior: torch.Tensor

    def __len__(self) -> int:
        return len(self.indices)

    def to(self, device: torch.device) -> TripletSet:
        return TripletSet(self.indices, self.x.to(device), self.gt.to(device), self.prior.to(device))


def load_triplets(experiment: Experiment, indices: Sequence[int], workers: int = 4, desc: str = "loading") -> TripletSet:
    """Read and check every triplet before anything is trained or written."""
    indices = list(indices)
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        triplets = list(tqdm(pool.map(experiment.read_triplet, indices), total=len(indices), desc=desc, leave=False))
    first_shape = triplets[0][1].shape
    for i, (_, gt, _) in zip(indices, triplets):
        if gt.shape != first_shape:
            raise BIGPriorError(
                f"{experiment.gt_path(i)}: size {gt.shape[-1]}x{gt.shape[-2]} differs from "
                f"{experiment.gt_path(indices[0])} ({first_shape[-1]}x{first_shape[-2]}); all images must share one size"
            )
    x, gt, prior = (torch.stack(parts) for parts in zip(*triplets))
    return TripletSet(indices, x, gt, prior)
