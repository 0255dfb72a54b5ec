"""torch.compile of the inversion step, compiled a bounded number of times per process.

Dynamo keeps compiled variants per code object and, past `recompile_limit` (8 by default), silently runs
the function eagerly. Without care the step compiles once per (generator and composing layer, task, loss
terms, mask or not) and once more per batch size, so a process that inverts several tasks
(`check-inversion`) ran out of variants and lost the compiled speed without a word, and the last,
smaller batch of every stage recompiled. Here the batch dimension of every input is marked dynamic
before the first call (one variant serves every batch size, the last partial batch included) and the
limit is raised deliberately to `RECOMPILE_LIMIT`: the variants a process can need are one per
configuration, a few dozen at the most.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TypeVar

import torch
import torch._dynamo

F = TypeVar("F", bound=Callable[..., torch.Tensor])
RECOMPILE_LIMIT = 64


@functools.cache
def compiled(function: F) -> F:
    """`torch.compile(function)`, once per function per process (the networks are arguments, so later
    batches and later inversions reuse its variants), with the recompile limit raised to `RECOMPILE_LIMIT`."""
    torch._dynamo.config.recompile_limit = max(torch._dynamo.config.recompile_limit, RECOMPILE_LIMIT)
    return torch.compile(function)


def dynamic_batch(*tensors: torch.Tensor | None) -> None:
    """Mark dimension 0 (images x restarts) of each tensor dynamic, so no batch size recompiles; a
    batch of one, which dynamo specialises, is left as it is (`maybe_mark_dynamic` does not insist)."""
    for tensor in tensors:
        if tensor is not None:
            torch._dynamo.maybe_mark_dynamic(tensor, 0)
