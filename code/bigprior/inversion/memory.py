"""Inversion batches that fit in device memory, and what the device used.

A batch that runs out of CUDA memory is split in halves and run again, down to single images: the
results do not change, since every image's initial codes come from its own random stream and its loss
is its own mean (see `invert`). The size that fit is kept for the batches after it, and said once, so
the next run can start there. Only an image that does not fit alone stops the stage, with one line
naming --batch_size; the images finished before it are already written.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TypeVar

import torch

from ..errors import BIGPriorError

T = TypeVar("T")
R = TypeVar("R")


@dataclass
class BatchSize:
    """The batch size in use (at least 1): the requested one until a batch of it runs out of memory."""

    requested: int
    current: int = 0

    def __post_init__(self) -> None:
        self.current = self.current or self.requested


def release_memory(device: torch.device) -> None:
    """Free what a failed attempt left cached, so the smaller batches get it."""
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()


def batches_that_fit(items: Sequence[T], run: Callable[[Sequence[T]], R], size: BatchSize, device: torch.device,
                     note: Callable[[str], None] = print) -> Iterator[tuple[Sequence[T], R]]:
    """Run `run` on `items` in order, in batches of at most `size.current`; yields each finished batch with
    its result, so the caller can write it before the next one runs. A batch that raises
    torch.cuda.OutOfMemoryError is halved (and `size.current` with it) and run again."""
    pending = [items[i : i + size.current] for i in range(0, len(items), size.current)]
    while pending:
        batch = pending.pop(0)
        if len(batch) > size.current:  # made before a smaller size was learnt
            pending[:0] = [batch[i : i + size.current] for i in range(0, len(batch), size.current)]
            continue
        failed = False
        try:
            result = run(batch)
        except torch.cuda.OutOfMemoryError:
            failed = True  # retried outside the except block: its traceback holds the failed batch's tensors
        if not failed:
            yield batch, result
            continue
        release_memory(device)
        if len(batch) == 1:
            raise BIGPriorError(f"--batch_size {size.requested}: one image alone does not fit in {device}'s memory "
                                "(try fewer --restarts or --z_number, or another --device)")
        size.current = (len(batch) + 1) // 2
        note(f"{device} ran out of memory with a batch of {len(batch)} images; going on with batches of "
             f"{size.current} (start with --batch_size {size.current} next time)")
        pending[:0] = [batch[: size.current], batch[size.current :]]


def reset_peak_memory(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)


def memory_report(device: torch.device) -> str:
    """'device cuda:0 (NVIDIA H200), peak memory 3.21 GiB' (CUDA), or the device alone."""
    if device.type != "cuda":
        return f"device {device}"
    peak = torch.cuda.max_memory_allocated(device) / 2**30
    return f"device {device} ({torch.cuda.get_device_name(device)}), peak memory {peak:.2f} GiB"
