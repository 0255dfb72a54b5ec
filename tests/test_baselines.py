"""The baselines: OpenCV inpainting and the DnCNN denoiser, on small synthetic experiments."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from synthetic_workspace import TRAIN_COUNT, make_experiment, smooth_image

from bigprior import imageio, metrics
from bigprior.baselines.dncnn import DnCNNOptions, Denoiser, evaluate_denoiser, resume_denoiser, train_denoiser
from bigprior.baselines.inpainting import INPAINTING_METHODS, inpaint, run_inpainting_baselines
from bigprior.cli import main as cli_main
from bigprior.degradations import center_mask, mask_to_uint8
from bigprior.errors import BIGPriorError
from bigprior.fusion.networks import DnCNN

CPU = torch.device("cpu")


@pytest.fixture(autouse=True)
def _few_threads():
    torch.set_num_threads(1)


# ---------------------------------------------------------------------------------------------
# inpainting


@pytest.mark.parametrize("method", INPAINTING_METHODS)
def test_inpainting_fills_a_flat_image_and_keeps_observed_pixels(method):
    flat = np.full((32, 32, 3), (200, 90, 30), dtype=np.uint8)
    missing = center_mask(32, 32)[0].numpy() > 0.5
    observed = flat * ~missing[:, :, None]
    # Navier-Stokes refills a flat image exactly; Telea's weighted average is within 2 levels
    np.testing.assert_allclose(inpaint(observed, missing, method), flat, atol=2, rtol=0)

    smooth = smooth_image(np.random.default_rng(1), 32)
    filled = inpaint(smooth * ~missing[:, :, None], missing, method)
    assert np.array_equal(filled[~missing], smooth[~missing])
    hole = lambda image: image[missing].astype(np.float64)  # noqa: E731
    assert np.abs(hole(filled) - hole(smooth)).mean() < 0.25 * np.abs(hole(smooth)).mean()  # far better than the zeros


def test_inpainting_baselines_use_each_images_mask_and_keep_finished_files(tmp_path):
    experiment = make_experiment(tmp_path, "inpvar_synth")
    folders = run_inpainting_baselines(experiment, [4, 5])
    assert {m: f.name for m, f in folders.items()} == {"Telea": "Teleaoutput", "NavierStokes": "NavierStokesoutput"}
    assert experiment.baseline_methods() == ["NavierStokes", "Telea"]
    for index in (4, 5):
        observed = imageio.read_rgb(experiment.input_path(index))
        missing = imageio.read_rgb(experiment.mask_path(index))[:, :, 0] > 127
        expected = inpaint(observed, missing, "Telea")
        assert np.array_equal(imageio.read_rgb(folders["Telea"] / f"{index}.png"), expected)

    kept = folders["Telea"] / "4.png"
    imageio.write_png(kept, np.zeros((32, 32, 3), np.uint8))
    run_inpainting_baselines(experiment, [4, 5])
    assert not imageio.read_rgb(kept).any()  # a finished file is never rewritten


def test_inpainting_baseline_errors(tmp_path):
    experiment = make_experiment(tmp_path, "inpvar_synth")
    experiment.mask_path(5).unlink()
    with pytest.raises(BIGPriorError, match=r"mask/5\.png: mask file not found"):
        run_inpainting_baselines(experiment, [5])
    with pytest.raises(BIGPriorError, match="unknown method 'PatchMatch'"):
        run_inpainting_baselines(experiment, [4], methods=["PatchMatch"])
    with pytest.raises(BIGPriorError, match="need an inpainting experiment"):
        run_inpainting_baselines(make_experiment(tmp_path, "col_synth"), [4])


def test_inpaint_baseline_command_uses_the_fixed_centre_mask(tmp_path):
    experiment = make_experiment(tmp_path, "inpcrop_synth")
    assert cli_main(["inpaint-baseline", "--experiment", "inpcrop_synth", "--root", str(tmp_path), "--train_count", "4", "--methods", "NavierStokes"]) == 0
    observed = imageio.read_rgb(experiment.input_path(5))
    expected = inpaint(observed, center_mask(32, 32)[0].numpy() > 0.5, "NavierStokes")
    assert np.array_equal(imageio.read_rgb(experiment.method_dir("NavierStokes") / "5.png"), expected)
    # --mask replaces the fixed mask for images without a mask file
    corner = torch.zeros(1, 32, 32)
    corner[:, :8, :8] = 1
    imageio.write_png(tmp_path / "corner.png", mask_to_uint8(corner))
    assert cli_main(["inpaint-baseline", "--experiment", "inpcrop_synth", "--root", str(tmp_path), "--train_count", "4",
                     "--methods", "Telea", "--mask", str(tmp_path / "corner.png")]) == 0
    expected = inpaint(observed, corner[0].numpy() > 0.5, "Telea")
    assert np.array_equal(imageio.read_rgb(experiment.method_dir("Telea") / "5.png"), expected)
    assert not expected[12:20, 12:20].any()  # the centre hole, not masked here, stays as observed


# ---------------------------------------------------------------------------------------------
# DnCNN


def _options(**overrides) -> DnCNNOptions:
    return DnCNNOptions(**{"experiment": "denblind_synth", "dncnn_layers": 4, "epochs": 4, "batch_size": 2, "lr": 1e-3,
                           "train_count": TRAIN_COUNT, "crop_size": 16, **overrides})


def test_dncnn_is_the_fusion_backbone_with_the_release_layout(tmp_path):
    make_experiment(tmp_path, "denblind_synth")
    folder = train_denoiser(_options(epochs=1), tmp_path, CPU)
    assert folder.name == "DnCNN_denblind_synth_0"
    state = torch.load(folder / "net_0.pth", weights_only=True)
    assert list(state)[:2] == ["module.dncnn.0.weight", "module.dncnn.2.weight"]
    model = Denoiser(3, 3, layers=4)
    model.load_state_dict({k.removeprefix("module."): v for k, v in state.items()})
    model.eval()
    x = torch.rand(1, 3, 8, 8)
    plain = DnCNN(3, 3, layers=4).eval()  # the release's network: the denoised image is x - D(x - 0.5)
    plain.load_state_dict(model.state_dict())
    assert torch.equal(model(x), x - plain(x - 0.5))


def test_dncnn_training_denoises_is_deterministic_and_resumes(tmp_path):
    experiment = make_experiment(tmp_path, "denblind_synth", count=8, seed=2)
    options = _options(epochs=24, train_count=6, crop_size=0, dncnn_layers=5)
    full = train_denoiser(options, tmp_path, CPU)
    summary = evaluate_denoiser(full, None, CPU)
    assert summary["test_images"] == [6, 7]
    for index in (6, 7):
        gt = imageio.read_rgb(experiment.gt_path(index))
        noisy = imageio.uint8_from_float(experiment.read_observation(index)).transpose(1, 2, 0)
        denoised = imageio.read_rgb(experiment.method_dir("DnCNN") / f"{index}.png")
        assert metrics.psnr(denoised, gt) > metrics.psnr(noisy, gt) + 4  # measured: +6.1 dB (sigma 37, 42)

    interrupted = train_denoiser(DnCNNOptions(**{**options.__dict__, "epochs": 10}), tmp_path, CPU)
    resume_denoiser(interrupted, CPU, epochs=24)
    for epoch in (9, 23):
        a, b = (torch.load(f / f"net_{epoch}.pth", weights_only=True) for f in (full, interrupted))
        assert all(torch.equal(a[k], b[k]) for k in a), f"epoch {epoch} differs after resuming"
    assert np.array_equal(np.load(full / "train_loss.npy"), np.load(interrupted / "train_loss.npy"))


def test_dncnn_stored_noise_and_command_line(tmp_path):
    make_experiment(tmp_path, "denblind_synth")
    argv = ["train-dncnn", "--experiment", "denblind_synth", "--root", str(tmp_path), "--dncnn_layers", "3", "--epochs", "2",
            "--batch_size", "2", "--train_count", "4", "--noise", "stored", "--device", "cpu"]
    assert cli_main(argv) == 0
    folder = tmp_path / "net_data" / "DnCNN_denblind_synth_0"
    assert imageio.read_json(folder / "DnCNNargs.txt")["noise"] == "stored"
    assert imageio.read_json(folder / "metrics.json")["test_images"] == [4, 5]
    assert cli_main(["train-dncnn", "--experiment", "denblind_synth", "--root", str(tmp_path), "--test", "True",
                     "--test_model", "0", "--test_epoch", "0", "--device", "cpu"]) == 0
    assert imageio.read_json(folder / "metrics.json")["epoch"] == 0
    assert imageio.read_json(tmp_path / "inter_data" / "denblind_synth" / "DnCNNoutput" / "DnCNNargs.txt")["test_epoch"] == 0


def test_dncnn_errors(tmp_path):
    make_experiment(tmp_path, "col_synth")
    with pytest.raises(BIGPriorError, match="for denoising experiments"):
        train_denoiser(_options(experiment="col_synth"), tmp_path, CPU)
    experiment = make_experiment(tmp_path, "denblind_synth")
    experiment.input_path(5).unlink()
    with pytest.raises(BIGPriorError, match=r"input/5\.npy: file not found"):
        train_denoiser(_options(), tmp_path, CPU)
    assert not (tmp_path / "net_data").exists()  # nothing created for a run that could not start
    with pytest.raises(BIGPriorError, match="--noise must be one of"):
        train_denoiser(_options(noise="gaussian"), tmp_path, CPU)


def test_dncnn_honours_precision_and_resume_extends_from_the_command_line(tmp_path):
    make_experiment(tmp_path, "denblind_synth")
    states = {}
    for precision in ("default", "fp32", "bf16"):
        folder = train_denoiser(_options(epochs=1, precision=precision), tmp_path, CPU)
        assert imageio.read_json(folder / "DnCNNargs.txt")["precision"] == precision
        states[precision] = torch.load(folder / "net_0.pth", weights_only=True)
    key = "module.dncnn.0.weight"
    assert torch.equal(states["fp32"][key], states["default"][key])  # on the CPU, strict fp32 is PyTorch's default
    assert not torch.equal(states["bf16"][key], states["default"][key])  # autocast to bfloat16

    # --resume is relative to the workspace and --epochs extends the run
    assert cli_main(["train-dncnn", "--resume", "net_data/DnCNN_denblind_synth_0", "--epochs", "2", "--root", str(tmp_path),
                     "--device", "cpu"]) == 0
    first = tmp_path / "net_data" / "DnCNN_denblind_synth_0"
    assert (first / "net_1.pth").is_file() and imageio.read_json(first / "DnCNNargs.txt")["epochs"] == 2
    assert np.load(first / "train_loss.npy").shape == (2,)


def test_dncnn_refuses_non_finite_stored_noise(tmp_path):
    experiment = make_experiment(tmp_path, "denblind_synth")
    noisy = np.load(experiment.input_path(1))
    noisy[0, 0, 0] = np.nan
    np.save(experiment.input_path(1), noisy)
    with pytest.raises(BIGPriorError, match=r"input/1\.npy: holds 1 NaN or infinite values"):
        train_denoiser(_options(noise="stored"), tmp_path, CPU)
    assert not (tmp_path / "net_data").exists()
