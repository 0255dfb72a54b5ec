"""Out of CUDA memory in the inversion (emulated by raising torch.cuda.OutOfMemoryError): batches are halved
and run again in order, the size that fit is kept, and an image that does not fit alone stops with one line."""

from __future__ import annotations

import pytest
import torch
from cuda_emulation import emulated_cuda  # noqa: F401

from bigprior.errors import BIGPriorError
from bigprior.inversion.memory import BatchSize, batches_that_fit, memory_report

CUDA = torch.device("cuda", 0)


def fits_up_to(largest: int, attempts: list[int]):
    def run(batch):
        attempts.append(len(batch))
        if len(batch) > largest:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory (emulated)")
        return [item * 10 for item in batch]

    return run


def test_a_batch_too_large_is_halved_and_the_size_that_fit_is_kept():
    attempts, notes = [], []
    size = BatchSize(8)
    done = list(batches_that_fit(list(range(11)), fits_up_to(3, attempts), size, CUDA, notes.append))
    assert [list(batch) for batch, _ in done] == [[0, 1], [2, 3], [4, 5], [6, 7], [8, 9], [10]]
    assert [r for _, result in done for r in result] == [i * 10 for i in range(11)]
    assert attempts == [8, 4, 2, 2, 2, 2, 2, 1] and size.current == 2
    assert notes == ["cuda:0 ran out of memory with a batch of 8 images; going on with batches of 4 (start with "
                     "--batch_size 4 next time)",
                     "cuda:0 ran out of memory with a batch of 4 images; going on with batches of 2 (start with "
                     "--batch_size 2 next time)"]


def test_batches_that_fit_run_once_each():
    attempts = []
    done = list(batches_that_fit(list(range(5)), fits_up_to(8, attempts), BatchSize(2), CUDA, print))
    assert [list(batch) for batch, _ in done] == [[0, 1], [2, 3], [4]] and attempts == [2, 2, 1]


def test_an_image_that_does_not_fit_alone_stops_after_the_finished_ones():
    finished = []
    with pytest.raises(BIGPriorError, match=r"^--batch_size 4: one image alone does not fit in cuda:0's memory"):
        for batch, _ in batches_that_fit([0, 1, 2], fits_up_to(0, []), BatchSize(4), CUDA, lambda _: None):
            finished.append(batch)
    assert finished == []


def test_memory_report_names_the_device_and_its_peak(emulated_cuda):
    assert memory_report(torch.device("cpu")) == "device cpu"
    assert memory_report(CUDA) == "device cuda:0 (emulated CUDA), peak memory 0.00 GiB"
    assert emulated_cuda.peak_memory_reads == 1
