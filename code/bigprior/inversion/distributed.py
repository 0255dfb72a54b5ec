"""Several processes (`torchrun --nproc_per_node=K`): each inverts a disjoint share of the images.

The share is by position (process r takes images r, r+K, ...), so it does not depend on which images
are already finished; the processes only meet at the end (gloo, also with CUDA) to add up their
summaries.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
import torch.distributed as dist

if TYPE_CHECKING:
    from .stage import StageSummary


@dataclass
class ProcessShare:
    """This process's place among `torchrun` workers (rank 0 of 1 without torchrun)."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @classmethod
    def from_environment(cls) -> ProcessShare:
        env = os.environ
        return cls(int(env.get("RANK", 0)), int(env.get("WORLD_SIZE", 1)), int(env.get("LOCAL_RANK", 0)))

    def device(self, device: torch.device) -> torch.device:
        """Each process of a multi-process CUDA run takes its own GPU (cuda:LOCAL_RANK)."""
        if device.type == "cuda" and device.index is None and self.world > 1:
            return torch.device("cuda", self.local_rank)
        return device


@contextlib.contextmanager
def process_group(share: ProcessShare) -> Iterator[None]:
    if share.world == 1:
        yield
        return
    dist.init_process_group("gloo", rank=share.rank, world_size=share.world)
    try:
        yield
    finally:
        dist.destroy_process_group()


def gather_summaries(summary: StageSummary, share: ProcessShare) -> StageSummary:
    """The summary over all processes (waits for all of them); the process's own without torchrun."""
    if share.world == 1:
        return summary
    parts: list[StageSummary | None] = [None] * share.world
    dist.all_gather_object(parts, summary)
    total = type(summary)()
    for part in parts:
        total.add(part)
    return total
