"""torch.compile of the inversion step, compiled a bounded number of times per process.

Dynamo keeps compiled variants per code object and, past `recompile_limit` (8 by default), silently runs
the function eagerly. Without care the step compiles once per (generator and composing layer, task, loss
terms, mask or not) and once more per batch size, so a process that inverts several tasks
(`check-inversion`) ran out of variants and lost the compiled speed without a word, and the last,
smaller batch of every stage recompiled. Here the batch dimension of every input is marked dynamic
before the first call (one variant serves every batch size, the last partial batch included) and the
limit is raised deliberately to `RECOMPILE_LIMIT`: the variants a process can need are one per
configuration, a few dozen at the most.

A run of one fixed batch size (a benchmark) asks for "static" instead: `torch.compile(dynamic=False)`, nothing
marked dynamic. A static graph compiles faster and lets the compiler specialise its kernels to the shapes; a
new batch size then compiles again.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TypeVar

import torch

from ..errors import BIGPriorError

F = TypeVar("F", bound=Callable[..., torch.Tensor])
RECOMPILE_LIMIT = 64
COMPILE_MODES = ("dynamic", "static")


def _dynamo():  # noqa: ANN202 - the module
    """torch._dynamo, imported when a step is compiled: importing it costs seconds every command would pay."""
    import torch._dynamo

    return torch._dynamo


def limit_key() -> str:
    """The config key was `cache_size_limit` before torch 2.6 renamed it; whichever this torch has is raised."""
    return "recompile_limit" if hasattr(_dynamo().config, "recompile_limit") else "cache_size_limit"


def compile_mode(compile: bool | str) -> str | None:
    """`invert`'s `compile` as a mode: False -> None (eager), True -> "dynamic" (one variant for every batch size
    of a stage), or "dynamic" / "static" by name."""
    if compile is True or compile is False:
        return "dynamic" if compile else None
    if compile not in COMPILE_MODES:
        raise BIGPriorError(f"compile must be True, False or one of {', '.join(COMPILE_MODES)}, got {compile!r}")
    return compile


@functools.cache
def compiled(function: F, dynamic: bool = True) -> F:
    """`torch.compile(function)`, once per function and mode per process (the networks are arguments, so later
    batches and later inversions reuse its variants), with the recompile limit raised to `RECOMPILE_LIMIT`.
    `dynamic=False`: static shapes (`torch.compile(dynamic=False)`)."""
    config, key = _dynamo().config, limit_key()
    setattr(config, key, max(getattr(config, key), RECOMPILE_LIMIT))
    return torch.compile(function) if dynamic else torch.compile(function, dynamic=False)


def dynamic_batch(*tensors: torch.Tensor | None) -> None:
    """Mark dimension 0 (images x restarts) of each tensor dynamic, so no batch size recompiles; a
    batch of one, which dynamo specialises, is left as it is (`maybe_mark_dynamic` does not insist)."""
    for tensor in tensors:
        if tensor is not None:
            _dynamo().maybe_mark_dynamic(tensor, 0)
