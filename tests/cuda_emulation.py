"""CUDA itself emulated on a CPU-only machine: the branches that only a `cuda` device takes.

`device_emulation.py` puts whole training and inversion steps on `meta` under `StrictDevice` (no data,
no host reads, no CPU/device mixing). A CUDA build's autograd engine asks the CUDA driver about streams
for every CUDA tensor in a backward pass, fake ones included, so steps with a backward pass cannot run
on an emulated `cuda`; forward passes can, and that is where the CUDA-only behaviour is:

- `fake_cuda()`: torch's FakeTensorMode with tensors on `cuda` (shapes, dtypes and devices, no data), with
  `emulated_cuda`'s stubs of the CUDA runtime calls (availability, device count, set_device, names, memory
  statistics, synchronize), so autocast runs with CUDA's op lists (which ops it casts to float32) and
  code that branches on `device.type == "cuda"` takes its CUDA branch. `StrictDevice` works inside it.
- `LargeFloat32`: records the operations that leave a float32 tensor larger than a given size, i.e. what
  bf16 autocast kept in (or promoted back to) float32.
Import the fixtures into a test module: `from cuda_emulation import emulated_cuda, fake_cuda`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import torch
from torch._subclasses.fake_tensor import FakeTensorMode
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves

CUDA = torch.device("cuda", 0)


@dataclass
class EmulatedCuda:
    """The CUDA runtime as the emulated process sees it, and what the code asked of it."""

    device_count: int = 1
    current: int = 0
    set_devices: list[int] = field(default_factory=list)
    synchronizations: int = 0
    peak_memory_reads: int = 0

    def set_device(self, device: torch.device | int) -> None:
        index = device.index if isinstance(device, torch.device) else int(device)
        if index is None or not 0 <= index < self.device_count:
            raise RuntimeError(f"invalid device ordinal {device} (emulating {self.device_count} GPUs)")
        self.current = index
        self.set_devices.append(index)

    def synchronize(self, device: Any = None) -> None:
        self.synchronizations += 1

    def max_memory_allocated(self, device: Any = None) -> int:
        self.peak_memory_reads += 1
        return 0


def _stub_runtime(monkeypatch: pytest.MonkeyPatch, runtime: EmulatedCuda) -> None:
    """Point torch's CUDA runtime calls at `runtime` (FakeTensorMode keeps avoiding real device init)."""
    monkeypatch.setattr(FakeTensorMode, "avoid_device_init", property(lambda self: True))
    values: dict[str, Callable[..., Any]] = {
        "is_available": lambda: True,
        "device_count": lambda: runtime.device_count,
        "current_device": lambda: runtime.current,
        "set_device": runtime.set_device,
        "synchronize": runtime.synchronize,
        "max_memory_allocated": runtime.max_memory_allocated,
        "reset_peak_memory_stats": lambda device=None: None,
        "memory_allocated": lambda device=None: 0,
        "get_device_name": lambda device=None: "emulated CUDA",
        "is_bf16_supported": lambda including_emulation=True: True,
    }
    for name, value in values.items():
        monkeypatch.setattr(torch.cuda, name, value)


@pytest.fixture
def emulated_cuda(monkeypatch: pytest.MonkeyPatch) -> EmulatedCuda:
    """A process that sees one GPU (set `.device_count` for more): torch.cuda's runtime calls are stubbed."""
    runtime = EmulatedCuda()
    _stub_runtime(monkeypatch, runtime)
    return runtime


@pytest.fixture
def fake_cuda(emulated_cuda: EmulatedCuda) -> Callable[[], contextlib.AbstractContextManager[FakeTensorMode]]:
    """A factory of FakeTensorMode contexts in which `cuda` tensors exist (see the module's docstring).
    Modules built outside become fake CUDA modules with `.to("cuda")` inside."""

    @contextlib.contextmanager
    def mode() -> Iterator[FakeTensorMode]:
        with FakeTensorMode(allow_non_fake_inputs=True) as fake:
            yield fake

    return mode


class LargeFloat32(TorchDispatchMode):
    """Records the operations that make a float32 tensor of more than `elements` elements: under bf16
    autocast, the tensors that stayed in (or were promoted back to) float32."""

    def __init__(self, elements: int) -> None:
        super().__init__()
        self.elements = elements
        self.events: list[str] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        result = func(*args, **(kwargs or {}))
        for t in tree_leaves(result):
            if isinstance(t, torch.Tensor) and t.dtype == torch.float32 and t.numel() > self.elements:
                self.events.append(f"{func}: float32 {tuple(t.shape)}")
        return result
