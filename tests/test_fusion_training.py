"""The fusion stage's training loop, run folders, resume and its handling of bad input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from bigprior.experiment import Experiment
from bigprior.fusion.options import FusionOptions
from bigprior.fusion.training import resume, train
from bigprior.run import restart_period, select_test_epoch
from conftest import ROOT, paper_col_bedroom_workspace, run_script

TRAIN = str(ROOT / "code" / "train.py")
SMALL = ["--lr", "0.01", "--batch_size", "2", "--phi_weight", "1e-5", "--epochs", "4", "--train_count", "6",
         "--dncnn_layers", "5", "--device", "cpu", "--workers", "2", "--test_batch_size", "2"]


def _small_workspace(root: Path, count: int = 8) -> Path:
    return paper_col_bedroom_workspace(root, range(count), run=False)


def _options(**overrides) -> FusionOptions:
    base = dict(experiment="col_bedroom", lr=0.01, batch_size=2, phi_weight=1e-5, epochs=3, train_count=6,
                crop_size=48, dncnn_layers=5)
    return FusionOptions(**{**base, **overrides})


def test_short_training_run_writes_every_file_and_numbers_runs(tmp_path):
    root = _small_workspace(tmp_path)
    first = run_script([TRAIN, "--experiment", "col_bedroom", *SMALL], cwd=root)
    assert first.returncode == 0, first.stderr[-3000:]
    run0 = root / "net_data" / "col_bedroom_0"
    names = {p.name for p in run0.iterdir()}
    assert {"OURargs.txt", "net_0.pth", "net_1.pth", "net_2.pth", "net_3.pth", "train_loss.npy", "MSE.npy", "MSE_GAN.npy",
            "Mphi.npy", "AUC.npy", "AUC_GAN.npy", "metrics.json"} <= names
    loss = np.load(run0 / "train_loss.npy")
    assert loss.shape == (4,) and loss[-1] < loss[0]
    args = json.loads((run0 / "OURargs.txt").read_text())
    assert list(args)[:16] == ["experiment", "extend_input", "backbone", "dncnn_layers", "memnet_channels",
                               "memnet_memblocks", "memnet_resblocks", "batch_size", "epochs", "lr", "phi_weight",
                               "train_count", "test", "test_model", "test_epoch", "test_data"]
    assert args["lr"] == 0.01 and args["batch_size"] == 2
    metrics = json.loads((run0 / "metrics.json").read_text())
    assert metrics["test_images"] == [6, 7] and metrics["epoch"] == 3
    outputs = root / "inter_data" / "col_bedroom" / "OURoutput"
    assert (outputs / "6.png").is_file() and (outputs / "7_phi.png").is_file()

    second = run_script([TRAIN, "--experiment", "col_bedroom", *SMALL, "--epochs", "1"], cwd=root)
    assert second.returncode == 0, second.stderr[-3000:]
    assert (root / "net_data" / "col_bedroom_1" / "net_0.pth").is_file()
    assert (run0 / "net_3.pth").is_file()  # the first run is untouched


def test_training_is_deterministic_and_resumes_to_the_same_result(tmp_path):
    root = _small_workspace(tmp_path, 7)
    device = torch.device("cpu")
    straight = train(_options(), root, device, workers=2)

    class Interrupt(Exception):
        pass

    def stop_after_first_epoch(report):
        if report.epoch == 0:
            raise Interrupt

    with pytest.raises(Interrupt):
        train(_options(), root, device, workers=2, on_epoch_end=stop_after_first_epoch)
    interrupted = root / "net_data" / "col_bedroom_1"
    assert (interrupted / "net_0.pth").is_file() and not (interrupted / "net_1.pth").exists()
    resume(interrupted, device, workers=2)
    for epoch in range(3):
        a = torch.load(straight / f"net_{epoch}.pth", weights_only=True)
        b = torch.load(interrupted / f"net_{epoch}.pth", weights_only=True)
        assert all(torch.equal(a[k], b[k]) for k in a), f"epoch {epoch} differs after resume"
    np.testing.assert_array_equal(np.load(straight / "train_loss.npy"), np.load(interrupted / "train_loss.npy"))


def test_extend_input_trains_and_tests(tmp_path):
    root = _small_workspace(tmp_path, 7)
    folder = train(_options(extend_input=True, epochs=1), root, torch.device("cpu"), workers=2)
    state = torch.load(folder / "net_0.pth", weights_only=True)
    assert state["module.backbone.dncnn.0.weight"].shape[1] == 4  # luma + RGB prior
    result = run_script([TRAIN, "--experiment", "col_bedroom", "--test", "True", "--test_model", "0",
                         "--test_epoch", "0", "--device", "cpu"], cwd=root)
    assert result.returncode == 0, result.stderr[-2000:]


def test_out_of_distribution_test_data_keeps_in_distribution_metrics(tmp_path):
    root = _small_workspace(tmp_path, 7)
    folder = train(_options(epochs=1), root, torch.device("cpu"), workers=2)
    other = root / "inter_data" / "col_other"
    for sub in ("GT", "input", "mGANoutput"):
        (other / sub).mkdir(parents=True)
        for i in range(7):
            (other / sub / f"{i}.png").symlink_to((root / "inter_data" / "col_bedroom" / sub / f"{i}.png").resolve())
    result = run_script([TRAIN, "--experiment", "col_bedroom", "--test", "True", "--test_model", "0",
                         "--test_epoch", "0", "--test_data", "col_other", "--device", "cpu"], cwd=root)
    assert result.returncode == 0, result.stderr[-2000:]
    assert (folder / "ood_col_other" / "MSE.npy").is_file()
    assert (root / "inter_data" / "col_bedroom" / "OUROODoutput" / "6.png").is_file()


def test_epoch_rules():
    assert restart_period(32, 8) == 16  # 250 images, batch 8: the release's T_0
    assert select_test_epoch("last", 50, 16) == 49
    assert select_test_epoch("lr_min", 50, 16) == 47
    assert select_test_epoch("lr_min", 10, 16) == 9


# -- bad input: one line on stderr, exit code 2, nothing written ----------------------------------


def _assert_clean_failure(result, root: Path, *fragments: str) -> None:
    assert result.returncode == 2, result.stdout[-1000:] + result.stderr[-2000:]
    error_lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(error_lines) == 1, result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    for fragment in fragments:
        assert fragment in error_lines[0], error_lines[0]
    assert not list((root / "net_data").glob("*_*")) if (root / "net_data").exists() else True


def _break(root: Path, sub: str, name: str, replacement) -> Path:
    path = root / "inter_data" / "col_bedroom" / sub / name
    path.unlink()
    if replacement is not None:
        replacement(path)
    return path


@pytest.mark.parametrize(
    "case",
    ["missing_folder", "missing_image", "unreadable_image", "unequal_size", "prior_channels", "train_count",
     "unknown_task"],
)
def test_bad_training_input(tmp_path, case):
    root = _small_workspace(tmp_path)
    args = ["--experiment", "col_bedroom", *SMALL]
    expected: tuple[str, ...]
    if case == "missing_folder":
        args[1] = "col_nowhere"
        expected = ("inter_data/col_nowhere/GT",)
    elif case == "missing_image":
        _break(root, "mGANoutput", "3.png", None)
        expected = ("mGANoutput/3.png", "not found")
    elif case == "unreadable_image":
        _break(root, "input", "2.png", lambda p: p.write_bytes(b"not a png"))
        expected = ("input/2.png", "not a readable image")
    elif case == "unequal_size":
        _break(root, "GT", "5.png", lambda p: Image.new("RGB", (128, 128)).save(p))
        expected = ("5.png", "size")
    elif case == "prior_channels":
        _break(root, "mGANoutput", "1.png", lambda p: Image.new("L", (256, 256)).save(p))
        expected = ("mGANoutput/1.png", "RGB")
    elif case == "train_count":
        args[args.index("--train_count") + 1] = "8"
        expected = ("--train_count", "8 images")
    else:
        args[1] = "blur_bedroom"
        expected = ("unknown task 'blur'",)
    result = run_script([TRAIN, *args], cwd=root)
    _assert_clean_failure(result, root, *expected)


def test_missing_checkpoint_is_reported(tmp_path):
    root = _small_workspace(tmp_path)
    (root / "net_data" / "col_bedroom_4").mkdir(parents=True)
    FusionOptions(experiment="col_bedroom", train_count=6).save(root / "net_data" / "col_bedroom_4")
    result = run_script([TRAIN, "--experiment", "col_bedroom", "--test", "True", "--test_model", "4",
                         "--test_epoch", "24", "--device", "cpu"], cwd=root)
    assert result.returncode == 2
    assert "net_data/col_bedroom_4/net_24.pth: checkpoint not found" in result.stderr
    assert not (root / "inter_data" / "col_bedroom" / "OURoutput").exists()


def test_experiment_names():
    assert Experiment("inpvar_my_photos", Path("/tmp")).dataset == "my_photos"
    assert Experiment("denblind_church", Path("/tmp")).degradation.observation_suffix == ".npy"
