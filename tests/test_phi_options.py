"""The fusion options beyond the paper (issue 15): bounded phi, the U-Net backbone, augmentation,
self-ensemble and the held-out epoch rule. Tiny images, few layers, CPU."""

from __future__ import annotations

import json
import pytest
import torch
from torch import nn

from bigprior import metrics
from bigprior.errors import BIGPriorError
from bigprior.experiment import Experiment
from bigprior.fusion.data import load_fusion_data
from bigprior.fusion.geometry import DIHEDRAL, dihedral, random_dihedral, undo_dihedral
from bigprior.fusion import FusionSpec
from bigprior.fusion.loading import load_fusion_run
from bigprior.fusion.networks import INPUT_SHIFT, BIGPriorFusion, build_fusion_model
from bigprior.fusion.options import FusionOptions
from bigprior.fusion.training import score_holdout, train
from bigprior.pipeline import fuse_tiled, receptive_radius
from bigprior.run import read_holdout_scores, select_test_epoch
from conftest import ROOT, run_script
from synthetic_workspace import make_experiment

TRAIN = str(ROOT / "code" / "train.py")


def _model(backbone: str = "D", activation: str = "none", channels: int = 3, seed: int = 0) -> BIGPriorFusion:
    """A small network with non-trivial BatchNorm statistics (the paper's init makes them near identity)."""
    torch.manual_seed(seed)
    model = build_fusion_model(FusionSpec(observation_channels=channels, backbone=backbone, layers=4, phi_activation=activation))
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
    model = build_fusion_model(FusionSpec(observation_channels=1, layers=5, extend_input=extend_input)).eval()
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
    whole_out, whole_phi = fuse_tiled(model, x[0], prior[:1], tile=1000)
    for tile in (13, 32):
        out, phi = fuse_tiled(model, x[0], prior[:1], tile=tile)
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


# -- augmentation and self-ensemble -----------------------------------------------------------


def test_dihedral_transforms_are_eight_distinct_invertible_maps():
    image = torch.arange(2 * 3 * 5, dtype=torch.float32).reshape(1, 2, 3, 5)
    seen = set()
    for k in range(DIHEDRAL):
        turned = dihedral(image, k)
        assert torch.equal(undo_dihedral(turned, k), image)
        seen.add(tuple(turned.flatten().tolist()) + tuple(turned.shape))
    assert len(seen) == DIHEDRAL


def test_augmentation_is_seeded_and_moves_the_triplet_together():
    base = torch.rand(2, 3, 6, 6, generator=torch.Generator().manual_seed(0))
    triplet = (base[:, :1], base, base + 1)

    def draws(seed: int) -> list[tuple[torch.Tensor, ...]]:
        generator = torch.Generator().manual_seed(seed)
        return [random_dihedral(triplet, generator) for _ in range(16)]

    first, again, other = draws(5), draws(5), draws(6)
    assert all(torch.equal(a, b) for run_a, run_b in zip(first, again) for a, b in zip(run_a, run_b))
    assert any(not torch.equal(a[1], b[1]) for a, b in zip(first, other))
    kinds = set()
    for x, gt, prior in first:
        assert torch.equal(x, gt[:, :1]) and torch.equal(prior, gt + 1)  # one transform for all three
        kinds.add(next(k for k in range(DIHEDRAL) if torch.equal(dihedral(base, k), gt)))
    assert len(kinds) > 4


def test_augmented_training_is_deterministic_and_differs_from_plain(tmp_path):
    make_experiment(tmp_path, "col_bedroom", count=7, size=16)
    options = dict(experiment="col_bedroom", dncnn_layers=3, epochs=1, batch_size=2, lr=1e-3, train_count=6)
    folders = [train(FusionOptions(**options, augment=augment), tmp_path, torch.device("cpu"), workers=1)
               for augment in (True, True, False)]
    a, b, plain = (torch.load(f / "net_0.pth", weights_only=True) for f in folders)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert any(not torch.equal(a[k], plain[k]) for k in a)


class _PixelwiseBackbone(nn.Module):
    """A 1x1 convolution: commutes with every flip and quarter turn."""

    receptive_radius, size_multiple = 0, 1

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 3, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


@pytest.mark.parametrize("equivariant", [True, False])
def test_self_ensemble_changes_only_a_network_that_is_not_equivariant(equivariant):
    model = _model("U", "sigmoid")
    if equivariant:
        model.backbone = _PixelwiseBackbone()
    x, prior = _inputs(3, 13, 18)
    with torch.no_grad():
        plain_out, plain_phi = model(x, prior)
        model.self_ensemble = True
        out, phi = model(x, prior)
    difference = max(float((out - plain_out).abs().max()), float((phi - plain_phi).abs().max()))
    assert (difference < 1e-6) if equivariant else (difference > 1e-4)
    assert out.shape == plain_out.shape


# -- the held-out epoch rule ------------------------------------------------------------------


def test_holdout_rule_picks_the_best_scored_epoch():
    assert select_test_epoch("holdout", 5, 16, {0: 20.0, 1: 23.5, 2: 23.5, 3: 22.0, 4: float("-inf")}) == 1
    with pytest.raises(BIGPriorError, match="no held-out scores"):
        select_test_epoch("holdout", 5, 16, {})
    with pytest.raises(BIGPriorError, match="--holdout"):
        FusionOptions(experiment="col_bedroom", test_epoch_rule="holdout").check()
    with pytest.raises(BIGPriorError, match="--holdout"):
        FusionOptions(experiment="col_bedroom", holdout=2).check()


def test_holdout_scores_held_out_images_only(tmp_path):
    make_experiment(tmp_path, "col_bedroom", count=8, size=16)
    options = FusionOptions(experiment="col_bedroom", dncnn_layers=3, epochs=3, batch_size=2, lr=1e-2, train_count=6,
                            test_epoch_rule="holdout", holdout=2)
    folder = train(options, tmp_path, torch.device("cpu"), workers=1)
    experiment = Experiment("col_bedroom", tmp_path)
    for i in (6, 7):  # the test images: scoring must not read them (these would not load)
        for path in (experiment.gt_path(i), experiment.input_path(i), experiment.prior_path(i)):
            path.write_bytes(b"not an image")
    scores = score_holdout(folder, torch.device("cpu"), workers=1)
    assert sorted(scores) == [0, 1, 2] and read_holdout_scores(folder) == scores
    assert json.loads((folder / "holdout.json").read_text())["images"] == [4, 5]
    # the scores are the mean PSNR of the held-out images at each epoch
    data = load_fusion_data(experiment, [4, 5], FusionOptions(experiment="col_bedroom").spec(), workers=1)
    with torch.no_grad():
        out, _ = load_fusion_run(folder, 1).model(data.x, data.sources[:, 0])
    mse = ((out - data.gt) ** 2).flatten(1).mean(1).double().numpy()
    assert scores[1] == pytest.approx(float(metrics.psnr_from_mse(mse).mean()), abs=1e-6)


def test_end_to_end_with_every_option(tmp_path):
    make_experiment(tmp_path, "col_bedroom", count=8, size=24)
    options = ["--phi_activation", "sigmoid", "--backbone", "U", "--augment", "True", "--self_ensemble", "True",
               "--test_epoch_rule", "holdout", "--holdout", "2", "--epochs", "3"]
    result = run_script(_small_train_args(*options), cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    run = tmp_path / "net_data" / "col_bedroom_0"
    document = json.loads((run / "metrics.json").read_text())
    assert document["mean"]["bigprior"][metrics.PHI_OUTSIDE_KEY] == 0
    assert all(image["bigprior"][metrics.PHI_OUTSIDE_KEY] == 0 for image in document["images"])
    assert document["self_ensemble"] is True and document["epoch_rule"] == "holdout"
    assert document["test_images"] == [6, 7] and document["holdout"]["images"] == [4, 5]
    scores = {int(e): v for e, v in document["holdout"]["psnr"].items()}
    assert sorted(scores) == [0, 1, 2] and document["epoch"] == max(sorted(scores), key=scores.get)
    args = json.loads((run / "OURargs.txt").read_text())
    assert (args["phi_activation"], args["backbone"], args["augment"], args["holdout"]) == ("sigmoid", "U", True, 2)
    # the test command takes the run's options, and --self_ensemble overrides the recorded one
    again = run_script([TRAIN, "--experiment", "col_bedroom", "--test", "True", "--test_model", "0", "--test_epoch", "1",
                        "--self_ensemble", "False", "--device", "cpu", "--workers", "1"], cwd=tmp_path)
    assert again.returncode == 0, again.stderr[-3000:]
    assert json.loads((run / "metrics.json").read_text())["self_ensemble"] is False
