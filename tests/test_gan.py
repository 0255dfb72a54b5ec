"""GAN training (`bigprior train-gan`) and the committed default generator."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from bigprior.errors import BIGPriorError
from bigprior.gan import augment
from bigprior.gan.cli import main as train_gan_main
from bigprior.gan.data import load_image_folders
from bigprior.gan.discriminator import Discriminator, minibatch_stddev
from bigprior.gan.training import CHECKPOINT_FILE, GANOptions, resume, train
from bigprior.generators import PGGANGenerator, load_pggan
from bigprior.zoo import DEFAULT_GENERATOR
from bigprior.commandline import run_cli

TINY = ["--resolution", "16", "--z_dim", "16", "--channels", "16,16,8", "--batch_size", "4", "--grid_size", "2",
        "--threads", "1", "--device", "cpu", "--seed", "3"]


def write_images(folder: Path, count: int, size: int = 24, seed: int = 0) -> list[np.ndarray]:
    """Random two-colour block images, named so that sorted order = index order."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    images = []
    for i in range(count):
        image = np.empty((size, size, 3), np.uint8)
        image[:] = rng.integers(0, 256, 3)
        image[: size // 2] = rng.integers(0, 256, 3)
        Image.fromarray(image).save(folder / f"img_{i:03d}.png")
        images.append(image)
    return images


def tiny_options(data: Path, steps: int) -> GANOptions:
    return GANOptions(data=[str(data)], count=0, resolution=16, z_dim=16, channels=[16, 16, 8], batch_size=4,
                      steps=steps, log_every=1, sample_every=2, checkpoint_every=2, grid_size=2, seed=5)


def load_checkpoint(folder: Path) -> dict:
    return torch.load(folder / CHECKPOINT_FILE, map_location="cpu", weights_only=True)


# ---------------------------------------------------------------------------------------------
# data


def test_only_the_first_count_images_in_sorted_order_are_used(tmp_path: Path) -> None:
    folder = tmp_path / "images"
    folder.mkdir()
    colours = [10, 60, 110, 160, 210]
    for name, colour in zip(["c.png", "a.png", "e.png", "b.png", "d.png"], colours):
        Image.fromarray(np.full((32, 48, 3), colour, np.uint8)).save(folder / name)
    reals = load_image_folders([folder], resolution=8, count=3)
    assert reals.shape == (3, 3, 8, 8)
    expected = [colours[1], colours[3], colours[0]]  # a, b, c
    for image, colour in zip(reals, expected):
        assert torch.allclose(image, torch.full_like(image, colour / 127.5 - 1.0), atol=1e-6)


def test_default_count_is_the_paper_training_split() -> None:
    assert GANOptions().count == 250


# ---------------------------------------------------------------------------------------------
# augmentation and discriminator


def test_translation_is_a_whole_pixel_shift_with_zero_fill() -> None:
    x = torch.rand(6, 3, 16, 16) + 1.0  # strictly positive, so the zero fill is visible
    out = augment.random_translation(x, torch.Generator().manual_seed(0))
    for image, shifted in zip(x, out):
        matches = []
        for dy in range(-2, 3):
            for dx in range(-2, 3):
                expected = torch.zeros_like(image)
                expected[:, max(dy, 0) : 16 + min(dy, 0), max(dx, 0) : 16 + min(dx, 0)] = \
                    image[:, max(-dy, 0) : 16 + min(-dy, 0), max(-dx, 0) : 16 + min(-dx, 0)]
                matches.append(torch.equal(shifted, expected))
        assert sum(matches) == 1


def test_cutout_zeroes_one_rectangle_at_most_half_the_size() -> None:
    out = augment.random_cutout(torch.ones(8, 3, 16, 16), torch.Generator().manual_seed(1))
    for image in out:
        hole = image[0] == 0
        rows, cols = hole.any(1).nonzero().flatten(), hole.any(0).nonzero().flatten()
        assert 0 < len(rows) <= 8 and 0 < len(cols) <= 8
        assert hole.sum() == len(rows) * len(cols)  # a full rectangle
        assert torch.equal(image[0], image[2])  # the same hole in every channel


def test_augmentation_is_differentiable_and_repeatable_given_the_generator() -> None:
    x = torch.rand(4, 3, 16, 16, requires_grad=True)
    first = augment.diff_augment(x, augment.POLICIES, torch.Generator().manual_seed(7))
    second = augment.diff_augment(x, augment.POLICIES, torch.Generator().manual_seed(7))
    assert torch.equal(first, second)
    first.sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0


def test_minibatch_stddev_channel() -> None:
    same = torch.randn(1, 5, 4, 4).repeat(4, 1, 1, 1)
    assert minibatch_stddev(same)[:, -1].abs().max() < 1e-3
    varied = torch.randn(8, 5, 4, 4)
    out = minibatch_stddev(varied)
    assert out.shape == (8, 6, 4, 4)
    assert torch.equal(out[:, :5], varied)
    assert out[:, -1].min() > 0.1


def test_discriminator_gives_one_logit_per_image() -> None:
    d = Discriminator(32, [16, 16, 8, 8])
    assert d(torch.randn(6, 3, 32, 32)).shape == (6,)
    with pytest.raises(ValueError, match="32x32"):
        d(torch.randn(2, 3, 16, 16))


# ---------------------------------------------------------------------------------------------
# training runs


def test_cli_trains_and_writes_run_folder_with_a_loadable_generator(tmp_path: Path) -> None:
    data = tmp_path / "data"
    write_images(data, 10)
    argv = ["--data", str(data), "--count", "8", "--steps", "4", "--log_every", "2", "--sample_every", "2",
            "--checkpoint_every", "2", "--root", str(tmp_path), *TINY]
    assert run_cli(train_gan_main, argv) == 0
    folder = tmp_path / "runs" / "gan_0"
    for name in ("options.json", "checkpoint.pth", "generator.pth", "generator_fp16.pth", "reals.png",
                 "samples/step_000002.png", "samples/step_000004.png"):
        assert (folder / name).is_file(), name
    assert Image.open(folder / "samples" / "step_000004.png").size == (2 * 16 + 3 * 2,) * 2
    stats = [json.loads(line) for line in (folder / "stats.jsonl").read_text().splitlines()]
    assert [row["step"] for row in stats] == [2, 4]
    assert all(np.isfinite(row["loss_d"]) and np.isfinite(row["loss_g"]) for row in stats)
    assert stats[0]["r1"] is not None  # step 0 is an R1 step

    generator = load_pggan(folder / "generator.pth")
    assert (generator.resolution, generator.z_dim, generator.channels) == (16, 16, [16, 16, 8])
    ema = load_checkpoint(folder)["generator_ema"]
    assert all(torch.equal(generator.state_dict()[k], v) for k, v in ema.items())
    samples = generator(torch.randn(8, 16, generator=torch.Generator().manual_seed(0)))
    assert samples.shape == (8, 3, 16, 16) and torch.isfinite(samples).all() and samples.abs().max() < 10
    half = load_pggan(folder / "generator_fp16.pth")
    assert torch.allclose(half(torch.ones(1, 16)), generator(torch.ones(1, 16)), atol=0.05)

    assert run_cli(train_gan_main, argv) == 0
    assert (tmp_path / "runs" / "gan_1").is_dir() and (folder / "checkpoint.pth").is_file()  # never overwritten


def test_resumed_run_matches_an_uninterrupted_one(tmp_path: Path) -> None:
    torch.set_num_threads(1)
    data = tmp_path / "data"
    write_images(data, 6)
    straight = train(tiny_options(data, steps=4), tmp_path / "a", torch.device("cpu"))
    interrupted = train(tiny_options(data, steps=2), tmp_path / "b", torch.device("cpu"))
    resumed = resume(interrupted, torch.device("cpu"), steps=4)
    a, b = load_checkpoint(straight), load_checkpoint(resumed)
    assert a["step"] == b["step"] == 4
    for net in ("generator", "discriminator", "generator_ema"):
        for key, value in a[net].items():
            assert torch.equal(value, b[net][key]), f"{net}.{key}"
    assert [r["loss_d"] for r in a["stats"]] == [r["loss_d"] for r in b["stats"]]
    assert GANOptions.load(resumed).steps == 4


def test_training_from_the_same_seed_is_repeatable_and_seeds_differ(tmp_path: Path) -> None:
    torch.set_num_threads(1)
    data = tmp_path / "data"
    write_images(data, 6)
    options = tiny_options(data, steps=2)
    first, second = (load_checkpoint(train(options, tmp_path / name, torch.device("cpu"))) for name in ("a", "b"))
    options.seed = 6
    other = load_checkpoint(train(options, tmp_path / "c", torch.device("cpu")))
    key = "layer0.conv.weight"
    assert torch.equal(first["generator_ema"][key], second["generator_ema"][key])
    assert not torch.equal(first["generator_ema"][key], other["generator_ema"][key])


# ---------------------------------------------------------------------------------------------
# bad input


@pytest.mark.parametrize("case", ["empty", "unreadable", "too_few", "missing"])
def test_bad_data_is_a_one_line_error_and_leaves_no_run(tmp_path: Path, capsys: pytest.CaptureFixture, case: str) -> None:
    data = tmp_path / "data"
    expected = {"empty": "no images found", "unreadable": "img_001.png: not a readable image",
                "too_few": "has 3 images, --count 250", "missing": "--data " + str(tmp_path / "data") + ": folder not found"}[case]
    if case == "empty":
        data.mkdir()
    elif case == "unreadable":
        write_images(data, 3)
        (data / "img_001.png").write_bytes(b"not a png")
    elif case == "too_few":
        write_images(data, 3)
    count = [] if case == "too_few" else ["--count", "0"]
    assert run_cli(train_gan_main, ["--data", str(data), *count, "--steps", "1", "--root", str(tmp_path), *TINY]) == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if "error" in line]  # (tqdm also writes to stderr)
    assert len(errors) == 1 and errors[0].startswith("error: ") and expected in errors[0]
    assert not (tmp_path / "runs").exists()


def test_resume_of_a_missing_folder_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(BIGPriorError, match="folder not found"):
        resume(tmp_path / "runs" / "gan_9", torch.device("cpu"))


# ---------------------------------------------------------------------------------------------
# the committed default generator


def test_committed_default_generator_loads_like_a_published_checkpoint() -> None:
    assert DEFAULT_GENERATOR.stat().st_size < 5 * 2**20
    stored = torch.load(DEFAULT_GENERATOR, map_location="cpu", weights_only=True)
    assert {v.dtype for k, v in stored.items()} == {torch.float16}  # fp16 storage keeps the repository small
    generator = load_pggan(DEFAULT_GENERATOR)
    assert isinstance(generator, PGGANGenerator) and generator.resolution == 64
    assert all(p.dtype == torch.float32 for p in generator.parameters())
    with torch.no_grad():
        samples = generator(torch.randn(16, generator.z_dim, generator=torch.Generator().manual_seed(0)))
    assert samples.shape == (16, 3, 64, 64) and torch.isfinite(samples).all()
    assert (samples.abs() <= 1.5).float().mean() > 0.99
    assert samples.std() > 0.1  # not collapsed to a constant image
    assert (samples[0] - samples[1]).abs().mean() > 0.02  # different codes, different images


def test_statistics_reach_the_host_once_per_log_window(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from bigprior.gan import training as gan_training

    reads = []
    original = gan_training.host_values
    monkeypatch.setattr(gan_training, "host_values", lambda tensor: reads.append(tensor.shape) or original(tensor))
    data = tmp_path / "data"
    write_images(data, 6)
    options = tiny_options(data, steps=4)
    options.log_every = 2
    folder = train(options, tmp_path / "runs", torch.device("cpu"))
    assert reads == [(2, 5), (2, 5)]  # one read per window of 2 steps x 5 statistics
    stats = [json.loads(line) for line in (folder / "stats.jsonl").read_text().splitlines()]
    assert [row["step"] for row in stats] == [2, 4] and stats[0]["r1"] is not None and stats[1]["r1"] is None
