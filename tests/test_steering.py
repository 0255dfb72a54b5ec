"""Steering the prior's share (issue 22): `Restoration.reblend`, `bigprior restore --prior_strength
--max_phi --protect --prior_region`, and `bigprior reblend`, which writes from a saved restoration the
very files restore writes with those settings."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from skimage import data as skimage_data

from bigprior import imageio
from bigprior.commandline import run_cli
from bigprior.degradations import Observation
from bigprior.errors import BIGPriorError
from bigprior.reblend import main as reblend_main
from bigprior.restoration import GAN_PRIOR, Restoration, Source, SourceKind, Steering, blend, steering_of
from bigprior.restore import main as restore_main

RNG = np.random.default_rng(0)
H, W = 12, 10


def _two_source(mask: torch.Tensor | None = None, phi_range: tuple[float, float] = (-0.2, 1.2)) -> Restoration:
    x = torch.rand(3, H, W, generator=torch.Generator().manual_seed(1))
    if mask is not None:
        x = x * (1 - mask)
    prior = RNG.integers(0, 256, (H, W, 3)).astype(np.uint8)
    phi = RNG.uniform(*phi_range, (1, H, W, 3)).astype(np.float32)
    observation = Observation(x=x, mask=mask)
    out = np.clip(blend(observation, [prior], phi), 0, 1)
    return Restoration(observation, (GAN_PRIOR,), [prior], phi, out, 64)


def _expected_two_source(r: Restoration, phi: np.ndarray) -> np.ndarray:
    x = imageio.chw_to_hwc(r.observation.x)
    return np.clip((1 - phi) * x + phi * imageio.float_from_uint8(r.prior), 0, 1)


def test_the_default_steering_is_the_restoration_itself():
    r = _two_source()
    assert r.reblend(Steering()) is r and r.reblend(Steering(1.0, 1.0)) is r


@pytest.mark.parametrize("strength, cap", [(0.0, 1.0), (0.5, 1.0), (1.5, 1.0), (1.0, 0.3), (1.4, 0.6)])
def test_strength_and_cap_follow_the_formula(strength, cap):
    r = _two_source()
    steered = r.reblend(Steering(strength, cap))
    phi = np.clip(np.minimum(strength * r.phi, cap), 0, 1)
    assert np.allclose(steered.phi, phi, atol=1e-6)
    assert np.allclose(steered.restored, _expected_two_source(r, phi), atol=1e-6)
    assert steered.phi.min() >= 0 and steered.phi.max() <= cap + 1e-7


def test_protect_and_prior_regions():
    r = _two_source()
    protect, prior = np.zeros((H, W), bool), np.zeros((H, W), bool)
    protect[:4], prior[-3:] = True, True
    steered = r.reblend(Steering(0.8, 0.9, protect, prior))
    assert (steered.phi[protect] == 0).all() and (steered.phi[prior] == 1).all()
    x = imageio.chw_to_hwc(r.observation.x)
    assert np.allclose(steered.restored[protect], np.clip(x[protect], 0, 1))
    assert np.allclose(steered.restored[prior], imageio.float_from_uint8(r.prior)[prior])
    rest = ~(protect | prior)
    assert np.allclose(steered.phi[rest], np.clip(np.minimum(0.8 * r.phi[rest], 0.9), 0, 1), atol=1e-6)


def test_in_a_hole_without_other_sources_the_prior_stays_the_only_source():
    mask = torch.zeros(1, H, W)
    mask[:, 3:8, 2:6] = 1
    r = _two_source(mask, (0.0, 1.0))
    r.keep_known = True
    steered = r.reblend(Steering(0.0))
    hole = mask[0].bool().numpy()
    assert np.array_equal(steered.phi[hole], r.phi[hole])  # untouched where x has no data
    assert (steered.phi[~hole] == 0).all()
    assert np.allclose(steered.restored[~hole], imageio.chw_to_hwc(r.observation.x)[~hole])  # keep_known after the blend
    assert any("kept the prior as their only source" in note for note in steered.notes)


def test_with_a_classical_source_a_hole_takes_it_instead_of_the_prior():
    mask = torch.zeros(1, H, W)
    mask[:, 2:9, 3:7] = 1
    hole = mask[0].bool().numpy()
    classical = Source("Telea", SourceKind.CLASSICAL, "Telea")
    weights = RNG.dirichlet(np.ones(3), (H, W)).astype(np.float32)  # x, prior, Telea
    weights[hole] = np.concatenate([[0], RNG.dirichlet(np.ones(2))]).astype(np.float32)  # no data in the hole
    shares = weights[..., 1:].transpose(2, 0, 1)[..., None]
    images = [RNG.integers(0, 256, (H, W, 3)).astype(np.uint8) for _ in range(2)]
    observation = Observation(x=torch.rand(3, H, W) * (1 - mask), mask=mask)
    r = Restoration(observation, (GAN_PRIOR, classical), images, shares, np.clip(blend(observation, images, shares), 0, 1), 64)
    steered = r.reblend(Steering(0.25))
    kinds = steered.kind_shares()
    assert np.allclose(kinds[SourceKind.GENERATIVE], 0.25 * r.kind_shares()[SourceKind.GENERATIVE], atol=1e-6)
    assert np.allclose(kinds[SourceKind.DATA][hole], 0, atol=1e-6)  # still no share for the observation there
    total = sum(kinds.values())
    assert np.allclose(total, 1, atol=1e-6) and min(k.min() for k in kinds.values()) >= -1e-6
    outside = ~hole  # outside the hole the observation and Telea keep their proportions
    ratio = kinds[SourceKind.DATA][outside] / kinds[SourceKind.CLASSICAL][outside]
    old = r.kind_shares()
    assert np.allclose(ratio, old[SourceKind.DATA][outside] / old[SourceKind.CLASSICAL][outside], rtol=1e-4)


@pytest.mark.parametrize("kwargs, message", [
    ({"prior_strength": -1.0}, "--prior_strength must be a number >= 0"),
    ({"max_phi": 1.5}, r"--max_phi must be in \[0, 1\]"),
    ({"protect": np.zeros((3, 3), bool)}, "--protect: the mask is 3x3 but the photo is 10x12"),
])
def test_bad_steering_is_one_line(kwargs, message):
    settings = {"prior_strength": 1.0, "max_phi": 1.0, "protect": None, "prior_region": None, **kwargs}
    with pytest.raises(BIGPriorError, match=message):
        steering_of(settings["prior_strength"], settings["max_phi"], settings["protect"], settings["prior_region"], (W, H))


def _restore(out: Path, photo: Path, *extra: str) -> int:
    return run_cli(restore_main, ["--task", "inpaint", "--input", str(photo), "--out", str(out), "--device", "cpu",
                                  "--iterations", "5", "--degrade", "True", *extra])


def test_reblend_writes_the_files_restore_writes_with_those_settings(tmp_path):
    photo = tmp_path / "cat.png"
    Image.fromarray(skimage_data.chelsea()[::3, ::3]).save(photo)
    protect = tmp_path / "protect.png"
    region = np.zeros((photo_size := Image.open(photo).size)[::-1], np.uint8)
    region[10:40, 20:90] = 255
    Image.fromarray(region).save(protect)
    steering = ["--prior_strength", "0.6", "--max_phi", "0.8", "--protect", str(protect)]
    assert _restore(tmp_path / "plain", photo) == 0
    assert _restore(tmp_path / "steered", photo, *steering) == 0
    assert run_cli(reblend_main, [str(tmp_path / "plain" / "cat"), "--out", str(tmp_path / "again"), *steering]) == 0
    written = sorted(p.name for p in (tmp_path / "steered").glob("cat_*"))  # (restore also writes the run's files)
    assert written == sorted(p.name for p in (tmp_path / "again").iterdir()) and "cat_phi.npy" in written
    for name in written:
        assert (tmp_path / "steered" / name).read_bytes() == (tmp_path / "again" / name).read_bytes(), name
    steered = np.load(tmp_path / "steered" / "cat_phi.npy")
    plain = np.load(tmp_path / "plain" / "cat_phi.npy")
    assert steered.shape == plain.shape and steered.shape[:2] == (photo_size[1], photo_size[0])  # 3 channels, or
    assert steered.shape[2] in (1, 3)  # 1: a multi-source network's shares are per pixel
    assert not np.array_equal(steered, plain)
    # the default reblend is the restoration as written
    assert run_cli(reblend_main, [str(tmp_path / "plain" / "cat"), "--out", str(tmp_path / "same")]) == 0
    for name in ("cat_restored.png", "cat_metrics.json", "cat_phi.npy"):
        assert (tmp_path / "plain" / name).read_bytes() == (tmp_path / "same" / name).read_bytes(), name


def test_reblend_refuses_its_own_folder_and_a_missing_state(tmp_path, capsys):
    assert run_cli(reblend_main, [str(tmp_path / "nothing"), "--out", str(tmp_path / "out")]) == 2
    assert "nothing_restoration.npz: not found" in capsys.readouterr().err
    assert run_cli(reblend_main, [str(tmp_path / "nothing"), "--out", str(tmp_path)]) == 2
    assert "the folder the restoration is read from" in capsys.readouterr().err
