"""Catching CUDA mistakes on a machine without a GPU.

Networks and data are put on PyTorch's `meta` device, which, like a GPU, is not the CPU and has no
values the host can read: `.item()`, `bool()` or `.cpu()` of a meta tensor fail, as they would cost a
device sync on a GPU. `StrictDevice` adds what a GPU forgives but a fast loop must not do: an operation
that mixes a CPU tensor (other than a 0-dimensional scalar) with a device tensor, e.g. indexing
device data with a CPU permutation (PyTorch copies the index to the GPU and blocks). It also counts
the host-to-device copies and their largest size, so a test can bound them per epoch or step.
"""

from __future__ import annotations

from collections import Counter

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten

META = torch.device("meta")

_COPIES = {torch.ops.aten._to_copy.default, torch.ops.aten.copy_.default}
_HOST_READS = {torch.ops.aten._local_scalar_dense.default, torch.ops.aten.is_nonzero.default}


class DeviceMistake(AssertionError):
    pass


class StrictDevice(TorchDispatchMode):
    """Refuse CPU/device mixing and host reads of device tensors; count host-to-device copies."""

    def __init__(self) -> None:
        super().__init__()
        self.uploads = 0
        self.largest_upload = 0  # elements
        self.ops: Counter[str] = Counter()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        tensors = [t for t in tree_flatten((args, kwargs))[0] if isinstance(t, torch.Tensor)]
        self.ops[str(func)] += 1
        if func in _HOST_READS and tensors[0].device.type != "cpu":
            raise DeviceMistake(f"{func}: reads a {tensors[0].device} tensor on the host (a device sync)")
        if func in _COPIES:
            self._check_copy(func, tensors, kwargs)
        else:
            devices = {t.device for t in tensors if not (t.device.type == "cpu" and t.dim() == 0)}
            if len(devices) > 1:
                raise DeviceMistake(f"{func}: mixes tensors on {sorted(map(str, devices))}")
        return func(*args, **kwargs)

    def _check_copy(self, func, tensors: list[torch.Tensor], kwargs: dict) -> None:
        if func is torch.ops.aten._to_copy.default:
            source, target = tensors[0].device, torch.device(kwargs.get("device") or tensors[0].device)
        else:
            target, source = tensors[0].device, tensors[1].device
        if source.type != "cpu" and target.type == "cpu":
            raise DeviceMistake(f"{func}: copies a {source} tensor to the host (a device sync)")
        if source.type == "cpu" and target.type != "cpu":
            self.uploads += 1
            self.largest_upload = max(self.largest_upload, tensors[-1].numel())
