"""The multi-source fusion (issue 19): out = sum_k w_k s_k over the observation, the generative prior and
classical restorations, with per-pixel weights that are a share (>= 0, summing to 1), zero for the
observation where it has no data; trained and tested through the fusion stage's own code."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from synthetic_workspace import make_experiment

from bigprior import imageio, metrics
from bigprior.errors import BIGPriorError
from bigprior.experiment import SHARES_SUFFIX, Experiment
from bigprior.fusion import FusionSpec, build_fusion_model
from bigprior.fusion.networks import MultiSourceFusion
from bigprior.fusion.options import FusionOptions
from bigprior.fusion import training


def _network(channels: int = 3, count: int = 3, mask: bool = False, backbone: str = "U") -> MultiSourceFusion:
    torch.manual_seed(0)
    names = ("x", "gan", "A", "B")[:count]
    model = build_fusion_model(FusionSpec(observation_channels=channels, backbone=backbone, layers=4, sources=names,
                                          mask_channel=mask))
    assert isinstance(model, MultiSourceFusion)
    return model.eval()


def test_the_weights_are_shares_and_the_output_is_their_blend():
    model = _network(channels=1, count=4)
    x, sources = torch.rand(2, 1, 20, 28), torch.rand(2, 3, 3, 20, 28)
    with torch.no_grad():
        out, shares = model.fuse(x, sources)
    assert shares.shape == (2, 3, 1, 20, 28)
    observation_share = 1 - shares.sum(dim=1)
    assert shares.min() >= 0 and observation_share.min() >= -1e-6
    expected = observation_share * x.expand(2, 3, 20, 28) + (shares * sources).sum(dim=1)
    assert torch.allclose(out, expected, atol=1e-6)


def test_the_observation_has_no_share_where_it_has_no_data():
    model = _network(mask=True)
    mask = torch.zeros(1, 1, 24, 24)
    mask[..., 6:18, 4:12] = 1
    x = torch.rand(1, 3, 24, 24) * (1 - mask)
    with torch.no_grad():
        _, shares = model.fuse(x, torch.rand(1, 2, 3, 24, 24), mask)
    observation_share = 1 - shares.sum(dim=1)
    assert observation_share[mask.bool()].abs().max() < 1e-6  # zero by construction
    assert observation_share[~mask.bool()].min() > 0  # a softmax gives it some weight elsewhere
    with pytest.raises(ValueError, match="mask"):
        model.fuse(x, torch.rand(1, 2, 3, 24, 24))


def test_training_starts_from_the_best_source_on_the_training_images():
    torch.manual_seed(0)
    gt = torch.rand(3, 3, 16, 16)
    good, poor = gt + 0.02 * torch.randn_like(gt), gt + 0.2 * torch.randn_like(gt)
    noisy = training.FusionData([0, 1, 2], gt + 0.1 * torch.randn_like(gt), gt, torch.stack([poor, good], 1))
    assert training.best_training_source(noisy) == 2
    exact = training.FusionData([0, 1, 2], gt.clone(), gt, torch.stack([poor, good], 1))
    assert training.best_training_source(exact) == 0  # the observation is a source like the others
    mask = torch.zeros(3, 1, 16, 16)
    mask[..., 4:12, 4:12] = 1  # with holes: the error inside them, where the observation has no data
    holes = training.FusionData([0, 1, 2], gt * (1 - mask), gt, torch.stack([good, poor], 1), mask)
    assert training.best_training_source(holes) == 1

    model = _network(count=3)
    with torch.no_grad():
        model.backbone.head.weight.zero_()  # the backbone's part of the logits out of the way
        model.start_with(2)
        _, shares = model.fuse(torch.rand(1, 3, 8, 8), torch.rand(1, 2, 3, 8, 8))
    assert torch.allclose(shares[:, 1], torch.full_like(shares[:, 1], 0.9), atol=1e-6)
    assert torch.allclose(shares[:, 0], torch.full_like(shares[:, 0], 0.05), atol=1e-6)


def test_self_ensemble_keeps_the_weights_shares():
    model = _network(backbone="D")
    model.self_ensemble = True
    with torch.no_grad():
        _, shares = model.fuse(torch.rand(1, 3, 15, 17), torch.rand(1, 2, 3, 15, 17))
    assert shares.min() >= 0 and (shares.sum(dim=1) <= 1 + 1e-6).all()


@pytest.mark.parametrize("sources, extra, message", [
    ("gan,x", {}, "comes first"),
    ("x", {}, "at least one other source"),
    ("x,gan,gan", {}, "each named once"),
    ("x,gan", {"extend_input": True}, "drop --extend_input"),
    ("x,gan", {"phi_activation": "sigmoid"}, "drop --extend_input and --phi_activation"),
])
def test_bad_sources_are_one_line(sources, extra, message):
    with pytest.raises(BIGPriorError, match=message):
        FusionOptions(experiment="denblind_bedroom", sources=sources, **extra).check()


def _with_peers(root, name: str, count: int = 10, size: int = 16) -> Experiment:
    """A synthetic experiment with two classical sources: `Left` is the ground truth on the left half of
    each image and noise on the right, `Right` the other way round, so neither alone is good; the prior
    is the ground truth with strong noise."""
    experiment = make_experiment(root, name, count=count, size=size)
    rng = np.random.default_rng(1)
    for i in range(count):
        gt = imageio.read_rgb(experiment.gt_path(i))
        noise = rng.integers(0, 256, gt.shape).astype(np.uint8)
        left, right = gt.copy(), gt.copy()
        left[:, size // 2:], right[:, : size // 2] = noise[:, size // 2:], noise[:, : size // 2]
        imageio.write_png(experiment.method_dir("Left") / f"{i}.png", left)
        imageio.write_png(experiment.method_dir("Right") / f"{i}.png", right)
        prior = np.clip(gt.astype(np.int16) + rng.integers(-60, 61, gt.shape), 0, 255).astype(np.uint8)
        imageio.write_png(experiment.prior_path(i), prior)
    return experiment


def test_a_trained_multi_source_fusion_beats_every_source_and_says_where_pixels_come_from(tmp_path):
    experiment = _with_peers(tmp_path, "denblind_synth")
    options = FusionOptions(experiment="denblind_synth", backbone="D", dncnn_layers=4, epochs=15, batch_size=4, lr=1e-2,
                            train_count=8, sources="x,gan,Left,Right", test_epoch_rule="last")
    folder = training.train(options, tmp_path, torch.device("cpu"), workers=1)
    result = training.test_after_training(folder, torch.device("cpu"), workers=1)
    mean = result.metrics["mean"]
    assert set(mean) == {"prior", "Left", "Right", "bigprior"} and result.metrics["sources"] == ["x", "gan", "Left", "Right"]
    assert mean["bigprior"]["psnr"] > max(mean[s]["psnr"] for s in ("prior", "Left", "Right")) + 3
    shares = {kind: mean["bigprior"][f"{kind}_share"] for kind in ("data", "classical", "generative")}
    assert sum(shares.values()) == pytest.approx(1, abs=1e-5) and shares["classical"] > 0.5
    assert result.metrics["calibration"]["pixels"] > 0
    assert mean["bigprior"]["phi_outside_share"] == 0  # 1 - the observation's share: a share, up to float rounding
    # the classical share sits where each classical source is right: Left on the left, Right on the right
    picture = imageio.read_rgb(experiment.output_dir() / f"8{SHARES_SUFFIX}")
    assert picture.shape == (16, 16, 3) and picture[..., 1].mean() > 128  # mostly green: classical
    written = json.loads((folder / "metrics.json").read_text())
    assert written["mean"]["Left"]["psnr"] == mean["Left"]["psnr"]
    assert (folder / "MSE.npy").is_file() and (folder / "MSE_GAN.npy").is_file()


def test_a_missing_classical_source_is_named_before_training(tmp_path):
    make_experiment(tmp_path, "inpcrop_synth", count=6, size=16)
    options = FusionOptions(experiment="inpcrop_synth", dncnn_layers=3, epochs=1, batch_size=2, train_count=4,
                            sources="x,gan,Telea")
    with pytest.raises(BIGPriorError, match=r"Teleaoutput/0.png: not found \(run `bigprior peers --experiment inpcrop_synth"):
        training.train(options, tmp_path, torch.device("cpu"), workers=1)
    assert not (tmp_path / "net_data").exists() or not any((tmp_path / "net_data").iterdir())


def test_source_advantage_is_the_prior_advantage_for_one_other_source():
    rng = np.random.default_rng(0)
    x, g, gt = rng.random((12, 9, 3)), rng.random((12, 9, 3)), rng.random((12, 9, 3))
    assert np.array_equal(metrics.source_advantage([x], g, gt), metrics.prior_advantage(x, g, gt))
    better = metrics.source_advantage([x, gt], g, gt, smoothing=0)  # a perfect other source: the prior never helps
    assert (better <= 0).all()


def test_restore_with_a_multi_source_run_computes_its_classical_sources_on_the_photo(tmp_path):
    """`bigprior restore --fusion_run` of a multi-source run: the classical sources are made on the
    photo by the run's own methods (their settings.json), blended with the network's shares."""
    from PIL import Image
    from skimage import data as skimage_data

    from bigprior.baselines.classical.cli import main as peers_main
    from bigprior.commandline import run_cli
    from bigprior.restore import main as restore_main

    make_experiment(tmp_path, "denblind_synth", count=6, size=16)
    assert run_cli(peers_main, ["--experiment", "denblind_synth", "--methods", "TV", "--root", str(tmp_path),
                                "--train_count", "4"]) == 0
    options = FusionOptions(experiment="denblind_synth", backbone="U", epochs=2, batch_size=2, train_count=4,
                            sources="x,gan,TV", test_epoch_rule="last")
    folder = training.train(options, tmp_path, torch.device("cpu"), workers=1)
    photo = tmp_path / "cat.png"
    Image.fromarray(skimage_data.chelsea()[::6, ::6]).save(photo)
    out = tmp_path / "out"
    assert run_cli(restore_main, ["--task", "denoise", "--input", str(photo), "--out", str(out), "--degrade", "True",
                                  "--fusion_run", str(folder), "--iterations", "2", "--device", "cpu", "--tile", "24"]) == 0
    scores = json.loads((out / "cat_metrics.json").read_text())
    assert {"TV_psnr", "prior_psnr", "bigprior_psnr", "classical_share", "generative_share"} <= set(scores)
    assert scores["data_share"] + scores["classical_share"] + scores["generative_share"] == pytest.approx(1, abs=1e-5)
    tv = imageio.read_rgb(out / "cat_TV.png")
    shares = np.load(out / "cat_restoration.npz")["shares"]
    assert tv.shape == imageio.read_rgb(out / "cat_restored.png").shape and shares.shape == (2, *tv.shape[:2], 1)


def test_a_hole_filler_fills_a_larger_photo_at_the_training_images_scale():
    """The built-in inpainting network's Telea source (radius 33, in the 256 px training images' pixels): at
    256 px the method's own output; on a photo twice as large, filled at 256 px and enlarged, the observed
    pixels the photo's own, and the hole close to Telea's at full size with the radius doubled (its cost
    grows with the radius squared: minutes at 12 MP)."""
    from skimage import data as skimage_data
    from skimage.transform import resize

    from bigprior.baselines.classical.inpainting import Telea
    from bigprior.degradations import Observation
    from bigprior.pipeline import Pipeline

    pipeline = Pipeline.from_defaults("inpcrop", device=torch.device("cpu"))
    assert pipeline.reference_side == 256 and Telea.at_training_scale and pipeline.classical["Telea"] == Telea(radius=33)

    def observed(side: int, hole: slice) -> tuple[Observation, np.ndarray]:
        clean = resize(skimage_data.chelsea(), (side, side), anti_aliasing=True).astype(np.float32)
        mask = torch.zeros(1, side, side)
        mask[:, hole, hole] = 1
        return Observation(x=imageio.hwc_to_chw(clean) * (1 - mask), mask=mask), mask[0].numpy() > 0

    small, _ = observed(256, slice(112, 144))
    assert np.array_equal(pipeline.classical_image("Telea", small), imageio.uint8_from_float(Telea(radius=33).restore(small)))
    large, hole = observed(512, slice(224, 288))
    source = pipeline.classical_image("Telea", large).astype(int)
    assert np.array_equal(source[~hole], imageio.uint8_from_float(imageio.chw_to_hwc(large.x))[~hole])
    full_size = imageio.uint8_from_float(Telea(radius=66).restore(large)).astype(int)
    difference = np.abs(source - full_size)[hole].mean()
    assert 0 < difference < 3, difference  # mean grey levels in the hole (measured: 1.2)
