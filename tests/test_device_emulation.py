"""The training loops on an emulated GPU (see device_emulation.py): no CPU/device mixing and no host
sync inside an epoch or a GAN step, and resume onto a non-CPU device.

The resume tests use only the public train/resume functions, so they also run against older code:
there, loading the train state with `map_location=<device>` crashed on the loss log (fusion, DnCNN)
and left Adam's step counters on the device (GAN: one sync per parameter per step after a resume)."""

from __future__ import annotations

import contextlib
from pathlib import Path

import pytest
import torch
from device_emulation import META, DeviceMistake, StrictDevice
from synthetic_workspace import make_experiment
from test_gan import tiny_options, write_images

from bigprior.baselines.dncnn import DnCNNOptions, resume_denoiser, train_denoiser
from bigprior.fusion.options import FusionOptions
from bigprior.fusion.training import resume, train

CPU = torch.device("cpu")
pytestmark = pytest.mark.filterwarnings("ignore:.*non-meta parameter.*:UserWarning")


@pytest.fixture(autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_strict_device_catches_the_mistakes_it_is_for():
    data = torch.rand(6, 3, 8, 8).to(META)
    with StrictDevice() as strict:
        with pytest.raises(DeviceMistake, match="mixes"):
            data[torch.randperm(6)[:2]]  # a CPU permutation indexing device data
        with pytest.raises(DeviceMistake, match="host"):
            data.sum().item()
        with pytest.raises(DeviceMistake, match="to the host"):
            data.cpu()
        data[torch.randperm(6).to(META)[:2]]
    assert strict.uploads == 1


# ---------------------------------------------------------------------------------------------
# one epoch / one step on the device


def _fusion_trainer(tmp_path: Path, crop: int):
    from bigprior.fusion.data import FusionData
    from bigprior.fusion.training import fusion_trainer
    from bigprior.run import Run

    options = FusionOptions(experiment="col_synth", dncnn_layers=3, batch_size=2, epochs=2, lr=1e-2, phi_weight=1e-5,
                            train_count=6, crop_size=crop)
    data = FusionData.from_prior(list(range(6)), torch.rand(6, 1, 16, 16), torch.rand(6, 3, 16, 16), torch.rand(6, 3, 16, 16)).to(META)
    return fusion_trainer(Run(tmp_path), options, data, META), data, options


@pytest.mark.parametrize("crop", [0, 8])
def test_fusion_epoch_stays_on_the_device(tmp_path, crop):
    from bigprior.fusion.training import fusion_batch_loss

    trainer, data, options = _fusion_trainer(tmp_path, crop)
    with StrictDevice() as strict:
        total = trainer.epoch(0, fusion_batch_loss(trainer.model, data, options, contextlib.nullcontext))
    assert total.device == META and total.shape == ()
    assert strict.uploads == 1  # the epoch's order, once; the crops are Python ints from the CPU generator
    assert all(s["step"].device == CPU for s in trainer.optimizer.state.values())  # read by Adam without a sync


@pytest.mark.parametrize("noise", ["fresh", "stored"])
def test_dncnn_epoch_stays_on_the_device(tmp_path, noise):
    from bigprior.baselines.dncnn import _TrainingData, _trainer, denoiser_batch_loss
    from bigprior.run import Run

    options = DnCNNOptions(experiment="denblind_synth", dncnn_layers=3, batch_size=2, epochs=1, train_count=4,
                           crop_size=8, noise=noise)
    clean = torch.rand(4, 3, 16, 16)
    data = _TrainingData(clean, clean + 0.1 if noise == "stored" else None).to(META)
    trainer = _trainer(Run(tmp_path), options, data, META)
    with StrictDevice() as strict:
        total = trainer.epoch(0, denoiser_batch_loss(trainer.model, data, options, contextlib.nullcontext))
    assert total.device == META
    assert strict.uploads == 1 + (2 if noise == "fresh" else 0)  # the order, and each batch's CPU-drawn noise


def test_gan_steps_stay_on_the_device(tmp_path):
    from bigprior.gan.training import build_networks, training_step

    options = tiny_options(tmp_path, steps=2)
    nets = build_networks(options, META)
    # PGGANGenerator.forward reads its `lod` buffer with .item() (a sync per forward on CUDA, in
    # generators/pggan/network.py); a CPU `lod` keeps this test about the training step itself
    for generator in (nets.generator, nets.generator_ema):
        generator.lod = torch.zeros(())
    reals = (torch.rand(6, 3, 16, 16) * 2 - 1).to(META)
    with StrictDevice() as strict:
        stats = [training_step(nets, reals, options, step, META) for step in (0, 1)]  # an R1 step and a plain one
    assert [s.regularized for s in stats] == [True, False]
    assert all(s.values.device == META for s in stats)
    # only the CPU generator's small draws go up (indices, flips, latents, augmentation parameters), never images
    assert strict.largest_upload == options.batch_size * options.z_dim


# ---------------------------------------------------------------------------------------------
# resume onto a device


@pytest.fixture
def loaded_optimizers(monkeypatch):
    """Every optimizer whose state is loaded (the code path of a resume), recorded."""
    loaded: list[torch.optim.Optimizer] = []
    original = torch.optim.Optimizer.load_state_dict

    def record(self, state_dict):
        loaded.append(self)
        return original(self, state_dict)

    monkeypatch.setattr(torch.optim.Optimizer, "load_state_dict", record)
    return loaded


def _assert_resumed_onto(device: torch.device, optimizers: list[torch.optim.Optimizer]) -> None:
    assert optimizers, "no optimizer state was loaded"
    for optimizer in optimizers:
        for state in optimizer.state.values():
            assert state["step"].device == CPU  # else every later step syncs once per parameter
            assert state["exp_avg"].device == device and state["exp_avg_sq"].device == device


def _trains_on_until_its_one_host_read(resume_call) -> None:
    """Resume onto the emulated device: everything up to the loop's one designed host read (the loss of
    the epoch, the statistics of a log window) must run there; that read is where a meta tensor stops."""
    with StrictDevice(), pytest.raises(DeviceMistake) as stopped:
        resume_call()
    frames = [entry.name for entry in stopped.traceback]
    assert "host_values" in frames, f"stopped before the designed host read: {stopped.value} in {frames[-4:]}"


class _Interrupt(Exception):
    pass


def _interrupt_after_first_epoch(report) -> None:
    raise _Interrupt


def test_fusion_resume_onto_a_device(tmp_path, loaded_optimizers):
    make_experiment(tmp_path, "col_synth", count=6, size=16)
    options = FusionOptions(experiment="col_synth", dncnn_layers=3, epochs=2, batch_size=2, lr=1e-2, train_count=4)
    with pytest.raises(_Interrupt):
        train(options, tmp_path, CPU, workers=1, on_epoch_end=_interrupt_after_first_epoch)
    _trains_on_until_its_one_host_read(lambda: resume(tmp_path / "net_data" / "col_synth_0", META, workers=1))
    _assert_resumed_onto(META, loaded_optimizers)


def test_dncnn_resume_onto_a_device(tmp_path, loaded_optimizers):
    make_experiment(tmp_path, "denblind_synth", count=6, size=16)
    options = DnCNNOptions(experiment="denblind_synth", dncnn_layers=3, epochs=1, batch_size=2, train_count=4)
    folder = train_denoiser(options, tmp_path, CPU)
    _trains_on_until_its_one_host_read(lambda: resume_denoiser(folder, META, epochs=2))
    _assert_resumed_onto(META, loaded_optimizers)


def test_gan_resume_onto_a_device(tmp_path, loaded_optimizers, monkeypatch):
    from bigprior.gan import training as gan_training

    build = gan_training.build_networks

    def with_host_lod(options, device):  # see test_gan_steps_stay_on_the_device
        nets = build(options, device)
        for generator in (nets.generator, nets.generator_ema):
            generator.lod = torch.zeros(())
        return nets

    monkeypatch.setattr(gan_training, "build_networks", with_host_lod)
    write_images(tmp_path / "data", 6)
    folder = gan_training.train(tiny_options(tmp_path / "data", steps=2), tmp_path / "runs", CPU)
    _trains_on_until_its_one_host_read(lambda: gan_training.resume(folder, META, steps=3))
    assert len(loaded_optimizers) == 2  # the generator's and the discriminator's
    _assert_resumed_onto(META, loaded_optimizers)
