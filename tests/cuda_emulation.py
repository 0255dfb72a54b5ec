"""CUDA emulated on a CPU-only machine, so CI catches device mistakes without a GPU.

Two emulated devices, because a CUDA build's autograd engine asks the CUDA driver about streams for
every CUDA tensor in a backward pass, fake ones included, and fails without a GPU:

- `fake_cuda()`: torch's FakeTensorMode with tensors on `cuda` (shapes, dtypes and devices, no data).
  Forward passes, no-grad paths and the CUDA-only branches (autocast to bf16 with CUDA's op lists,
  cuDNN flags) run as on a GPU; `.item()`, `bool()`, `.tolist()` and `.numpy()` raise, and mixing a
  CPU tensor (not a 0-dim scalar) with a CUDA one raises, as on a GPU.
- `META`: the `meta` device, for whole steps with a backward pass and an optimizer step: the same
  checks (no data, `.item()` raises, CPU/meta mixing raises), but no CUDA-only branches.

`DeviceTraffic` records what would make a GPU wait or copy: host syncs (`.item()` and friends,
data-dependent shapes), device-to-host and host-to-device copies and operations that mix a CPU tensor
into a device operation (allowed by PyTorch for indexing, and a blocking copy on a GPU). `emulated_cuda`
stubs the CUDA runtime calls the project makes (device count, set_device, names, memory statistics,
synchronize) and records them. Import the fixtures into a test module: `from cuda_emulation import ...`.
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

META = torch.device("meta")
CUDA = torch.device("cuda", 0)
aten = torch.ops.aten
# operations whose result the host must wait for: a value, or a shape that depends on the data
SYNCING = {aten._local_scalar_dense.default, aten.nonzero.default, aten.masked_select.default,
           aten._unique2.default, aten.unique_dim.default, aten.unique_consecutive.default,
           aten.equal.default, aten.is_nonzero.default}


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


class DeviceTraffic(TorchDispatchMode):
    """Records the operations that make the host wait for `device` or copy between it and the host.

    `events` holds one line per such operation, in order; `mark()` returns the current position, so a
    test can check a stretch (e.g. the steps after the first of a loop)."""

    def __init__(self, device: torch.device) -> None:
        super().__init__()
        self.device_type = device.type
        self.events: list[str] = []

    def mark(self) -> int:
        return len(self.events)

    def since(self, position: int) -> list[str]:
        return self.events[position:]

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        inputs = [t for t in tree_leaves((args, kwargs)) if isinstance(t, torch.Tensor)]
        if func in SYNCING and any(t.device.type == self.device_type for t in inputs):
            self.events.append(f"host sync: {func}")
        result = func(*args, **kwargs)
        outputs = [t for t in tree_leaves(result) if isinstance(t, torch.Tensor)]
        self._record_transfer(func, inputs, outputs)
        return result

    def _record_transfer(self, func, inputs: list[torch.Tensor], outputs: list[torch.Tensor]) -> None:
        device, host = self.device_type, "cpu"
        if func in (aten._to_copy.default, aten.copy_.default) and inputs and outputs:
            source = inputs[-1].device.type if func is aten.copy_.default else inputs[0].device.type
            target = outputs[0].device.type
            if {source, target} == {device, host}:
                self.events.append(f"{'device-to-host' if source == device else 'host-to-device'} copy: {func}")
            return
        types = {t.device.type for t in inputs if t.dim() > 0}
        if device in types and host in types:
            self.events.append(f"host tensor in a device operation: {func}")


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
