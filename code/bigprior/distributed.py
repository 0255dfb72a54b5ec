"""Several processes (`torchrun --nproc_per_node=K`, also `--nnodes`): each takes a disjoint share of the
images (the inversion stage) or photos (restore).

The share is by position (process r takes images r, r+K, ...), so it does not depend on which images
are already finished; the processes only meet at the end (gloo, also with CUDA) to add up their
summaries.

Devices under torchrun: every process takes the GPU of its LOCAL_RANK among the visible ones
(`cuda:LOCAL_RANK`, round robin when there are more processes than GPUs) and makes it its current CUDA
device, so nothing of a process lands on another's GPU. The GPUs are chosen with CUDA_VISIBLE_DEVICES;
an explicit `--device cuda:N` would send every process to one GPU, so with several processes it is
refused. Shares are uneven (a process may finish hours before the slowest), so the one collective,
the closing gather, runs under a timeout as long as a stage can last, not gloo's default 30 minutes;
a process that fails ends the others through torchrun, not through the timeout.
"""

from __future__ import annotations

import contextlib
import datetime
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TypeVar

import torch
import torch.distributed as dist

from .errors import BIGPriorError

GATHER_TIMEOUT = datetime.timedelta(days=7)  # a process may wait this long at the end for the slowest one


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
        """The device this process computes on; a CUDA one becomes the process's current device.

        With several processes `cuda` means cuda:(LOCAL_RANK mod the number of visible GPUs)."""
        if device.type != "cuda":
            return device
        if self.world > 1:
            if device.index is not None:
                raise BIGPriorError(
                    f"--device {device}: with {self.world} processes each takes cuda:LOCAL_RANK; choose the GPUs "
                    "with CUDA_VISIBLE_DEVICES and pass --device cuda (or auto)"
                )
            device = torch.device("cuda", self.local_rank % torch.cuda.device_count())
        if device.index is not None:
            torch.cuda.set_device(device)
        return device


@contextlib.contextmanager
def process_group(share: ProcessShare) -> Iterator[None]:
    if share.world == 1:
        yield
        return
    dist.init_process_group("gloo", rank=share.rank, world_size=share.world, timeout=GATHER_TIMEOUT)
    try:
        yield
    finally:
        dist.destroy_process_group()


def barrier(share: ProcessShare) -> None:
    """Wait until every process reaches this point (nothing without torchrun): e.g. every process has read
    which outputs exist before any writes one, so that all of them share out the same work."""
    if share.world > 1:
        dist.barrier()


Item = TypeVar("Item")


def gather_objects(item: Item, share: ProcessShare) -> list[Item]:
    """Every process's `item`, in rank order (waits for all of them); `[item]` without torchrun."""
    if share.world == 1:
        return [item]
    parts: list[Item | None] = [None] * share.world
    dist.all_gather_object(parts, item)
    return parts  # type: ignore[return-value]
