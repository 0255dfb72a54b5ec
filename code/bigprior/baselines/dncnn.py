"""The DnCNN denoiser baseline of the blind-denoising experiments (the paper's `code/train_dncnn.py`).

A 17-layer DnCNN (`bigprior.fusion.model.DnCNN`, the network behind phi) learns the noise of an
image, D(x) ~ x - clean, on the 250 training images of a `denblind_<dataset>` experiment; the
denoised test image is x - D(x), saved as `inter_data/<experiment>/DnCNNoutput/{i}.png` for the
report. Like the fusion stage, images enter the network shifted to [-0.5, 0.5], with Adam and the
release's cosine schedule with warm restarts.

Noise (`noise`): `fresh` (default) draws new blind AWGN for every batch from the clean training
images, sigma uniform in the integers sigma_min..sigma_max per image, from a generator seeded by
(seed, epoch); `stored` trains on the experiment's saved noisy inputs, as the release did.

Runs live in `net_data/DnCNN_<experiment>_<ID>/`: `DnCNNargs.txt` (the options), `net_<epoch>.pth`
(state dicts with the release's keys `module.dncnn.{i}.*`), `train_loss.npy`, `train_state.pth`
(to resume), and after the test `MSE.npy` (unclamped output, images in [0, 1]) and `metrics.json`.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from .. import imageio, metrics
from ..degradations import BlindAWGN, degradation_class
from ..errors import BIGPriorError
from ..experiment import Experiment, create_run_dir, split_experiment_name
from ..fusion.data import split_indices
from ..fusion.model import DnCNN, init_paper_weights, load_fusion_state_dict, paper_state_dict
from ..fusion.options import EPOCH_RULES
from ..fusion.training import (
    LOSS_FILE,
    METRICS_FILE,
    SHIFT,
    STATE_FILE,
    checkpoint_name,
    load_checkpoint,
    optimizer_and_scheduler,
    random_crop,
    restart_period,
    select_test_epoch,
)
from ..seeding import item_seed

METHOD = "DnCNN"  # outputs in inter_data/<experiment>/DnCNNoutput/
RUN_PREFIX = "DnCNN_"  # runs in net_data/DnCNN_<experiment>_<ID>/
ARGS_FILE = "DnCNNargs.txt"
NOISE_SOURCES = ("fresh", "stored")


@dataclass
class DnCNNOptions:
    experiment: str = ""
    dncnn_layers: int = 17
    batch_size: int = 8
    epochs: int = 50
    lr: float = 1e-3
    train_count: int = 250
    sigma_min: int = 5  # blind AWGN levels of the training noise, 0..255 scale (the paper's 5..50)
    sigma_max: int = 50
    noise: str = "fresh"
    crop_size: int = 0  # random square training crops (0: whole images)
    seed: int = 0
    test_epoch_rule: str = "lr_min"

    def check(self) -> None:
        if not self.experiment:
            raise BIGPriorError("--experiment is required (e.g. --experiment denblind_bedroom)")
        if degradation_class(split_experiment_name(self.experiment)[0]) is not BlindAWGN:
            raise BIGPriorError(f"--experiment {self.experiment}: the DnCNN baseline is for denoising experiments (denblind_*)")
        if self.batch_size < 1 or self.epochs < 1 or self.lr <= 0 or self.crop_size < 0:
            raise BIGPriorError("--batch_size and --epochs must be at least 1, --lr positive, --crop_size 0 or positive")
        BlindAWGN(self.sigma_min, self.sigma_max)  # checks the range
        if self.noise not in NOISE_SOURCES:
            raise BIGPriorError(f"--noise must be one of {', '.join(NOISE_SOURCES)}, got {self.noise!r}")
        if self.test_epoch_rule not in EPOCH_RULES:
            raise BIGPriorError(f"--test_epoch_rule must be one of {', '.join(EPOCH_RULES)}, got {self.test_epoch_rule!r}")

    def save(self, folder: Path) -> None:
        imageio.write_json(folder / ARGS_FILE, asdict(self))

    @classmethod
    def load(cls, folder: Path) -> DnCNNOptions:
        options = imageio.read_options(folder / ARGS_FILE, cls)
        options.check()
        return options


def build_denoiser(layers: int) -> DnCNN:
    """The residual network D (3 -> 3 channels) with the release's initialisation."""
    model = DnCNN(3, out_channels=3, layers=layers)
    init_paper_weights(model)
    return model


def denoise(model: DnCNN, noisy: torch.Tensor) -> torch.Tensor:
    """x - D(x) of a batch of noisy images in [0, 1] (unclamped)."""
    return noisy - model(noisy - SHIFT)


@dataclass
class _TrainingData:
    clean: torch.Tensor  # N x 3 x H x W
    noisy: torch.Tensor | None  # the stored observations, for noise="stored"


def _load_training_data(options: DnCNNOptions, experiment: Experiment) -> _TrainingData:
    train_indices, test_indices = split_indices(experiment, options.train_count)
    clean = torch.stack([experiment.read_gt(i) for i in tqdm(train_indices, desc="loading training images", leave=False)])
    noisy = None
    if options.noise == "stored":
        noisy = torch.stack([experiment.read_observation(i) for i in train_indices])
        if noisy.shape != clean.shape:
            raise BIGPriorError(f"{experiment.input_path(train_indices[0])}: observations and GT images differ in size")
    for i in test_indices:  # fail now, not after training
        if not experiment.input_path(i).is_file():
            raise BIGPriorError(f"{experiment.input_path(i)}: file not found")
    return _TrainingData(clean, noisy)


def _noisy_batch(
    data: _TrainingData, batch_index: torch.Tensor, options: DnCNNOptions, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """(noisy, clean) of one batch, cropped, with fresh or stored noise."""
    clean = data.clean[batch_index]
    if data.noisy is not None:
        noisy = data.noisy[batch_index]
        return random_crop((noisy, clean), options.crop_size, generator) if options.crop_size else (noisy, clean)
    if options.crop_size:
        (clean,) = random_crop((clean,), options.crop_size, generator)
    sigma = torch.randint(options.sigma_min, options.sigma_max + 1, (len(clean), 1, 1, 1), generator=generator)
    noise = torch.randn(clean.shape, generator=generator) * (sigma.float() / 255.0)
    return clean + noise, clean


def _train_epochs(folder: Path, options: DnCNNOptions, data: _TrainingData, model: DnCNN, start: int,
                  state: dict | None, device: torch.device) -> None:
    iters = -(-len(data.clean) // options.batch_size)
    optimizer, scheduler = optimizer_and_scheduler(model, options.lr, options.batch_size, iters)
    loss_log = np.zeros(options.epochs)
    if state is not None:
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        saved = state["loss_log"].numpy().astype(np.float64)[: options.epochs]
        loss_log[: len(saved)] = saved  # a run may be resumed with more epochs than it started with
    criterion = nn.MSELoss(reduction="mean")
    bar = tqdm(range(start, options.epochs), desc=f"training {folder.name}", initial=start, total=options.epochs)
    for epoch in bar:
        began = time.perf_counter()
        generator = torch.Generator().manual_seed(item_seed(options.seed, epoch, 0))
        order = torch.randperm(len(data.clean), generator=generator)
        model.train()
        total = torch.zeros((), device=device)
        for i, batch_index in enumerate(order.split(options.batch_size)):
            noisy, clean = (t.to(device) for t in _noisy_batch(data, batch_index, options, generator))
            optimizer.zero_grad(set_to_none=True)
            loss = criterion(model(noisy - SHIFT), noisy - clean)
            loss.backward()
            optimizer.step()
            scheduler.step(epoch + i / iters)
            total += loss.detach()
        loss_log[epoch] = total.item() / iters
        imageio.torch_save(folder / checkpoint_name(epoch), paper_state_dict(model))
        imageio.write_npy(folder / LOSS_FILE, loss_log)
        imageio.torch_save(folder / STATE_FILE, {"epoch": epoch, "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
                                                 "loss_log": torch.from_numpy(loss_log.copy())})
        bar.set_postfix(loss=f"{loss_log[epoch]:.6f}", s_per_epoch=f"{time.perf_counter() - began:.2f}")


def train_denoiser(options: DnCNNOptions, root: Path, device: torch.device) -> Path:
    """Train into a new `net_data/DnCNN_<experiment>_<ID>/` (inputs are checked first); returns the folder."""
    options.check()
    experiment = Experiment(options.experiment, root)
    data = _load_training_data(options, experiment)
    torch.manual_seed(options.seed)
    model = build_denoiser(options.dncnn_layers).to(device)
    folder = create_run_dir(root, RUN_PREFIX + options.experiment)
    options.save(folder)
    print(f"{folder}: {len(data.clean)} training images, {options.noise} noise, device {device}")
    _train_epochs(folder, options, data, model, 0, None, device)
    return folder


def resume_denoiser(folder: Path, device: torch.device, epochs: int | None = None) -> Path:
    """Continue an interrupted run from its last complete epoch, with the options it was started with
    (`epochs`, when given, extends the run and is recorded in its options)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise BIGPriorError(f"--resume {folder}: folder not found")
    options = DnCNNOptions.load(folder)
    if epochs is not None and epochs != options.epochs:
        options.epochs = epochs
        options.check()
        options.save(folder)
    experiment = Experiment(options.experiment, folder.resolve().parent.parent)
    data = _load_training_data(options, experiment)
    torch.manual_seed(options.seed)
    model = build_denoiser(options.dncnn_layers).to(device)
    state, start = None, 0
    if (folder / STATE_FILE).is_file():
        state = torch.load(folder / STATE_FILE, map_location=device, weights_only=True)
        last = int(state["epoch"])
        load_fusion_state_dict(model, load_checkpoint(folder / checkpoint_name(last), device), str(folder / checkpoint_name(last)))
        start = last + 1
    print(f"{folder}: resuming at epoch {start} of {options.epochs}")
    if start < options.epochs:
        _train_epochs(folder, options, data, model, start, state, device)
    return folder


def chosen_test_epoch(options: DnCNNOptions, root: Path) -> int:
    train_images = len(split_indices(Experiment(options.experiment, root), options.train_count)[0])
    period = restart_period(-(-train_images // options.batch_size), options.batch_size)
    return select_test_epoch(options.test_epoch_rule, options.epochs, period)


def evaluate_denoiser(folder: Path, epoch: int | None, device: torch.device, batch_size: int = 4) -> dict:
    """Denoise the test images with the run's checkpoint of `epoch` (None: the epoch its rule picks),
    write `DnCNNoutput/{i}.png`, and the run's `MSE.npy` and `metrics.json`; returns the metrics."""
    folder = Path(folder)
    if not folder.is_dir():
        raise BIGPriorError(f"{folder}: DnCNN run folder not found")
    options = DnCNNOptions.load(folder)
    root = folder.resolve().parent.parent
    experiment = Experiment(options.experiment, root)
    epoch = chosen_test_epoch(options, root) if epoch is None else epoch
    model = build_denoiser(options.dncnn_layers).to(device)
    checkpoint = folder / checkpoint_name(epoch)
    load_fusion_state_dict(model, load_checkpoint(checkpoint, device), str(checkpoint))
    model.eval()
    _, indices = split_indices(experiment, options.train_count)
    out_dir = experiment.method_dir(METHOD)
    rows = []
    with torch.no_grad():
        for start in tqdm(range(0, len(indices), batch_size), desc=f"denoising with {folder.name} epoch {epoch}"):
            batch = indices[start : start + batch_size]
            noisy = torch.stack([experiment.read_observation(i) for i in batch]).to(device)
            out = denoise(model, noisy).cpu()
            for k, index in enumerate(batch):
                gt = imageio.read_rgb(experiment.gt_path(index))
                saved = imageio.uint8_from_float(out[k]).transpose(1, 2, 0)
                imageio.write_png(out_dir / f"{index}.png", saved)
                rows.append({"index": index, "mse": metrics.mse(imageio.chw_to_hwc(out[k]), gt), "psnr_png": metrics.psnr(saved, gt)})
    imageio.write_npy(folder / "MSE.npy", np.array([r["mse"] for r in rows]))
    summary = {
        "experiment": options.experiment,
        "run": folder.name,
        "epoch": epoch,
        "test_images": [r["index"] for r in rows],
        "mean": {"psnr": float(np.mean([metrics.psnr_from_mse(r["mse"]) for r in rows])),
                 "psnr_png": float(np.mean([r["psnr_png"] for r in rows]))},
        "images": rows,
    }
    imageio.write_json(folder / METRICS_FILE, summary)
    imageio.write_text(out_dir / ARGS_FILE, json.dumps({**asdict(options), "run": folder.name, "test_epoch": epoch}, indent=2))
    print(f"{folder.name} epoch {epoch}: DnCNN PSNR {summary['mean']['psnr']:.2f} dB "
          f"({summary['mean']['psnr_png']:.2f} dB on the saved PNGs) over {len(rows)} test images\noutputs: {out_dir}")
    return summary
