"""How a process computes, shared by every stage: device choice, seeding, numerics (precision modes,
cuDNN/TF32/determinism policy, the autocast factory, CPU batch invariance) and moving data to a device.

It sits at the bottom of the package (it imports nothing of it but the error type); the command-line
helpers that build on the workspace live above the experiment contract, in `commandline.py`."""

from __future__ import annotations

import contextlib
import ctypes
import os
import random
from collections.abc import Callable, Iterator

import numpy as np
import torch

from .errors import BIGPriorError


PRECISIONS = ("default", "fp32", "bf16")
# cuBLAS's documented deterministic workspace (the size PyTorch itself picks on Hopper GPUs). cuBLAS
# reads it when PyTorch first uses it, so it is set when a CUDA device is chosen, before any CUDA work.
CUBLAS_DETERMINISTIC_WORKSPACE = ":4096:8"


def resolve_device(name: str = "auto") -> torch.device:
    """`auto` picks CUDA when present, else CPU; `cpu`/`cuda`/`cuda:N` are taken as given. Choosing a
    CUDA device also sets CUBLAS_WORKSPACE_CONFIG (unless set), so `--precision fp32` can be deterministic."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    try:
        device = torch.device(name)
    except RuntimeError as exc:
        raise BIGPriorError(f"--device: expected auto, cpu or cuda[:N], got {name!r}") from exc
    if device.type == "cuda" and not torch.cuda.is_available():
        raise BIGPriorError("--device cuda: no CUDA device is available on this machine (use --device cpu)")
    if device.type == "cuda":
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", CUBLAS_DETERMINISTIC_WORKSPACE)
    return device


def native_bf16_cpu() -> bool:
    """Whether this CPU multiplies bfloat16 natively (AMX tiles or AVX-512 BF16) and oneDNN is there to use
    it: its bf16 convolutions are then several times faster than float32 ones (the built-in fusion network:
    2.7x per tile on this project's CPU, AMX); elsewhere bf16 is emulated and slower than float32."""
    return torch.backends.mkldnn.is_available() and (torch.cpu._is_amx_tile_supported() or torch.cpu._is_avx512_bf16_supported())


MMAP_THRESHOLD = 1024 * 1024  # bytes: larger allocations are mapped from the OS and given back when freed
_GLIBC_M_MMAP_THRESHOLD = -3


def return_large_frees() -> bool:
    """Have allocations above MMAP_THRESHOLD mapped from the operating system and unmapped when freed
    (glibc's mallopt; elsewhere nothing, and False). glibc otherwise raises its threshold as big buffers are
    freed (up to 32 MB) and keeps later ones in per-thread heaps that stay resident: a 12-megapixel
    restore's worker threads then held about a gigabyte of freed tiles and temporaries (peak 3.5 GB; 2.2
    with 1 MB). Below 1 MB the heap serves them: the inversion's many small tensors would otherwise cost a
    mapping and its page faults each (a 256 KB threshold made its steps about 20% slower). A process
    setting, for commands that handle large photos (restore, the demo)."""
    try:
        libc = ctypes.CDLL("libc.so.6")
        return bool(libc.mallopt(_GLIBC_M_MMAP_THRESHOLD, MMAP_THRESHOLD))
    except (OSError, AttributeError):
        return False


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (all devices) for runs that are repeatable given a seed."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


# ---------------------------------------------------------------------------------------------
# numerics


def check_precision(precision: str, flag: str = "--precision") -> None:
    if precision not in PRECISIONS:
        raise BIGPriorError(f"{flag} must be one of {', '.join(PRECISIONS)}, got {precision!r}")


def memory_format(precision: str) -> torch.memory_format:
    """channels_last under bf16 (tensor-core convolutions want it), the usual layout otherwise."""
    return torch.channels_last if precision == "bf16" else torch.contiguous_format


def exact_batches(precision: str, device: torch.device) -> bool:
    """Where a batch-invariant loop (`numeric_mode(..., batch_invariant=True)`) gives a batch bit for bit
    the results of its items one at a time: strict float32 on the CPU."""
    return precision == "fp32" and device.type == "cpu"


@contextlib.contextmanager
def numeric_mode(
    precision: str, device: torch.device, batch_invariant: bool = False
) -> Iterator[Callable[[], contextlib.AbstractContextManager]]:
    """Set the numeric mode of a loop; yields a factory of the autocast context for forward passes.
    Every setting is restored on exit.

    default: PyTorch's defaults (on CUDA, convolutions may use TF32) with cuDNN autotuning.
    fp32: strict float32 -- TF32 off, deterministic cuDNN algorithms and, on CUDA, PyTorch's
    deterministic-algorithm mode (warning, not failing, for an operation that has no deterministic
    version), so a run is repeatable and equal to the plain float32 loop.
    bf16: autocast to bfloat16 (losses are reduced in float32).
    `batch_invariant` (the inversion's choice): in fp32 on the CPU, PyTorch's own convolutions instead
    of oneDNN's or NNPACK's, which pick algorithms by batch size; they compute each image of a batch on
    its own, so a batch gives bit for bit the results of its images one at a time (at about a third of
    oneDNN's speed). Otherwise batches agree with single images up to float rounding (as on a GPU)."""
    check_precision(precision)
    strict = precision == "fp32"
    exact = batch_invariant and exact_batches(precision, device)
    with contextlib.ExitStack() as stack:
        stack.enter_context(_cudnn_policy(strict, device))
        if strict and device.type == "cuda":
            stack.enter_context(_deterministic_algorithms())
        if exact:
            stack.enter_context(_cpu_batch_invariance())
        if precision == "bf16":
            yield lambda: torch.autocast(device_type=device.type, dtype=torch.bfloat16)
        else:
            yield contextlib.nullcontext


@contextlib.contextmanager
def _cudnn_policy(strict: bool, device: torch.device) -> Iterator[None]:
    backends = torch.backends
    saved = (backends.cudnn.allow_tf32, backends.cuda.matmul.allow_tf32, backends.cudnn.benchmark, backends.cudnn.deterministic)
    try:
        if strict:
            backends.cudnn.allow_tf32 = backends.cuda.matmul.allow_tf32 = False
            backends.cudnn.benchmark, backends.cudnn.deterministic = False, True
        elif device.type == "cuda":
            backends.cudnn.benchmark = True
        yield
    finally:
        (backends.cudnn.allow_tf32, backends.cuda.matmul.allow_tf32, backends.cudnn.benchmark,
         backends.cudnn.deterministic) = saved


@contextlib.contextmanager
def _cpu_batch_invariance() -> Iterator[None]:
    """Neither oneDNN nor NNPACK convolutions (only their `enabled` switches are touched)."""
    mkldnn = torch.backends.mkldnn.enabled
    try:
        torch.backends.mkldnn.enabled = False
        with torch.backends.nnpack.flags(enabled=False):
            yield
    finally:
        torch.backends.mkldnn.enabled = mkldnn


@contextlib.contextmanager
def _deterministic_algorithms() -> Iterator[None]:
    """torch.use_deterministic_algorithms for the duration (cuBLAS needs CUBLAS_WORKSPACE_CONFIG, set by
    `resolve_device`; set here too for callers that chose the device themselves)."""
    saved = torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled()
    added_env = "CUBLAS_WORKSPACE_CONFIG" not in os.environ
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", CUBLAS_DETERMINISTIC_WORKSPACE)
    try:
        torch.use_deterministic_algorithms(True, warn_only=True)
        yield
    finally:
        torch.use_deterministic_algorithms(saved[0], warn_only=saved[1])
        if added_env:
            os.environ.pop("CUBLAS_WORKSPACE_CONFIG", None)


def upload(tensor: torch.Tensor, device: torch.device) -> torch.Tensor:
    """A host tensor on `device`; to CUDA through pinned memory, so the copy does not block the host."""
    if device.type == "cuda" and tensor.device.type == "cpu":
        return tensor.pin_memory().to(device, non_blocking=True)
    return tensor.to(device)


def host_values(tensor: torch.Tensor) -> list[float]:
    """A device tensor's values as Python floats: the one host sync a training loop does per epoch or
    log window (never per iteration)."""
    return tensor.detach().float().reshape(-1).tolist()
