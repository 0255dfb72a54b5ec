"""The fusion options beyond the paper (issue 15): bounded phi, the U-Net backbone, augmentation,
self-ensemble and the held-out epoch rule. Tiny images, few layers, CPU."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from torch import nn

from bigprior import metrics
from bigprior.fusion.model import INPUT_SHIFT, BIGPriorFusion, build_fusion_model
from bigprior.fusion.options import FusionOptions
from bigprior.fusion.training import train
from bigprior.pipeline import fuse_tiled, receptive_radius
from conftest import ROOT, run_script
from synthetic_workspace import make_experiment

TRAIN = str(ROOT / "code" / "train.py")


def _model(backbone: str = "D", activation: str = "none", channels: int = 3, seed: int = 0) -> BIGPriorFusion:
    """A small network with non-trivial BatchNorm statistics (the paper's init makes them near identity)."""
    torch.manual_seed(seed)
    model = build_fusion_model(channels, backbone, 4, False, activation)
    for module in model.modules():
        if isinstance(module, nn.BatchNorm2d):
            module.weight.data.normal_()
            module.running_mean.normal_(0, 0.1)
    return model.eval()


def _inputs(channels: int, height: int, width: int, seed: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    return torch.rand(1, channels, height, width, generator=generator), torch.rand(1, 3, height, width, generator=generator)


# -- phi_activation ---------------------------------------------------------------------------


@pytest.mark.parametrize("backbone", ["D", "U"])
@pytest.mark.parametrize("activation", ["sigmoid", "clamp"])
def test_bounded_phi_stays_in_unit_range_on_random_weights_and_extreme_inputs(backbone, activation):
    model = _model(backbone, activation)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, nn.Conv2d):
                module.weight.mul_(20)  # a network far from its initialisation
        for low, high in [(0.0, 1.0), (-50.0, 50.0), (1e3, 1e4)]:
            x, prior = _inputs(3, 19, 23)
            _, phi = model(low + (high - low) * x, prior)
            assert 0 <= float(phi.min()) and float(phi.max()) <= 1
            assert metrics.phi_outside_share(phi) == 0.0
            assert float(phi.std()) > 0


def test_unbounded_phi_can_leave_the_unit_range():
    model = _model("D", "none")
    x, prior = _inputs(3, 19, 23)
    with torch.no_grad():
        _, phi = model(40 * x - 20, prior)
    assert metrics.phi_outside_share(phi) > 0  # so the bounded tests above can fail


@pytest.mark.parametrize("extend_input", [False, True])
def test_none_reproduces_the_paper_formula_bit_for_bit(extend_input):
    torch.manual_seed(3)
    model = build_fusion_model(1, "D", 5, extend_input).eval()
    x, prior = _inputs(1, 21, 17)
    with torch.no_grad():
        out, phi = model(x, prior)
        xs, gs = x - INPUT_SHIFT, prior - INPUT_SHIFT
        expected_phi = xs - model.backbone(torch.cat((xs, gs), 1) if extend_input else xs)
        expected_out = (1 - expected_phi) * xs + expected_phi * gs + INPUT_SHIFT
    assert torch.equal(phi, expected_phi) and torch.equal(out, expected_out)


def test_sigmoid_and_clamp_share_the_paper_weights_and_formula():
    x, prior = _inputs(3, 16, 16)
    with torch.no_grad():
        _, raw = _model("D", "none")(x, prior)
        _, sig = _model("D", "sigmoid")(x, prior)
        _, clamped = _model("D", "clamp")(x, prior)
    torch.testing.assert_close(sig, torch.sigmoid(4 * (raw - 0.5)))
    assert torch.equal(clamped, raw.clamp(0, 1))


# -- the U-Net backbone and tiling ------------------------------------------------------------


@pytest.mark.parametrize("size", [(1, 1), (5, 3), (16, 16), (17, 31), (33, 8)])
def test_unet_takes_any_size(size):
    model = _model("U")
    assert model.size_multiple == 4
    x, prior = _inputs(3, *size)
    with torch.no_grad():
        out, phi = model(x, prior)
    assert out.shape == phi.shape == (1, 3, *size)
    assert torch.isfinite(out).all()


@pytest.mark.parametrize("backbone", ["D", "U"])
def test_stated_receptive_radius_is_a_tight_upper_bound(backbone):
    model = _model(backbone)
    radius, centre = receptive_radius(model), 48
    assert radius == (4 if backbone == "D" else 23)
    x, prior = _inputs(3, 2 * centre, 2 * centre)

    def change_at_centre(distance: int) -> float:
        """Largest change of phi at the centre when one pixel `distance` away (any side) changes."""
        changes = []
        for dy, dx in ((distance, 0), (-distance, 0), (0, distance), (0, -distance)):
            moved = x.clone()
            moved[..., centre + dy, centre + dx] += 5
            with torch.no_grad():
                changes.append(float((model(moved, prior)[1] - model(x, prior)[1])[..., centre, centre].abs().max()))
        return max(changes)

    assert change_at_centre(radius + 1) == 0 and change_at_centre(radius + 3) == 0
    assert change_at_centre(radius - 1) > 0  # within a pixel of the truth


@pytest.mark.parametrize("backbone", ["D", "U"])
@pytest.mark.parametrize("self_ensemble", [False, True])
def test_tiled_fusion_equals_one_pass(backbone, self_ensemble):
    model = _model(backbone, "sigmoid")
    model.self_ensemble = self_ensemble
    x, prior = _inputs(3, 75, 53)
    whole_out, whole_phi = fuse_tiled(model, x[0], prior[0], tile=1000)
    for tile in (13, 32):
        out, phi = fuse_tiled(model, x[0], prior[0], tile=tile)
        assert float((out - whole_out).abs().max()) < 1e-5 and float((phi - whole_phi).abs().max()) < 1e-5


def test_unaligned_unet_tiles_would_differ():
    """Without aligning tile starts to the size multiple, the U-Net pools other pixels together."""
    model = _model("U")
    x, prior = _inputs(3, 40, 40)
    with torch.no_grad():
        _, whole = model(x, prior)
        _, shifted = model(x[..., 1:, 1:], prior[..., 1:, 1:])
    assert float((shifted[..., 10:20, 10:20] - whole[..., 11:21, 11:21]).abs().max()) > 1e-4


# -- options files ----------------------------------------------------------------------------


def test_old_options_file_loads_with_the_paper_defaults(tmp_path):
    old = {"experiment": "col_bedroom", "extend_input": False, "backbone": "D", "dncnn_layers": 17, "batch_size": 8,
           "epochs": 25, "lr": 0.01, "phi_weight": 1e-5, "train_count": 250, "seed": 0, "test_epoch_rule": "lr_min"}
    (tmp_path / "OURargs.txt").write_text(json.dumps(old))
    options = FusionOptions.load(tmp_path)
    assert (options.phi_activation, options.augment, options.self_ensemble, options.holdout) == ("none", False, False, 0)


def _small_train_args(*extra: str) -> list[str]:
    return [TRAIN, "--experiment", "col_bedroom", "--lr", "0.01", "--batch_size", "2", "--epochs", "2", "--train_count", "6",
            "--dncnn_layers", "3", "--device", "cpu", "--workers", "1", "--test_batch_size", "2", *extra]


def test_metrics_record_phi_outside_share_and_calibration(tmp_path):
    make_experiment(tmp_path, "col_bedroom", count=8, size=24)
    result = run_script(_small_train_args("--phi_activation", "none"), cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    document = json.loads((tmp_path / "net_data" / "col_bedroom_0" / "metrics.json").read_text())
    shares = [image["bigprior"][metrics.PHI_OUTSIDE_KEY] for image in document["images"]]
    assert len(shares) == 2 and document["mean"]["bigprior"][metrics.PHI_OUTSIDE_KEY] == pytest.approx(sum(shares) / 2)
    assert -1 <= document["calibration"]["pearson_phi_advantage"] <= 1
    assert document["calibration"]["pixels"] == 2 * 12 * 12
    assert "outside [0, 1]" in result.stdout and "mean phi" in result.stdout
