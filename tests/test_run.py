"""Run folders, train states, checkpoints that would run code, numerics, and the atomic writes and
readers of imageio under failure (full disk, Ctrl-C, non-finite numbers)."""

from __future__ import annotations

import errno
import json
import multiprocessing
import os
import pathlib
from pathlib import Path

import numpy as np
import pytest
import torch

from bigprior import imageio
from bigprior.errors import BIGPriorError
from bigprior.experiment import Experiment, create_numbered_dir, split_run_name
from bigprior.fusion import FusionSpec, build_fusion_model, paper_state_dict
from bigprior.fusion.loading import load_fusion_run
from bigprior.fusion.options import FusionOptions
from bigprior.run import Run, load_weights
from bigprior.runtime import numeric_mode
from synthetic_workspace import make_experiment


# ---------------------------------------------------------------------------------------------
# numbered folders


def _claim(parent: str, count: int, queue) -> None:
    queue.put([create_numbered_dir(Path(parent), "col_x").name for _ in range(count)])


def test_racing_processes_never_share_a_run_folder(tmp_path):
    (tmp_path / "col_x_3").mkdir()
    (tmp_path / "col_x_notanid").mkdir()
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    workers = [context.Process(target=_claim, args=(str(tmp_path), 5, queue)) for _ in range(6)]
    for worker in workers:
        worker.start()
    names = [name for _ in workers for name in queue.get(timeout=60)]
    for worker in workers:
        worker.join(timeout=60)
    assert len(names) == len(set(names)) == 30
    assert all(split_run_name(name)[1] >= 4 for name in names)  # never below an existing ID


def test_run_folder_names():
    assert split_run_name("col_bedroom_12") == ("col_bedroom", 12)
    assert split_run_name("DnCNN_denblind_church_0") == ("DnCNN_denblind_church", 0)
    assert split_run_name("col_bedroom") is None


def test_experiment_split_and_folder(tmp_path):
    experiment = make_experiment(tmp_path, "col_synth", count=6, size=16)
    assert experiment.split(4) == ([0, 1, 2, 3], [4, 5])
    with pytest.raises(BIGPriorError, match="--train_count 6: .*holds only 6 images"):
        experiment.split(6)
    assert Experiment.from_dir(experiment.dir) == Experiment("col_synth", tmp_path.resolve())
    with pytest.raises(BIGPriorError, match=r"^-o .*: expected an experiment folder <workspace>/inter_data/"):
        Experiment.from_dir(tmp_path / "col_synth", "-o ")


# ---------------------------------------------------------------------------------------------
# train state and checkpoints


def test_train_state_loads_on_the_cpu_and_moves_with_its_optimizer(tmp_path):
    run = Run(tmp_path)
    assert run.load_state() is None  # nothing saved yet: start over
    weights = torch.nn.Parameter(torch.ones(3))
    optimizer = torch.optim.Adam([weights], lr=0.1)
    weights.grad = torch.ones(3)
    optimizer.step()
    run.save_state({"epoch": 0, "optimizer": optimizer.state_dict(), "loss_log": torch.ones(2)})
    on_device = torch.nn.Parameter(torch.ones(3, device="meta"))
    restored = torch.optim.Adam([on_device], lr=0.1)
    state = run.load_state({"optimizer": restored})
    assert state["loss_log"].device.type == "cpu" and state["epoch"] == 0
    (moments,) = restored.state.values()
    assert moments["step"].device.type == "cpu" and moments["exp_avg"].device.type == "meta"
    with pytest.raises(BIGPriorError, match="no 'scheduler' in the train state"):
        run.load_state({"scheduler": restored})


class _RunsCode:
    """Unpickling this writes a marker file: a checkpoint that runs code when loaded."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (pathlib.Path.write_text, (self.marker, "code ran"))


def _code_running_checkpoint(path: Path, marker: Path) -> None:
    torch.save({"generator": _RunsCode(marker), "step": 1}, path)


def test_a_checkpoint_that_would_run_code_is_refused(tmp_path):
    marker = tmp_path / "marker.txt"
    _code_running_checkpoint(tmp_path / "net_0.pth", marker)
    with pytest.raises(BIGPriorError) as refused:
        load_weights(tmp_path / "net_0.pth")
    assert str(refused.value) == f"{tmp_path / 'net_0.pth'}: not a readable PyTorch checkpoint (UnpicklingError)"
    assert not marker.exists()


def test_gan_resume_refuses_a_code_running_checkpoint(tmp_path, capsys):
    from bigprior.gan.cli import main as train_gan_main
    from bigprior.commandline import run_cli
    from test_gan import tiny_options, write_images

    write_images(tmp_path / "data", 4)
    run = Run.create(tmp_path / "runs", "gan", tiny_options(tmp_path / "data", steps=2))
    marker = tmp_path / "marker.txt"
    _code_running_checkpoint(run.folder / "checkpoint.pth", marker)
    assert run_cli(train_gan_main, ["--resume", "runs/gan_0", "--root", str(tmp_path), "--device", "cpu", "--threads", "1"]) == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
    assert errors == [f"error: {run.folder / 'checkpoint.pth'}: not a readable PyTorch checkpoint (UnpicklingError)"]
    assert not marker.exists()


def _fake_fusion_run(folder: Path, epochs: int, dtype: torch.dtype = torch.float32) -> None:
    """A fusion run folder (train_count 6, batch 2: restart period 6) whose checkpoint e has every
    weight of its first convolution equal to e."""
    folder.mkdir(parents=True)
    FusionOptions(experiment="col_synth", dncnn_layers=3, epochs=epochs, batch_size=2, train_count=6).save(folder)
    model = build_fusion_model(FusionSpec(observation_channels=1, layers=3))
    for epoch in range(epochs):
        with torch.no_grad():
            model.backbone.dncnn[0].weight.fill_(epoch)
        torch.save({k: v.to(dtype) if v.is_floating_point() else v for k, v in paper_state_dict(model).items()},
                   folder / f"net_{epoch}.pth")


def _epoch_of(model) -> float:
    return float(model.backbone.dncnn[0].weight[0, 0, 0, 0].detach())


def test_load_fusion_run_picks_the_epoch_of_the_runs_rule(tmp_path):
    folder = tmp_path / "net_data" / "col_synth_0"
    _fake_fusion_run(folder, epochs=8, dtype=torch.float16)
    loaded = load_fusion_run(folder)
    model = loaded.model
    assert _epoch_of(model) == 5 and loaded.epoch == 5  # lr_min: the end of the first cosine cycle (period 6)
    assert all(p.dtype == torch.float32 for p in model.parameters()) and not model.training
    assert _epoch_of(load_fusion_run(folder, epoch=2).model) == 2
    (folder / "net_5.pth").unlink()
    assert _epoch_of(load_fusion_run(folder).model) == 7  # the rule's checkpoint is gone: the last saved
    with pytest.raises(BIGPriorError, match="net_5.pth: checkpoint not found"):
        load_fusion_run(folder, epoch=5)
    with pytest.raises(BIGPriorError, match="--fusion_run .*col_synth_9: run folder not found"):
        load_fusion_run(folder.parent / "col_synth_9", flag="--fusion_run ")


# ---------------------------------------------------------------------------------------------
# numerics


def _numeric_flags() -> tuple:
    backends = torch.backends
    return (backends.cudnn.allow_tf32, backends.cuda.matmul.allow_tf32, backends.cudnn.benchmark, backends.cudnn.deterministic,
            torch.are_deterministic_algorithms_enabled(), backends.mkldnn.enabled, os.environ.get("CUBLAS_WORKSPACE_CONFIG"))


def test_strict_fp32_on_cuda_is_deterministic_and_restored(monkeypatch):
    monkeypatch.delenv("CUBLAS_WORKSPACE_CONFIG", raising=False)
    before = _numeric_flags()
    with numeric_mode("fp32", torch.device("cuda")):  # the flags only: no GPU is touched
        assert _numeric_flags()[:5] == (False, False, False, True, True)
        assert torch.is_deterministic_algorithms_warn_only_enabled()
        assert os.environ["CUBLAS_WORKSPACE_CONFIG"] == ":4096:8"
    assert _numeric_flags() == before
    with numeric_mode("default", torch.device("cuda")):
        assert torch.backends.cudnn.benchmark and not torch.are_deterministic_algorithms_enabled()
    assert _numeric_flags() == before


def test_batch_invariance_is_the_inversions_cpu_fp32_choice():
    before = _numeric_flags()
    with numeric_mode("fp32", torch.device("cpu"), batch_invariant=True):
        assert not torch.backends.mkldnn.enabled and not torch.are_deterministic_algorithms_enabled()
    with numeric_mode("fp32", torch.device("cpu")):
        assert torch.backends.mkldnn.enabled == before[5]
    assert _numeric_flags() == before
    with pytest.raises(BIGPriorError, match="--precision must be one of default, fp32, bf16"):
        with numeric_mode("fp16", torch.device("cpu")):
            pass


# ---------------------------------------------------------------------------------------------
# imageio under failure


def _partial_then(error: BaseException):
    def writer(path: Path) -> None:
        with open(path, "wb") as f:
            f.write(b"half a file")
        raise error

    return writer


@pytest.mark.parametrize("error", [OSError(errno.ENOSPC, "No space left on device"), KeyboardInterrupt()])
def test_an_interrupted_write_leaves_no_file_and_keeps_the_old_one(tmp_path, error):
    target = tmp_path / "out" / "metrics.json"
    imageio.write_json(target, {"psnr": 20.0})
    before = target.read_bytes()
    expected = (BIGPriorError, "metrics.json: could not be written [(]No space left on device[)]") if isinstance(error, OSError) \
        else (KeyboardInterrupt, None)
    with pytest.raises(expected[0], match=expected[1]):
        imageio.write_with(target, _partial_then(error))
    assert target.read_bytes() == before
    assert [p.name for p in target.parent.iterdir()] == ["metrics.json"]  # no temporary file


def test_a_full_disk_during_torch_save_leaves_nothing(tmp_path, monkeypatch):
    def full_disk(self, data):
        with open(self, "wb") as f:
            f.write(data[: len(data) // 2])
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(pathlib.Path, "write_bytes", full_disk)
    with pytest.raises(BIGPriorError, match=r"net_3\.pth: could not be written"):
        imageio.torch_save(tmp_path / "net_3.pth", {"w": torch.ones(100)})
    assert list(tmp_path.iterdir()) == []


def test_json_is_standard_and_non_finite_numbers_are_null(tmp_path):
    imageio.write_json(tmp_path / "m.json", {"psnr": float("inf"), "loss": [1.0, float("nan")], "n": (np.float64("-inf"), 2)})
    text = (tmp_path / "m.json").read_text()
    refuse = lambda token: (_ for _ in ()).throw(ValueError(token))  # noqa: E731
    assert json.loads(text, parse_constant=refuse) == {"psnr": None, "loss": [1.0, None], "n": [None, 2]}


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_noisy_observation_is_refused(tmp_path, bad):
    experiment = make_experiment(tmp_path, "denblind_synth", count=6, size=16)
    noisy = np.load(experiment.input_path(4))
    noisy[3, 5, 1] = bad
    np.save(experiment.input_path(4), noisy)
    with pytest.raises(BIGPriorError, match=r"input/4\.npy: holds 1 NaN or infinite values"):
        experiment.read_observation(4)
