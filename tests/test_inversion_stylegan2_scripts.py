"""The inversion scripts and check-inversion end to end with a StyleGAN2 prior (the tiny official
network pickle of ../shared/testvectors/stylegan2): every task and latent space, resume, bad flags."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import CODE, STYLEGAN2, VECTORS, require_shared
from test_inversion_stage import file_bytes, make_images, run_wrapper

from bigprior.inversion import check as check_module
from bigprior.inversion.stage import LOG_DIR
from bigprior.restore import main as restore_main
from bigprior.commandline import run_cli

pytestmark = pytest.mark.usefixtures("one_torch_thread")

COUNT = 3
CASES = {  # experiment -> (script, latent space, composing layer, task flags)
    "col_tiny": ("colorization", "multi", "b16", []),
    "inpcrop_tiny": ("inpainting", "w+", "4", ["--mask", "mask_center.png"]),
    "inpvar_tiny": ("inpainting", "w", "4", ["--varmask", "True", "--width_mean", "10", "--width_var", "4"]),
    "denblind_tiny": ("denoising", "z", "4", ["--sigma_min", "5", "--sigma_max", "50"]),
}


@pytest.fixture(scope="module")
def stylegan2_pickle() -> Path:
    return require_shared(STYLEGAN2 / "tiny_r32_official.pkl")


def invert(workspace: Path, experiment: str, weights: Path, extra: list[str] = ()) -> int:
    script, space, layer, flags = CASES[experiment]
    args = ["-i", str(workspace / "images"), "-o", str(workspace / "inter_data" / experiment), "--gan_weights",
            str(weights), "--latent_space", space, "--composing_layer", layer, "--z_number", "2", "--vgg_lambda", "0",
            "--iterations", "3", "--optimization", "Adam", "--lr", "0.02", "--batch_size", "2", "--device", "cpu",
            "--precision", "fp32", *flags, *extra]
    return run_wrapper(CODE / "mganprior" / f"{script}.py", args)


@pytest.mark.parametrize("experiment", list(CASES))
def test_scripts_invert_with_a_stylegan2_prior(workspace, stylegan2_pickle, experiment, capsys):
    make_images(workspace / "images", count=COUNT)
    assert invert(workspace, experiment, stylegan2_pickle) == 0
    assert f"inverted {COUNT} images" in capsys.readouterr().out
    folder = workspace / "inter_data" / experiment
    args = json.loads((folder / "mGANargs.txt").read_text())
    assert args["latent_space"] == CASES[experiment][1] and args["composing_layer"] in ("b16", 4)
    for i in range(COUNT):
        assert (folder / "mGANoutput" / f"{i}.png").is_file() and (folder / "GT" / f"{i}.png").is_file()
        log = json.loads((folder / LOG_DIR / f"{i}.json").read_text())
        assert log["final_loss"] < log["initial_loss"]


def test_rerun_resumes_bit_for_bit_and_refuses_another_space(workspace, stylegan2_pickle, capsys):
    make_images(workspace / "images", count=COUNT)
    folder = workspace / "inter_data" / "col_tiny"
    assert invert(workspace, "col_tiny", stylegan2_pickle) == 0
    first = file_bytes(folder)
    (folder / "mGANoutput" / "1.png").unlink()  # as if the run had stopped before image 1 was finished
    capsys.readouterr()
    assert invert(workspace, "col_tiny", stylegan2_pickle, ["--batch_size", "1"]) == 0
    assert f"inverted 1 images ({COUNT - 1} already finished)" in capsys.readouterr().out
    assert file_bytes(folder) == first  # redone alone: what the batch of 2 gave
    assert invert(workspace, "col_tiny", stylegan2_pickle, ["--latent_space", "w+"]) == 2
    assert "made with latent_space='multi', this run has 'w+'" in capsys.readouterr().err


@pytest.mark.parametrize("weights,extra,message", [
    ("stylegan2", ["--composing_layer", "4"], "--composing_layer 4: out of range for this 32x32 StyleGAN2 generator"),
    ("stylegan2", ["--composing_layer", "b64"], "--composing_layer b64: out of range"),
    ("pggan", ["--latent_space", "w"], "--latent_space w: PGGAN generators are inverted with multi-code composition only"),
])
def test_bad_latent_flags_are_one_line(workspace, stylegan2_pickle, capsys, weights, extra, message):
    make_images(workspace / "images", count=1)
    path = stylegan2_pickle if weights == "stylegan2" else require_shared(VECTORS / "tiny_r32_generator.pth")
    assert invert(workspace, "col_tiny", path, extra) == 2  # the wrapper's exit code
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err, err
    assert not (workspace / "inter_data" / "col_tiny" / "mGANoutput").exists()


def test_check_inversion_with_a_stylegan2_prior(workspace, stylegan2_pickle):
    report = workspace / "report"
    flags = ["--gan_weights", str(stylegan2_pickle), "--latent_space", "w+", "--count", "2", "--tasks", "inpcrop,denblind",
             "--loss_type", "L2", "--optimization", "Adam", "--lr", "0.05", "--iterations", "30", "--sigma_min", "25",
             "--sigma_max", "25", "--device", "cpu", "--report", str(report)]
    assert run_cli(check_module.main, flags) == 0
    result = json.loads((report / "check_inversion.json").read_text())["tasks"]
    for task in ("inpcrop", "denblind"):
        assert result[task]["psnr_prior"] > result[task]["psnr_start"] + 1, (task, result[task])
        assert result[task]["arguments"]["latent_space"] == "w+"


def test_fusion_trains_on_stylegan2_priors_and_restore_inverts_with_them(workspace, stylegan2_pickle, capsys):
    """inter_data made with a StyleGAN2 prior trains the fusion network unchanged; `restore` inverts a photo
    with the same prior (latent space z) and fuses with that run."""
    make_images(workspace / "images", count=COUNT)
    assert invert(workspace, "denblind_tiny", stylegan2_pickle) == 0
    train = ["--experiment", "denblind_tiny", "--epochs", "1", "--batch_size", "2", "--train_count", "2",
             "--crop_size", "16", "--dncnn_layers", "3", "--root", str(workspace), "--device", "cpu", "--workers", "1"]
    assert run_wrapper(CODE / "train.py", train) == 0
    run = workspace / "net_data" / "denblind_tiny_0"
    out = workspace / "restored"
    restore = ["--task", "denoise", "--input", str(workspace / "images" / "img_01.png"), "--out", str(out),
               "--degrade", "True", "--gan_weights", str(stylegan2_pickle), "--latent_space", "z", "--iterations", "2",
               "--fusion_run", str(run), "--device", "cpu"]
    assert run_cli(restore_main, restore) == 0
    assert "bigprior" in capsys.readouterr().out.lower()
    for kind in ("input", "prior", "restored", "phi"):
        assert (out / f"img_01_{kind}.png").is_file(), kind
