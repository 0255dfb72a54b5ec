"""The DnCNN denoiser baseline of the blind-denoising experiments (the paper's `code/train_dncnn.py`).

A 17-layer DnCNN (`bigprior.fusion.networks.DnCNN`, the network behind phi) learns the noise of an
image, D(x) ~ x - clean, on the 250 training images of a `denblind_<dataset>` experiment; the
denoised test image is x - D(x), saved as `inter_data/<experiment>/DnCNNoutput/{i}.png` for the
report. Like the fusion model, the network sees images shifted to [-0.5, 0.5] (`Denoiser`), and it
is trained with the release's epoch recipe (`run.EpochTrainer`: Adam, cosine schedule with warm
restarts), in the numeric mode of `--precision`.

Noise (`noise`): `fresh` (default) draws new blind AWGN for every batch from the clean training
images, sigma uniform in the integers sigma_min..sigma_max per image, from a generator seeded by
(seed, epoch); `stored` trains on the experiment's saved noisy inputs, as the release did. The
images sit on the device; fresh noise is drawn on the CPU (the same on every device) and sent
through pinned memory.

Runs live in `net_data/DnCNN_<experiment>_<ID>/`: `DnCNNargs.txt` (the options), `net_<epoch>.pth`
(state dicts with the release's keys `module.dncnn.{i}.*`), `train_loss.npy`, `train_state.pth`
(to resume), and after the test `MSE.npy` (unclamped output, images in [0, 1]) and `metrics.json`.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..progress import progress_bar
from .. import imageio, metrics
from ..degradations import BlindAWGN, degradation_class
from ..errors import BIGPriorError
from ..experiment import METRICS_FILE, MSE_FILE, NET_DATA_DIR, Experiment, split_experiment_name
from ..fusion.loading import load_fusion_state_dict, paper_state_dict
from ..fusion.networks import INPUT_SHIFT, DnCNN, init_paper_weights
from ..run import BatchLoss, EpochTrainer, Run, RunOptions, check_epoch_rule, chosen_test_epoch, load_weights, random_crop
from ..runtime import check_precision, numeric_mode, upload

METHOD = "DnCNN"  # outputs in inter_data/<experiment>/DnCNNoutput/
RUN_PREFIX = "DnCNN_"  # runs in net_data/DnCNN_<experiment>_<ID>/
ARGS_FILE = "DnCNNargs.txt"
NOISE_SOURCES = ("fresh", "stored")


@dataclass
class DnCNNOptions(RunOptions):
    FILE = ARGS_FILE

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
    precision: str = "default"  # default (PyTorch's), fp32 (strict, deterministic on CUDA), bf16 (autocast)

    def check(self) -> None:
        if not self.experiment:
            raise BIGPriorError("--experiment is required (e.g. --experiment denblind_bedroom)")
        if not degradation_class(split_experiment_name(self.experiment)[0]).records_sigma:
            raise BIGPriorError(f"--experiment {self.experiment}: the DnCNN baseline is for denoising experiments (denblind_*)")
        if self.batch_size < 1 or self.epochs < 1 or self.lr <= 0 or self.crop_size < 0:
            raise BIGPriorError("--batch_size and --epochs must be at least 1, --lr positive, --crop_size 0 or positive")
        BlindAWGN(self.sigma_min, self.sigma_max)  # checks the range
        if self.noise not in NOISE_SOURCES:
            raise BIGPriorError(f"--noise must be one of {', '.join(NOISE_SOURCES)}, got {self.noise!r}")
        check_epoch_rule(self.test_epoch_rule)
        check_precision(self.precision)


class Denoiser(DnCNN):
    """The residual network D (3 -> 3 channels) on images in [0, 1]: `forward` is the denoised x - D(x)
    (unclamped), `residual` the estimated noise D(x). State-dict keys are DnCNN's."""

    def residual(self, noisy: torch.Tensor) -> torch.Tensor:
        return super().forward(noisy - INPUT_SHIFT)

    def forward(self, noisy: torch.Tensor) -> torch.Tensor:
        return noisy - self.residual(noisy)


def build_denoiser(layers: int) -> Denoiser:
    """A denoiser with the release's initialisation."""
    model = Denoiser(3, out_channels=3, layers=layers)
    init_paper_weights(model)
    return model


@dataclass
class _TrainingData:
    clean: torch.Tensor  # N x 3 x H x W
    noisy: torch.Tensor | None  # the stored observations, for noise="stored"

    def to(self, device: torch.device) -> _TrainingData:
        return _TrainingData(self.clean.to(device), None if self.noisy is None else self.noisy.to(device))


def _stack_same_size(images: list[torch.Tensor], paths: list[Path]) -> torch.Tensor:
    """One tensor of equally sized images; the first image of another size is an error naming its file."""
    for image, path in zip(images, paths):
        if image.shape != images[0].shape:
            raise BIGPriorError(f"{path}: {image.shape[-1]}x{image.shape[-2]} with {image.shape[0]} channels, "
                                f"{paths[0].name} is {images[0].shape[-1]}x{images[0].shape[-2]} with {images[0].shape[0]} "
                                "(training images must all be of one size)")
    return torch.stack(images)


def _load_training_data(options: DnCNNOptions, experiment: Experiment) -> _TrainingData:
    train_indices, test_indices = experiment.split(options.train_count)
    clean = _stack_same_size([experiment.read_gt(i) for i in progress_bar(train_indices, desc="loading training images", leave=False)],
                             [experiment.gt_path(i) for i in train_indices])
    noisy = None
    if options.noise == "stored":
        noisy = _stack_same_size([clean[0], *(experiment.read_observation(i) for i in train_indices)],
                                 [experiment.gt_path(train_indices[0]), *(experiment.input_path(i) for i in train_indices)])[1:]
    for i in test_indices:  # fail now, not after training
        if not experiment.input_path(i).is_file():
            raise BIGPriorError(f"{experiment.input_path(i)}: file not found")
    return _TrainingData(clean, noisy)


def denoiser_batch_loss(model: Denoiser, data: _TrainingData, options: DnCNNOptions, autocast) -> BatchLoss:
    """The loss of one batch (indices on the data's device): MSE(D(noisy), noisy - clean), in float32."""
    criterion = nn.MSELoss(reduction="mean")

    def batch_loss(batch_index: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        noisy, clean = _noisy_batch(data, batch_index, options, generator)
        with autocast():
            residual = model.residual(noisy)
        return criterion(residual.float(), noisy - clean)

    return batch_loss


def _noisy_batch(
    data: _TrainingData, batch_index: torch.Tensor, options: DnCNNOptions, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """(noisy, clean) of one batch, cropped, with fresh or stored noise (drawn on the CPU)."""
    clean = data.clean[batch_index]
    if data.noisy is not None:
        noisy = data.noisy[batch_index]
        return random_crop((noisy, clean), options.crop_size, generator) if options.crop_size else (noisy, clean)
    if options.crop_size:
        (clean,) = random_crop((clean,), options.crop_size, generator)
    sigma = torch.randint(options.sigma_min, options.sigma_max + 1, (len(clean), 1, 1, 1), generator=generator)
    noise = torch.randn(clean.shape, generator=generator) * (sigma.float() / 255.0)
    return clean + upload(noise, clean.device), clean


def _fit(trainer: EpochTrainer, data: _TrainingData, options: DnCNNOptions, device: torch.device) -> None:
    with numeric_mode(options.precision, device) as autocast:
        trainer.fit(denoiser_batch_loss(trainer.model, data, options, autocast))


def _trainer(run: Run, options: DnCNNOptions, data: _TrainingData, device: torch.device) -> EpochTrainer:
    torch.manual_seed(options.seed)
    model = build_denoiser(options.dncnn_layers).to(device)
    return EpochTrainer(run, model, len(data.clean), options, device, (paper_state_dict, load_fusion_state_dict))


def train_denoiser(options: DnCNNOptions, root: Path, device: torch.device) -> Path:
    """Train into a new `net_data/DnCNN_<experiment>_<ID>/` (inputs are checked first); returns the folder."""
    options.check()
    data = _load_training_data(options, Experiment(options.experiment, root)).to(device)
    run = Run.create(root / NET_DATA_DIR, RUN_PREFIX + options.experiment, options)
    print(f"{run.folder}: {len(data.clean)} training images, {options.noise} noise, device {device}")
    _fit(_trainer(run, options, data, device), data, options, device)
    return run.folder


def resume_denoiser(folder: Path, device: torch.device, epochs: int | None = None) -> Path:
    """Continue an interrupted run from its last complete epoch, with the options it was started with
    (`epochs`, when given, extends the run and is recorded in its options)."""
    run = Run.open(folder)
    options = DnCNNOptions.load(run.folder)
    extended = epochs is not None and epochs != options.epochs
    if extended:
        options.epochs = epochs
        options.check()
    data = _load_training_data(options, Experiment(options.experiment, run.workspace)).to(device)
    trainer = _trainer(run, options, data, device)
    start = trainer.resume()
    if extended:
        options.save(run.folder)  # recorded once the run is known to continue
    print(f"{run.folder}: resuming at epoch {start} of {options.epochs}")
    if start < options.epochs:
        _fit(trainer, data, options, device)
    return run.folder


def evaluate_denoiser(folder: Path, epoch: int | None, device: torch.device, batch_size: int = 4) -> dict:
    """Denoise the test images with the run's checkpoint of `epoch` (None: the epoch its rule picks),
    write `DnCNNoutput/{i}.png`, and the run's `MSE.npy` and `metrics.json`; returns the metrics."""
    run = Run.open(folder, "")
    folder = run.folder
    options = DnCNNOptions.load(folder)
    experiment = Experiment(options.experiment, run.workspace)
    epoch = chosen_test_epoch(options) if epoch is None else epoch
    model = build_denoiser(options.dncnn_layers)
    load_fusion_state_dict(model, load_weights(run.checkpoint(epoch)), str(run.checkpoint(epoch)))
    model.to(device).eval()
    _, indices = experiment.split(options.train_count)
    out_dir = experiment.method_dir(METHOD)
    rows = []
    with torch.no_grad(), numeric_mode(options.precision, device) as autocast:
        for start in progress_bar(range(0, len(indices), batch_size), desc=f"denoising with {folder.name} epoch {epoch}"):
            batch = indices[start : start + batch_size]
            noisy = torch.stack([experiment.read_observation(i) for i in batch]).to(device)
            with autocast():
                out = model(noisy).float().cpu()
            for k, index in enumerate(batch):
                gt = imageio.read_rgb(experiment.gt_path(index))
                saved = imageio.uint8_from_float(out[k]).transpose(1, 2, 0)
                imageio.write_png(out_dir / f"{index}.png", saved)
                rows.append({"index": index, "mse": metrics.mse(imageio.chw_to_hwc(out[k]), gt), "psnr_png": metrics.psnr(saved, gt)})
    imageio.write_npy(folder / MSE_FILE, np.array([r["mse"] for r in rows]))
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
