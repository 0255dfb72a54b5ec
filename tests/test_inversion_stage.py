"""The inversion scripts end to end on CPU with the tiny generator: layout, fusion on top, resume,
several processes, restarts, the self-check and bad input."""

from __future__ import annotations

import json
import os
import runpy
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import CODE, VECTORS, require_shared, run_script
from PIL import Image

from bigprior.degradations import BlindAWGN, center_mask, luma, mask_to_uint8
from bigprior.imageio import float_from_uint8, hwc_to_chw, uint8_from_float_truncated
from bigprior.inversion import check as check_module
from bigprior.inversion.cli import script_main
from bigprior import resampling
from bigprior.inversion.stage import LOG_DIR
from bigprior.restore import main as restore_main
from bigprior.commandline import run_cli

pytestmark = pytest.mark.usefixtures("one_torch_thread")

SIZE, COUNT = 32, 5
SCRIPT_CASES = {  # experiment -> (script, task flags)
    "col_tiny": ("colorization", []),
    "inpcrop_tiny": ("inpainting", ["--mask", "mask_center.png"]),
    "inpvar_tiny": ("inpainting", ["--varmask", "True", "--width_mean", "10", "--width_var", "4"]),
    "denblind_tiny": ("denoising", ["--sigma_min", "5", "--sigma_max", "50"]),
}
# mGANargs.txt of the release's scripts: their argparse flags in order (this project's follow)
_LOSS_KEYS = ["inversion_type", "composing_layer", "z_number", "image_size", "loss_type", "vgg_loss_type", "vgg_layer",
              "l1_lambda", "l2_lambda", "vgg_lambda"]
_RUN_KEYS = ["optimization", "init_type", "lr", "iterations", "gan_model", "video", "fps"]
RELEASE_KEYS = {
    "colorization": ["target_images", "outputs", *_LOSS_KEYS, *_RUN_KEYS],
    "inpainting": ["target_images", "mask", "outputs", *_LOSS_KEYS, "batch_size", *_RUN_KEYS,
                   "varmask", "min_p", "max_p", "width_mean", "width_var"],
    "denoising": ["target_images", "mask", "outputs", *_LOSS_KEYS, "batch_size", *_RUN_KEYS,
                  "single_level", "sigma_min", "sigma_max"],
}


@pytest.fixture(scope="module")
def tiny_weights() -> Path:
    return require_shared(VECTORS / "tiny_r32_generator.pth")


def make_images(folder: Path, count: int = COUNT, size: int = SIZE, seed: int = 0) -> list[np.ndarray]:
    """Smooth random RGB images, named so that sorted order is not creation order."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    images = []
    for i in range(count):
        coarse = rng.integers(0, 256, (4, 4, 3), dtype=np.uint8)
        image = np.asarray(Image.fromarray(coarse).resize((size, size), Image.BICUBIC))
        Image.fromarray(image).save(folder / f"img_{count - i:02d}.png")
        images.append(image)
    return images[::-1]  # in sorted file-name order


def script_args(script: str, workspace: Path, experiment: str, weights: Path, extra: list[str] = ()) -> list[str]:
    return ["-i", str(workspace / "images"), "-o", str(workspace / "inter_data" / experiment), "--gan_weights", str(weights),
            "--vgg_lambda", "0", "--iterations", "3", "--lr", "0.05", "--composing_layer", "4", "--z_number", "3",
            "--batch_size", "2", "--device", "cpu", "--precision", "fp32", *SCRIPT_CASES[experiment][1], *extra]


def run_wrapper(path: Path, argv: list[str]) -> int:
    """Run a thin wrapper script in this process (as `python path argv`); returns its exit code."""
    saved = sys.argv
    sys.argv = [str(path), *argv]
    try:
        runpy.run_path(str(path), run_name="__main__")
    except SystemExit as exc:
        return int(exc.code or 0)
    finally:
        sys.argv = saved
    return 0


def invert_script(workspace: Path, experiment: str, weights: Path, extra: list[str] = ()) -> int:
    script = SCRIPT_CASES[experiment][0]
    return run_wrapper(CODE / "mganprior" / f"{script}.py", script_args(script, workspace, experiment, weights, extra))


def file_bytes(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


# ---------------------------------------------------------------------------------------------
# end to end


@pytest.mark.parametrize("experiment", list(SCRIPT_CASES))
def test_script_writes_the_layout_and_fusion_trains_on_it(workspace, tiny_weights, experiment, capsys):
    images = make_images(workspace / "images")
    assert invert_script(workspace, experiment, tiny_weights) == 0
    assert f"inverted {COUNT} images" in capsys.readouterr().out
    folder = workspace / "inter_data" / experiment
    args = json.loads((folder / "mGANargs.txt").read_text())
    release_keys = RELEASE_KEYS[SCRIPT_CASES[experiment][0]]
    assert list(args)[: len(release_keys)] == release_keys
    assert args["iterations"] == 3 and args["vgg_lambda"] == 0 and args["restarts"] == 1
    sigmas = []
    for i, image in enumerate(images):
        gt = np.asarray(Image.open(folder / "GT" / f"{i}.png"))
        np.testing.assert_array_equal(gt, image)  # index i = sorted position, saved losslessly
        prior = Image.open(folder / "mGANoutput" / f"{i}.png")
        assert prior.mode == "RGB" and prior.size == (SIZE, SIZE)
        log = json.loads((folder / LOG_DIR / f"{i}.json").read_text())
        assert log["index"] == i and log["source"] == f"img_{i + 1:02d}.png" and log["final_loss"] < log["initial_loss"]
        clean = hwc_to_chw(float_from_uint8(image))
        if experiment.startswith("col"):
            observed = np.asarray(Image.open(folder / "input" / f"{i}.png"))
            np.testing.assert_array_equal(observed, uint8_from_float_truncated(luma(clean)[0]))
            y_prior, y_gt = (np.asarray(im.convert("YCbCr"))[..., 0].astype(int) for im in (prior, Image.fromarray(gt)))
            # the prior is the true luma with the GAN's chroma, stored as RGB (rounding, out-of-gamut clipping)
            assert np.median(np.abs(y_prior - y_gt)) <= 1
        elif experiment.startswith("inp"):
            mask = np.asarray(Image.open(folder / "mask" / f"{i}.png"))
            observed = np.asarray(Image.open(folder / "input" / f"{i}.png"))
            assert mask.shape == (SIZE, SIZE, 3) and 0 < (mask[..., 0] == 255).mean() < 0.9
            assert np.all(observed[mask[..., 0] == 255] == 0)
            np.testing.assert_array_equal(observed[mask[..., 0] == 0], image[mask[..., 0] == 0])
            if experiment.startswith("inpcrop"):
                np.testing.assert_array_equal(mask, mask_to_uint8(center_mask(SIZE, SIZE)))
        else:
            noisy = np.load(folder / "input" / f"{i}.npy")
            assert noisy.dtype == np.float32 and noisy.shape == (SIZE, SIZE, 3)
            sigmas.append(BlindAWGN(5, 50).sigma_for(i, seed=0))
            residual = noisy - float_from_uint8(image)
            assert abs(residual.std() * 255 - sigmas[-1]) < 0.2 * sigmas[-1]
    if experiment.startswith("inpvar"):
        masks = {(folder / "mask" / f"{i}.png").read_bytes() for i in range(COUNT)}
        assert len(masks) == COUNT  # one random mask per image
    if experiment.startswith("den"):
        assert json.loads((folder / "input" / "sigma.json").read_text()) == sigmas
        assert all(5 <= s <= 50 for s in sigmas)
        assert any((np.load(folder / "input" / f"{i}.npy") < 0).any() for i in range(COUNT))  # not clipped

    train = ["--experiment", experiment, "--epochs", "1", "--batch_size", "2", "--train_count", "3", "--crop_size", "16",
             "--dncnn_layers", "3", "--root", str(workspace), "--device", "cpu", "--workers", "1"]
    assert run_wrapper(CODE / "train.py", train) == 0
    run = workspace / "net_data" / f"{experiment}_0"
    assert (run / "net_0.pth").is_file()
    assert {p.name for p in (folder / "OURoutput").glob("*.png")} >= {"3.png", "4.png"}


def test_rerun_skips_finished_images_and_refuses_other_settings(workspace, tiny_weights, capsys):
    make_images(workspace / "images")
    folder = workspace / "inter_data" / "col_tiny"
    assert invert_script(workspace, "col_tiny", tiny_weights) == 0
    first = file_bytes(folder)
    stamps = {p: p.stat().st_mtime_ns for p in folder.rglob("*.png")}
    capsys.readouterr()
    assert invert_script(workspace, "col_tiny", tiny_weights, ["--batch_size", "3"]) == 0
    assert f"nothing to invert ({COUNT} images already finished)" in capsys.readouterr().out
    assert {p: p.stat().st_mtime_ns for p in folder.rglob("*.png")} == stamps
    (folder / "mGANoutput" / "2.png").unlink()  # as if the run had stopped before image 2 was finished
    assert invert_script(workspace, "col_tiny", tiny_weights, ["--batch_size", "1"]) == 0
    assert "inverted 1 images (4 already finished)" in capsys.readouterr().out
    assert file_bytes(folder) == first  # redone alone (batch 1), bit for bit what the batch of 2 gave
    assert (folder / "GT" / "0.png").stat().st_mtime_ns == stamps[folder / "GT" / "0.png"]
    assert invert_script(workspace, "col_tiny", tiny_weights, ["--lr", "0.5"]) == 2
    assert "mGANargs.txt: this experiment was made with lr=0.05, this run has 0.5" in capsys.readouterr().err


def test_start_end_and_max_images_select_by_position(workspace, tiny_weights, capsys):
    images = make_images(workspace / "images")
    assert invert_script(workspace, "inpcrop_tiny", tiny_weights, ["--max_images", "4", "--start", "1", "--end", "3"]) == 0
    priors = sorted(p.name for p in (workspace / "inter_data" / "inpcrop_tiny" / "mGANoutput").iterdir())
    assert priors == ["1.png", "2.png"]
    np.testing.assert_array_equal(np.asarray(Image.open(workspace / "inter_data" / "inpcrop_tiny" / "GT" / "2.png")), images[2])


def test_mask_from_a_file(workspace, tiny_weights):
    make_images(workspace / "images", count=1)
    mask = np.zeros((SIZE, SIZE), np.uint8)
    mask[3:9, 20:30] = 255
    Image.fromarray(mask).save(workspace / "my_mask.png")
    assert invert_script(workspace, "inpcrop_tiny", tiny_weights, ["--mask", str(workspace / "my_mask.png")]) == 0
    folder = workspace / "inter_data" / "inpcrop_tiny"
    np.testing.assert_array_equal(np.asarray(Image.open(folder / "mask" / "0.png"))[..., 0], mask)
    assert np.all(np.asarray(Image.open(folder / "input" / "0.png"))[3:9, 20:30] == 0)


def test_two_processes_write_the_same_files_as_one(workspace, tiny_weights):
    make_images(workspace / "images")
    one, two = workspace / "one", workspace / "two"
    for root in (one, two):
        root.mkdir()
        (root / "images").symlink_to(workspace / "images")
    assert invert_script(one, "denblind_tiny", tiny_weights) == 0
    args = script_args("denoising", two, "denblind_tiny", tiny_weights)
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
               str(CODE / "mganprior" / "denoising.py"), *args]
    env = {**os.environ, "PYTHONPATH": str(CODE), "OMP_NUM_THREADS": "1"}
    done = subprocess.run(command, cwd=two, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"inverted {COUNT} images (0 already finished)" in done.stdout and "over 2 process(es)" in done.stdout
    files_one = file_bytes(one / "inter_data" / "denblind_tiny")
    files_two = file_bytes(two / "inter_data" / "denblind_tiny")
    args_one, args_two = (json.loads(f.pop("mGANargs.txt")) for f in (files_one, files_two))
    assert {k: v for k, v in args_one.items() if k not in ("target_images", "outputs")} == \
        {k: v for k, v in args_two.items() if k not in ("target_images", "outputs")}
    assert files_one == files_two
    assert len(files_one) == 4 * COUNT + 1  # GT, input .npy, log, prior per image, and sigma.json


def test_restarts_log_every_loss_and_keep_the_best(workspace, tiny_weights):
    make_images(workspace / "images", count=2)
    assert invert_script(workspace, "inpcrop_tiny", tiny_weights, ["--restarts", "3"]) == 0
    for i in range(2):
        log = json.loads((workspace / "inter_data" / "inpcrop_tiny" / LOG_DIR / f"{i}.json").read_text())
        losses = log["restart_losses"]
        assert len(losses) == 3 and log["final_loss"] == min(losses) and log["best_restart"] == losses.index(min(losses))


# ---------------------------------------------------------------------------------------------
# bad input: one line on stderr, exit code 2, nothing written


def _bad_run(workspace, tiny_weights, capsys, experiment="col_tiny", extra=()):
    script = SCRIPT_CASES[experiment][0]
    code = run_cli(script_main(script), script_args(script, workspace, experiment, tiny_weights, list(extra)))
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and err.startswith("error: "), err
    assert not (workspace / "inter_data" / experiment / "mGANoutput").exists()
    return err


def test_bad_input_is_one_line_and_writes_nothing(workspace, tiny_weights, capsys):
    make_images(workspace / "images")
    err = _bad_run(workspace, tiny_weights, capsys, extra=["--gan_weights", str(workspace / "missing.pth")])
    assert "--gan_weights" in err and "missing.pth" in err and "not found" in err
    err = _bad_run(workspace, tiny_weights, capsys, extra=["--gan_weights", "", "--gan_model", "pggan_bedroom"])
    assert "pggan_bedroom256_generator.pth" in err and "genforce/mganprior" in err
    err = _bad_run(workspace, tiny_weights, capsys, extra=["--gan_weights", "", "--gan_model", "pggan_nothing"])
    assert "--gan_model 'pggan_nothing': unknown model" in err
    err = _bad_run(workspace, tiny_weights, capsys, extra=["--composing_layer", "12"])
    assert "--composing_layer 12" in err and "expected 0..8" in err
    err = _bad_run(workspace, tiny_weights, capsys, "inpcrop_tiny", extra=["--mask", "no_such_mask.png"])
    assert "--mask no_such_mask.png: not a file" in err
    Image.fromarray(np.zeros((10, 10), np.uint8)).save(workspace / "small_mask.png")
    err = _bad_run(workspace, tiny_weights, capsys, "inpcrop_tiny", extra=["--mask", str(workspace / "small_mask.png")])
    assert "--mask: the mask is 10x10 but" in err and "img_01.png is 32x32" in err
    assert not (workspace / "inter_data" / "inpcrop_tiny" / "mGANargs.txt").exists()  # checked before it is written
    err = _bad_run(workspace, tiny_weights, capsys, extra=["-o", str(workspace / "inter_data" / "inpcrop_tiny")])
    assert "named col_<dataset>" in err
    err = _bad_run(workspace, tiny_weights, capsys, extra=["--video", "True"])
    assert "--video" in err
    err = _bad_run(workspace, tiny_weights, capsys, extra=["-i", str(workspace / "no_such_folder")])
    assert f"-i/--target_images {workspace / 'no_such_folder'}: folder not found" in err

    Image.new("RGB", (40, 40)).save(workspace / "images" / "img_03.png")  # replaces image 2 (sorted)
    err = _bad_run(workspace, tiny_weights, capsys)
    assert "img_03.png: image is 40x40, the generator makes 32x32" in err and "--resize True" in err
    assert not (workspace / "inter_data" / "col_tiny" / "GT").exists()
    (workspace / "images" / "img_03.png").write_bytes(b"not an image")
    err = _bad_run(workspace, tiny_weights, capsys)
    assert "img_03.png: not a readable image" in err


@pytest.mark.parametrize("experiment", ["col_tiny", "inpcrop_tiny", "denblind_tiny"])
def test_resize_true_keeps_each_image_at_its_own_size(workspace, tiny_weights, experiment):
    images = make_images(workspace / "images", count=2, size=48)
    assert invert_script(workspace, experiment, tiny_weights, ["--resize", "True"]) == 0
    folder = workspace / "inter_data" / experiment
    args = json.loads((folder / "mGANargs.txt").read_text())
    assert args["resize"] == "native" and args["prior_resolution"] == SIZE
    for i, image in enumerate(images):
        np.testing.assert_array_equal(np.asarray(Image.open(folder / "GT" / f"{i}.png")), image)
        prior = np.asarray(Image.open(folder / "mGANoutput" / f"{i}.png"))
        assert prior.shape == (48, 48, 3)
        log = json.loads((folder / LOG_DIR / f"{i}.json").read_text())
        assert log["prior_resolution"] == SIZE
        if experiment.startswith("col"):  # the prior keeps the image's own luma at full size
            y_prior, y_gt = (np.asarray(Image.fromarray(a).convert("YCbCr"))[..., 0].astype(int) for a in (prior, image))
            assert np.median(np.abs(y_prior - y_gt)) <= 1
        elif experiment.startswith("inp"):
            np.testing.assert_array_equal(np.asarray(Image.open(folder / "mask" / f"{i}.png")),
                                          mask_to_uint8(center_mask(48, 48)))
        else:  # the noise is the image's, its level at the generator's grid is logged (area 48 -> 32)
            sigma = json.loads((folder / "input" / "sigma.json").read_text())[i]
            assert np.load(folder / "input" / f"{i}.npy").shape == (48, 48, 3)
            assert abs(log["working_sigma"] - sigma * resampling.noise_gain(48, 48, (SIZE, SIZE))) < 1e-9


def test_restore_with_a_fusion_run_trained_on_native_priors(workspace, tiny_weights, capsys):
    """The inversion keeps 48 px images with 32 px priors; a fusion run trained on them restores photos with
    the same generator, and restore warns when a photo enlarges the prior far more than training did (1.5x)."""
    make_images(workspace / "images", count=4, size=48)
    assert invert_script(workspace, "denblind_tiny", tiny_weights, ["--resize", "True"]) == 0
    train = ["--experiment", "denblind_tiny", "--epochs", "1", "--batch_size", "2", "--train_count", "3",
             "--dncnn_layers", "3", "--root", str(workspace), "--device", "cpu", "--workers", "1"]
    assert run_wrapper(CODE / "train.py", train) == 0
    photos = []
    for side in (64, 200):
        photos.append(workspace / f"photo{side}.png")
        Image.fromarray(make_images(workspace / "big", count=1, size=side)[0]).save(photos[-1])
    capsys.readouterr()
    out = workspace / "restored"
    assert run_cli(restore_main, ["--task", "denoise", "--input", *map(str, photos), "--out", str(out), "--degrade", "True",
                                  "--gan_weights", str(tiny_weights), "--fusion_run", str(workspace / "net_data" / "denblind_tiny_0"),
                                  "--iterations", "3", "--device", "cpu"]) == 0
    warnings = [line for line in capsys.readouterr().err.splitlines() if "was trained with priors enlarged 1.5x" in line]
    assert len(warnings) == 1 and "200x200 photo" in warnings[0]
    for side, photo in zip((64, 200), photos):
        assert Image.open(out / f"{photo.stem}_restored.png").size == (side, side)
        assert json.loads((out / f"{photo.stem}_metrics.json").read_text())["prior_resolution"] == SIZE


def test_resize_generator_shrinks_images_to_the_generator(workspace, tiny_weights):
    make_images(workspace / "images", count=2, size=48)
    assert invert_script(workspace, "col_tiny", tiny_weights, ["--resize", "generator"]) == 0
    folder = workspace / "inter_data" / "col_tiny"
    assert Image.open(folder / "GT" / "0.png").size == Image.open(folder / "mGANoutput" / "0.png").size == (SIZE, SIZE)
    assert json.loads((folder / "mGANargs.txt").read_text())["resize"] == "generator"


def test_wrapper_exit_code_and_message(workspace, tiny_weights):
    make_images(workspace / "images", count=1)
    args = script_args("inpainting", workspace, "inpcrop_tiny", tiny_weights, ["--composing_layer", "-1"])
    done = run_script([str(CODE / "mganprior" / "inpainting.py"), *args], cwd=workspace)
    assert done.returncode == 2 and done.stderr.strip().count("\n") == 0
    assert "--composing_layer -1" in done.stderr


# ---------------------------------------------------------------------------------------------
# the self-check (issue 6)

# Measured (CPU, one thread; the whole command takes about 11 s): with these settings (2 images, 8 codes at
# layer 4, Adam lr 0.03, 60 steps, L2) the tiny generator recovers its own images at col 15.34, inpcrop 20.72,
# inpvar 17.55 and denblind (sigma 25) 20.52 dB, up from 11.09 dB at the start (13.36 dB for col, whose
# prior keeps the true luma). The floors leave a margin for other CPUs' rounding.
CHECK_FLAGS = ["--count", "2", "--loss_type", "L2", "--optimization", "Adam", "--lr", "0.03", "--iterations", "60",
               "--z_number", "8", "--composing_layer", "4", "--sigma_min", "25", "--sigma_max", "25",
               "--width_mean", "10", "--width_var", "4", "--device", "cpu"]
CHECK_FLOORS = {"col": 14.5, "inpcrop": 19.5, "inpvar": 16.5, "denblind": 19.5}


def test_check_inversion_recovers_generated_images(workspace, tiny_weights, capsys):
    report = workspace / "report"
    assert run_cli(check_module.main, [*CHECK_FLAGS, "--gan_weights", str(tiny_weights), "--report", str(report)]) == 0
    result = json.loads((report / "check_inversion.json").read_text())["tasks"]
    assert set(result) == set(CHECK_FLOORS)
    for task, floor in CHECK_FLOORS.items():
        assert result[task]["psnr_prior"] > floor, (task, result[task])
        assert result[task]["psnr_prior"] > result[task]["psnr_start"] + 1.5
        assert result[task]["arguments"]["optimization"] == "Adam"
    grid = Image.open(report / "grid.png")
    assert grid.size == (2 * SIZE, 4 * 3 * SIZE)
    assert "col " in capsys.readouterr().out


def test_check_inversion_rejects_unknown_flags(tiny_weights, capsys):
    assert run_cli(check_module.main, ["--gan_weights", str(tiny_weights), "--no_such_flag", "1"]) == 2
    assert "unrecognized arguments: --no_such_flag 1" in capsys.readouterr().err
