"""CPU work shared between threads that each compute with one torch thread.

PyTorch's own intra-op threads synchronise after every operation: on a CPU that other processes share,
two such threads were measured 3 to 12 times slower than one on the inversion's small tensors
(benchmarks/restore_speed.py; on a quiet CPU they are twice as fast, so the default mode inverts one photo
at a time with the process's threads). Where the work splits into independent pieces (tiles in the fusion,
files in the writer, photos in the strict fp32 inversion) the pipeline runs them on `count` worker threads,
each with a single torch thread: the cores compute without waiting for each other, and each piece
computes exactly as it would alone (its results do not depend on how many workers there are). `count` is the number of threads torch would use (the cores, or OMP_NUM_THREADS:
torchrun sets it to 1 for several processes per machine).

Torch's thread count is a process setting: `CpuWorkers` sets it to one for its lifetime and gives the
previous count back when it closes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

import torch

T = TypeVar("T")
R = TypeVar("R")


def cpu_count() -> int:
    """The threads torch would compute with in this process (OMP_NUM_THREADS, else the cores)."""
    return max(1, torch.get_num_threads())


class CpuWorkers:
    """`count` threads computing with one torch thread each (`count` 1: the calling thread, with one torch
    thread); `CpuWorkers.untouched()`: the calling thread with torch's thread count as it is. A context
    manager."""

    def __init__(self, count: int, one_thread: bool = True) -> None:
        self.count = max(1, count)
        self.one_thread = one_thread
        self._pool: ThreadPoolExecutor | None = None
        self._saved_threads = 0

    @classmethod
    def untouched(cls) -> CpuWorkers:
        return cls(1, one_thread=False)

    def __enter__(self) -> CpuWorkers:
        if self.one_thread:
            self._saved_threads = torch.get_num_threads()
            torch.set_num_threads(1)  # before the pool's threads first compute: they take it then
        if self.count > 1:
            self._pool = ThreadPoolExecutor(self.count, thread_name_prefix="bigprior-cpu")
        return self

    def __exit__(self, *exc: object) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
        if self.one_thread:
            torch.set_num_threads(self._saved_threads)

    def map(self, function: Callable[[T], R], items: Iterable[T]) -> list[R]:
        """`[function(item) for item in items]`, the items shared between the workers (results in order;
        the first exception is raised after every started item has finished)."""
        items = list(items)
        if self._pool is None or len(items) < 2:
            return [function(item) for item in items]
        return list(self._pool.map(function, items))

    def submit(self, function: Callable[..., R], *args: object) -> Future[R]:
        """Run `function(*args)` on a worker (at once in this thread without workers)."""
        if self._pool is None:
            future: Future[R] = Future()
            try:
                future.set_result(function(*args))
            except BaseException as error:  # noqa: BLE001 - handed to whoever waits on the future
                future.set_exception(error)
            return future
        return self._pool.submit(function, *args)
