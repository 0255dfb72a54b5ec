"""Out of CUDA memory in the inversion (emulated by raising torch.cuda.OutOfMemoryError): batches are halved
and run again in order, the size that fit is kept, and an image that does not fit alone stops with one line; a whole stage writes the same files as with batches
that fit."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from cuda_emulation import emulated_cuda  # noqa: F401
from PIL import Image

from bigprior.degradations import Colorization
from bigprior.errors import BIGPriorError
from bigprior.experiment import Experiment
from bigprior.generators import PGGANGenerator
from bigprior.inversion import InversionLoss
from bigprior.inversion.memory import BatchSize, batches_that_fit, memory_report
from bigprior.inversion.stage import InversionSettings, Inverter, run_stage

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


# ---------------------------------------------------------------------------------------------
# a whole stage


def stage_files(root: Path, batch_size: int, largest: int | None) -> dict[str, bytes]:
    """Run the colorization stage on 5 small images (strict fp32: batches equal single images on the CPU),
    with batches of more than `largest` images running out of memory; returns every file written."""
    rng = np.random.default_rng(0)
    files = []
    for i in range(5):
        files.append(root / "images" / f"{i}.png")
        files[-1].parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)).save(files[-1])
    torch.manual_seed(0)
    generator = PGGANGenerator(16, z_dim=8, fmaps_max=8).eval().requires_grad_(False)
    settings = InversionSettings(composing_layer=2, z_number=3, iterations=3, precision="fp32")
    inverter = Inverter(generator, InversionLoss(), Colorization(), settings, torch.device("cpu"))
    if largest is not None:
        invert_observations = inverter.invert_observations

        def short_of_memory(observations, indices, clean=None, progress=None, iterations=None):
            if len(observations) > largest:
                progress(1)  # a step done before memory runs out: the bar takes it back
                raise torch.cuda.OutOfMemoryError("CUDA out of memory (emulated)")
            return invert_observations(observations, indices, clean, progress, iterations)

        inverter.invert_observations = short_of_memory
    experiment = Experiment("col_test", root)
    run_stage(inverter, experiment, list(enumerate(files)), total_images=5, args={}, batch_size=batch_size)
    return {str(p.relative_to(experiment.dir)): p.read_bytes() for p in sorted(experiment.dir.rglob("*")) if p.is_file()}


def test_a_stage_short_of_memory_writes_what_a_stage_of_single_images_writes(tmp_path, capsys):
    split = stage_files(tmp_path / "split", batch_size=4, largest=2)
    output = capsys.readouterr()
    assert "cpu ran out of memory with a batch of 4 images; going on with batches of 2" in output.err + output.out
    assert f"{tmp_path / 'split' / 'inter_data' / 'col_test'}: device cpu" in output.out
    single = stage_files(tmp_path / "single", batch_size=1, largest=None)
    assert len(split) == 4 * 5 + 1 and split == single  # GT, input, log, prior per image; mGANargs.txt
