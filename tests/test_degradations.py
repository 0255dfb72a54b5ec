"""One contract, checked for every registered degradation: its names, flags, forward model and storage."""

from __future__ import annotations

import argparse

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from bigprior import resampling
from bigprior.degradations import (REGISTRY, Degradation, degradation_class, release_scripts, restore_class,
                                   restore_verbs, script_classes, script_degradation)
from bigprior.errors import BIGPriorError
from bigprior.inversion.cli import build_parser

SIZE = (96, 128)  # H, W: not square, and large enough for the release's default random rectangles
TASKS = list(REGISTRY)


def script_flags(cls: type[Degradation], extra: list[str] = ()) -> argparse.Namespace:
    """The flags of the task's inversion script with their defaults and the task's selector values."""
    argv = [f"--{flag}={value}" for flag, value in cls.script_selector.items()]
    return build_parser(cls.release, io=False).parse_args([*argv, *extra])


def degradation(task: str) -> Degradation:
    cls = REGISTRY[task]
    return script_degradation(cls.release.name, script_flags(cls))


def clean_image(seed: int = 0) -> torch.Tensor:
    return torch.rand(3, *SIZE, generator=torch.Generator().manual_seed(seed))


def test_names_are_unique_and_every_script_and_verb_is_served():
    classes = list(REGISTRY.values())
    assert len({cls.task for cls in classes}) == len(classes)
    assert len({cls.title for cls in classes}) == len(classes)
    assert all(REGISTRY[cls.task] is cls and degradation_class(cls.task) is cls for cls in classes)
    assert list(release_scripts()) == ["colorization", "inpainting", "denoising"]
    assert restore_verbs() == ["colorize", "inpaint", "denoise"]
    for script in release_scripts():  # the classes sharing a script are told apart by their selector flags
        selectors = [tuple(sorted(cls.script_selector.items())) for cls in script_classes(script)]
        assert len(set(selectors)) == len(selectors)
    assert {restore_class(verb).task for verb in restore_verbs()} == {"col", "inpcrop", "denblind"}
    assert restore_class("inpaint", varied_masks=True).task == "inpvar"
    with pytest.raises(BIGPriorError, match="--task 'deblur'"):
        restore_class("deblur")
    with pytest.raises(BIGPriorError, match="unknown task 'sr'"):
        degradation_class("sr")


@pytest.mark.parametrize("task", TASKS)
def test_script_flags_select_the_task_and_settings_round_trip(task):
    cls = REGISTRY[task]
    made = degradation(task)
    assert type(made) is cls
    again = cls.from_settings(made.settings())
    assert type(again) is cls and again.settings() == made.settings()


@pytest.mark.parametrize("task", TASKS)
def test_observe_shapes_ranges_and_records(task):
    d = degradation(task)
    clean = clean_image()
    o = d.observe(clean, index=3, seed=7)
    assert o.x.shape == (d.observation_channels, *SIZE) and o.x.dtype == torch.float32
    if d.records_sigma:
        assert isinstance(o.sigma, (int, float)) and o.sigma == d.sigma_for(3, 7)
        assert abs(float((o.x - clean).std()) * 255 - o.sigma) < 0.1 * o.sigma + 0.5
    else:
        assert o.sigma is None and d.sigma_for(3, 7) is None
        assert 0 <= float(o.x.min()) and float(o.x.max()) <= 1
    if d.has_mask:
        assert o.mask.shape == (1, *SIZE) and set(o.mask.unique().tolist()) <= {0.0, 1.0}
        assert 0 < float(o.mask.mean()) < 0.9
        assert torch.all(o.x[o.mask.expand_as(o.x) > 0] == 0)
    else:
        assert o.mask is None


@pytest.mark.parametrize("task", TASKS)
def test_observe_is_deterministic_given_seed_and_index(task):
    d = degradation(task)
    clean = clean_image()
    first, again = d.observe(clean, 5, 11), degradation(task).observe(clean, 5, 11)
    assert torch.equal(first.x, again.x) and first.sigma == again.sigma
    assert (first.mask is None) == (again.mask is None) and (first.mask is None or torch.equal(first.mask, again.mask))
    others = [d.observe(clean, index, seed) for index, seed in ((6, 11), (5, 12))]
    varies = d.records_sigma or d.varied_masks  # the tasks with per-image randomness
    assert varies == any(not torch.equal(first.x, o.x) for o in others)


@pytest.mark.parametrize("task", TASKS)
def test_loss_view_is_linear(task):
    d = degradation(task)
    mask = d.observe(clean_image(), 0, 0).mask
    masks = None if mask is None else mask[None].expand(2, -1, -1, -1)
    a, b = torch.randn(2, 3, *SIZE), torch.randn(2, 3, *SIZE)
    combined = d.loss_view(2.0 * a - 0.5 * b, masks)
    torch.testing.assert_close(combined, 2.0 * d.loss_view(a, masks) - 0.5 * d.loss_view(b, masks))
    assert combined.shape == a.shape


@pytest.mark.parametrize("task", TASKS)
def test_write_and_read_round_trip(task, tmp_path):
    d = degradation(task)
    o = d.observe(clean_image(), 1, 0)
    path = tmp_path / f"0{d.observation_suffix}"
    d.write_observation(path, o)
    back = d.read_observation(path)
    assert back.shape == o.x.shape
    if d.observation_suffix == ".npy":
        assert torch.equal(back, o.x)  # noisy observations are stored exactly, unclipped
    else:  # 8-bit PNGs, truncated as the release wrote them
        assert float((o.x - back).min()) >= 0 and float((o.x - back).max()) < 1 / 255 + 1e-6


@pytest.mark.parametrize("task", TASKS)
def test_observe_photo_makes_the_observation_of_a_degraded_photo(task):
    d = degradation(task)
    photo = clean_image(1)
    if d.varied_masks:  # random holes exist only when the photo is degraded here
        with pytest.raises(BIGPriorError, match="--mask"):
            d.observe_photo(photo, 0, 0, "p.png")
        photo_mask = torch.zeros(1, *SIZE)
        photo_mask[:, 10:30, 20:50] = 1
        d = d.with_mask(photo_mask)
    o = d.observe_photo(photo, 0, 0, "p.png")
    assert o.x.shape == (d.observation_channels, *SIZE)
    assert (o.mask is not None) == d.has_mask
    gray = photo[:1]
    if d.records_sigma:  # noise estimates need colour
        with pytest.raises(BIGPriorError, match="grayscale"):
            d.observe_photo(gray, 0, 0, "p.png")
    else:
        assert d.observe_photo(gray, 0, 0, "p.png").x.shape == o.x.shape


def test_with_mask_only_for_masked_tasks():
    mask = torch.zeros(1, *SIZE)
    for task in TASKS:
        d = degradation(task)
        if d.has_mask:
            assert torch.equal(d.with_mask(mask).observe(clean_image(), 0, 0).mask, mask)
        else:
            with pytest.raises(BIGPriorError, match="--mask"):
                d.with_mask(mask)


def test_release_flags_are_the_degradations():
    args = script_flags(REGISTRY["denblind"], ["--sigma_min", "10", "--sigma_max", "10"])
    assert script_degradation("denoising", args).sigma_for(0, 0) == 10
    args = script_flags(REGISTRY["inpvar"], ["--min_p", "3", "--max_p", "2"])
    with pytest.raises(BIGPriorError, match="--min_p/--max_p"):
        script_degradation("inpainting", args)
    args = script_flags(REGISTRY["inpcrop"], ["--mask", "no_such_mask.png"])
    with pytest.raises(BIGPriorError, match="-m/--mask no_such_mask.png: not a file"):
        script_degradation("inpainting", args)
    assert np.isclose(float(degradation("inpcrop").observe(clean_image(), 0, 0).mask.mean()), 1 / 16, atol=0.01)


@pytest.mark.parametrize("task", TASKS)
@pytest.mark.parametrize("size", [(32, 32), (120, 150)])  # shrinking (area) and enlarging (linear)
def test_at_size_carries_the_observation_to_another_grid(task, size):
    d = degradation(task)
    o = d.observe(clean_image(), 2, 0)
    assert d.at_size(o, *SIZE) is o  # the generator's size already: untouched
    w = d.at_size(o, *size)
    assert w.x.shape == (d.observation_channels, *size)
    torch.testing.assert_close(w.x if o.mask is None else w.x * (1 - w.mask),
                               resampling.resample(o.x, size) * (1 if o.mask is None else 1 - w.mask))
    if o.mask is not None:  # conservative: a known working pixel's weights touch no hole
        rows, columns = resampling.resampling_matrix(SIZE[0], size[0]), resampling.resampling_matrix(SIZE[1], size[1])
        touched = (rows > 0).double() @ o.mask[0].double() @ (columns > 0).double().T
        assert torch.equal(w.mask[0] > 0, touched > 0) and torch.all(w.x[w.mask.expand_as(w.x) > 0] == 0)
    if o.sigma is not None:
        assert w.sigma == pytest.approx(o.sigma * resampling.noise_gain(*SIZE, size))


def test_resampling_is_pytorchs_area_and_bilinear_and_its_noise_gain_is_exact():
    image = torch.rand(3, 90, 131, generator=torch.Generator().manual_seed(0))
    for size, mode in (((64, 64), "area"), ((37, 100), "area"), ((128, 200), "bilinear")):
        extra = {"align_corners": False} if mode == "bilinear" else {}
        expected = F.interpolate(image[None], size=size, mode=mode, **extra)[0]
        torch.testing.assert_close(resampling.resample(image, size), expected, atol=5e-5, rtol=0)
    assert resampling.noise_gain(512, 512, (64, 64)) == pytest.approx(1 / 8)
    noise = torch.randn(4, 300, 451, generator=torch.Generator().manual_seed(1))
    measured = float(resampling.resample(noise, (64, 64)).std())
    assert measured == pytest.approx(resampling.noise_gain(300, 451, (64, 64)), rel=0.03)
