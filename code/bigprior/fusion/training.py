"""Training and testing loops of the fusion stage, as the paper ran them.

Training: MSE(out, gt) + phi_weight * |mean(phi)|, Adam, CosineAnnealingWarmRestarts with
T_0 = round(4 * iterations_per_epoch / batch_size) stepped every iteration at `epoch + i / iters`,
images shifted to [-0.5, 0.5]. Each epoch writes `net_<epoch>.pth` (paper layout), `train_loss.npy`
and `train_state.pth` (optimizer, scheduler, log) so an interrupted run resumes from its last
complete epoch with the result it would have had uninterrupted (shuffles and crops are drawn from
a generator seeded by (seed, epoch)).

Testing: per test image, the fused output and phi are saved as PNGs (clamped by the 8-bit
conversion) and the paper's metric files are computed on the *unclamped* output, as the release did
(its clamp call discarded its result).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from .. import imageio, metrics
from ..errors import BIGPriorError
from ..experiment import Experiment, create_run_dir
from ..seeding import item_seed
from .data import TripletSet, load_triplets, split_indices
from .model import BIGPriorFusion, build_fusion_model, load_fusion_state_dict, paper_state_dict
from .options import FusionOptions

SHIFT = 0.5  # images enter the model in [-0.5, 0.5]
STATE_FILE = "train_state.pth"
LOSS_FILE = "train_loss.npy"
METRICS_FILE = "metrics.json"


def checkpoint_name(epoch: int) -> str:
    return f"net_{epoch}.pth"


def restart_period(iterations_per_epoch: int, batch_size: int) -> int:
    """The release's T_0 = round(4 * iters / batch_size) (16 epochs for 250 images, batch 8); at least 1."""
    return max(1, round(4 * iterations_per_epoch / batch_size))


def select_test_epoch(rule: str, epochs: int, period: int) -> int:
    """`last`: the final epoch (the release). `lr_min`: the last epoch that ends a cosine cycle, where
    the learning rate is at its minimum (15, 31, 47 of 50 epochs with T_0 = 16), else the final one."""
    if rule == "last":
        return epochs - 1
    ends = [e for e in range(epochs) if (e + 1) % period == 0]
    return ends[-1] if ends else epochs - 1


@contextlib.contextmanager
def precision_mode(precision: str, device: torch.device) -> Iterator[Callable[[], contextlib.AbstractContextManager]]:
    """Set the numeric mode for the loop; yields a factory of the autocast context for forward passes.

    default: PyTorch's defaults (on CUDA, convolutions may use TF32) with cuDNN autotuning.
    fp32: strict float32 — TF32 off and deterministic cuDNN algorithms, so a run is repeatable and
    equal to the plain float32 loop. bf16: autocast to bfloat16 (the loss is reduced in float32)."""
    backends = torch.backends
    saved = (backends.cudnn.allow_tf32, backends.cuda.matmul.allow_tf32, backends.cudnn.benchmark, backends.cudnn.deterministic)
    try:
        if precision == "fp32":
            backends.cudnn.allow_tf32 = backends.cuda.matmul.allow_tf32 = False
            backends.cudnn.benchmark, backends.cudnn.deterministic = False, True
        elif device.type == "cuda":
            backends.cudnn.benchmark = True
        if precision == "bf16":
            yield lambda: torch.autocast(device_type=device.type, dtype=torch.bfloat16)
        else:
            yield contextlib.nullcontext
    finally:
        (backends.cudnn.allow_tf32, backends.cuda.matmul.allow_tf32, backends.cudnn.benchmark,
         backends.cudnn.deterministic) = saved


def _memory_format(precision: str) -> torch.memory_format:
    return torch.channels_last if precision == "bf16" else torch.contiguous_format


@dataclass
class EpochReport:
    epoch: int
    loss: float
    seconds: float
    lr: float


def _random_crop(batch: tuple[torch.Tensor, ...], size: int, generator: torch.Generator) -> tuple[torch.Tensor, ...]:
    height, width = batch[0].shape[-2:]
    if size >= min(height, width):
        return batch
    top = int(torch.randint(0, height - size + 1, (1,), generator=generator))
    left = int(torch.randint(0, width - size + 1, (1,), generator=generator))
    return tuple(t[..., top : top + size, left : left + size] for t in batch)


def _build_model(options: FusionOptions, experiment: Experiment) -> BIGPriorFusion:
    return build_fusion_model(
        experiment.degradation.observation_channels, options.backbone, options.dncnn_layers, options.extend_input
    )


def _train_epochs(
    folder: Path,
    options: FusionOptions,
    data: TripletSet,
    model: BIGPriorFusion,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.CosineAnnealingWarmRestarts,
    loss_log: np.ndarray,
    start_epoch: int,
    device: torch.device,
    on_epoch_end: Callable[[EpochReport], None] | None,
) -> None:
    criterion = nn.MSELoss(reduction="mean")
    iters = -(-len(data) // options.batch_size)
    memory_format = _memory_format(options.precision)
    model.to(memory_format=memory_format)
    with precision_mode(options.precision, device) as autocast:
        bar = tqdm(range(start_epoch, options.epochs), desc=f"training {folder.name}", initial=start_epoch, total=options.epochs)
        for epoch in bar:
            start = time.perf_counter()
            generator = torch.Generator().manual_seed(item_seed(options.seed, epoch, 0))
            order = torch.randperm(len(data), generator=generator)
            model.train()
            total = torch.zeros((), device=device)
            for i, batch_index in enumerate(order.split(options.batch_size)):
                batch = (data.x[batch_index], data.gt[batch_index], data.prior[batch_index])
                if options.crop_size:
                    batch = _random_crop(batch, options.crop_size, generator)
                x, gt, prior = (t.to(device, non_blocking=True).sub(SHIFT).contiguous(memory_format=memory_format) for t in batch)
                optimizer.zero_grad(set_to_none=True)
                with autocast():
                    out, phi = model(x, prior)
                loss = criterion(out.float(), gt)
                if options.phi_weight > 0:
                    loss = loss + options.phi_weight * phi.float().mean().abs()
                loss.backward()
                optimizer.step()
                scheduler.step(epoch + i / iters)
                total += loss.detach()
            loss_log[epoch] = total.item() / iters
            seconds = time.perf_counter() - start
            imageio.torch_save(folder / checkpoint_name(epoch), paper_state_dict(model))
            imageio.write_npy(folder / LOSS_FILE, loss_log)
            imageio.torch_save(
                folder / STATE_FILE,
                {"epoch": epoch, "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
                 "loss_log": torch.from_numpy(loss_log.copy())},
            )
            bar.set_postfix(loss=f"{loss_log[epoch]:.5f}", s_per_epoch=f"{seconds:.2f}")
            if on_epoch_end is not None:
                on_epoch_end(EpochReport(epoch, float(loss_log[epoch]), seconds, optimizer.param_groups[0]["lr"]))
    model.to(memory_format=torch.contiguous_format)


def _optimizer_and_scheduler(model: nn.Module, options: FusionOptions, iters: int):
    optimizer = torch.optim.Adam(model.parameters(), lr=options.lr)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingWarmRestarts(optimizer, restart_period(iters, options.batch_size))
    return optimizer, scheduler


def train(
    options: FusionOptions,
    root: Path,
    device: torch.device,
    workers: int = 4,
    on_epoch_end: Callable[[EpochReport], None] | None = None,
) -> Path:
    """Train into a new `net_data/<experiment>_<ID>/`; every input is read and checked first, so a bad
    input leaves no run folder behind. Returns the run folder."""
    options.check()
    experiment = Experiment(options.experiment, root)
    train_indices, test_indices = split_indices(experiment, options.train_count)
    data = load_triplets(experiment, train_indices, workers, desc="loading training images").to(device)
    load_triplets(experiment, test_indices, workers, desc="checking test images")  # fail now, not after training
    torch.manual_seed(options.seed)
    model = _build_model(options, experiment).to(device)
    folder = create_run_dir(root, options.experiment)
    options.save(folder)
    iters = -(-len(data) // options.batch_size)
    optimizer, scheduler = _optimizer_and_scheduler(model, options, iters)
    print(f"{folder}: {len(data)} training images, {sum(p.numel() for p in model.parameters())} parameters, device {device}")
    _train_epochs(folder, options, data, model, optimizer, scheduler, np.zeros(options.epochs), 0, device, on_epoch_end)
    return folder


def _open_run(folder: Path, flag: str) -> tuple[FusionOptions, Experiment]:
    """A run folder's options and the experiment it belongs to (its workspace is two levels up)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise BIGPriorError(f"{flag}{folder}: run folder not found")
    options = FusionOptions.load(folder)
    return options, Experiment(options.experiment, folder.resolve().parent.parent)


def resume(
    folder: Path, device: torch.device, workers: int = 4, on_epoch_end: Callable[[EpochReport], None] | None = None
) -> Path:
    """Continue an interrupted run from its last complete epoch, with the options it was started with."""
    folder = Path(folder)
    options, experiment = _open_run(folder, "--resume ")
    train_indices, _ = split_indices(experiment, options.train_count)
    data = load_triplets(experiment, train_indices, workers, desc="loading training images").to(device)
    torch.manual_seed(options.seed)  # as train(): an interruption before the first epoch restarts identically
    model = _build_model(options, experiment).to(device)
    iters = -(-len(data) // options.batch_size)
    optimizer, scheduler = _optimizer_and_scheduler(model, options, iters)
    loss_log, start = np.zeros(options.epochs), 0
    state_path = folder / STATE_FILE
    if state_path.is_file():
        state = torch.load(state_path, map_location=device, weights_only=True)
        last = int(state["epoch"])
        load_fusion_state_dict(model, _load_checkpoint(folder / checkpoint_name(last), device), str(folder / checkpoint_name(last)))
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        loss_log, start = state["loss_log"].numpy().astype(np.float64), last + 1
    print(f"{folder}: resuming at epoch {start} of {options.epochs}")
    if start < options.epochs:
        _train_epochs(folder, options, data, model, optimizer, scheduler, loss_log, start, device, on_epoch_end)
    return folder


def _load_checkpoint(path: Path, device: torch.device) -> dict[str, torch.Tensor]:
    if not path.is_file():
        raise BIGPriorError(f"{path}: checkpoint not found")
    try:
        return torch.load(path, map_location=device, weights_only=True)
    except Exception as exc:  # torch raises several types for corrupt or foreign files
        raise BIGPriorError(f"{path}: not a readable PyTorch state dict ({exc.__class__.__name__})") from exc


# ---------------------------------------------------------------------------------------------
# testing


@dataclass
class TestResult:
    folder: Path
    epoch: int
    metrics: dict


def evaluate(
    folder: Path,
    epoch: int,
    device: torch.device,
    test_data: str = "Default",
    workers: int = 4,
    batch_size: int = 4,
    epoch_rule: str = "given",
) -> TestResult:
    """Test run `folder` at `epoch` on its experiment's test images (or those of `test_data`)."""
    folder = Path(folder)
    options, model_experiment = _open_run(folder, "")
    ood = test_data not in ("", "Default", options.experiment)
    data_experiment = Experiment(test_data, model_experiment.root) if ood else model_experiment
    if data_experiment.degradation.observation_channels != model_experiment.degradation.observation_channels:
        raise BIGPriorError(f"--test_data {test_data}: its observations do not have the channels the model of {options.experiment} takes")
    checkpoint = folder / checkpoint_name(epoch)
    state = _load_checkpoint(checkpoint, device)
    _, test_indices = split_indices(data_experiment, options.train_count)
    data = load_triplets(data_experiment, test_indices, workers, desc="loading test images")
    model = _build_model(options, model_experiment).to(device)
    load_fusion_state_dict(model, state, str(checkpoint))
    model.eval()

    out_dir = model_experiment.output_dir(ood)
    metric_dir = folder / f"ood_{test_data}" if ood else folder
    metric_dir.mkdir(parents=True, exist_ok=True)
    options_for_outputs = FusionOptions(**{**options.__dict__, "test": True, "test_epoch": epoch, "test_data": test_data})
    options_for_outputs.save(out_dir)

    color = model_experiment.degradation.color_metrics
    rows: list[dict] = []
    with torch.no_grad(), precision_mode(options.precision, device) as autocast:
        for start in tqdm(range(0, len(data), batch_size), desc=f"testing {folder.name} epoch {epoch}"):
            sl = slice(start, start + batch_size)
            x, gt, prior = (t[sl].to(device) for t in (data.x, data.gt, data.prior))
            with autocast():
                out, phi = model(x - SHIFT, prior - SHIFT)
            out, phi = out.float() + SHIFT, phi.float()
            for k, index in enumerate(data.indices[sl]):
                rows.append(_image_metrics(index, out[k], phi[k], gt[k], prior[k], color))
                imageio.write_png(out_dir / f"{index}.png", imageio.uint8_from_float(out[k]).transpose(1, 2, 0))
                imageio.write_png(out_dir / f"{index}_phi.png", imageio.uint8_from_float(phi[k]).transpose(1, 2, 0))

    column = lambda key: np.array([r[key] for r in rows], dtype=np.float64)  # noqa: E731
    imageio.write_npy(metric_dir / "MSE.npy", column("mse"))
    imageio.write_npy(metric_dir / "MSE_GAN.npy", column("prior_mse"))
    imageio.write_npy(metric_dir / "Mphi.npy", column("phi_mean"))
    if color:
        imageio.write_npy(metric_dir / "AUC.npy", column("auc"))
        imageio.write_npy(metric_dir / "AUC_GAN.npy", column("prior_auc"))
    summary = _metrics_document(options, folder, epoch, epoch_rule, data_experiment.name, rows, color)
    imageio.write_json(metric_dir / METRICS_FILE, summary)
    print(format_summary(summary, out_dir, metric_dir / METRICS_FILE))
    return TestResult(folder, epoch, summary)


def _image_metrics(index: int, out: torch.Tensor, phi: torch.Tensor, gt: torch.Tensor, prior: torch.Tensor, color: bool) -> dict:
    row = {
        "index": index,
        "mse": float(((out - gt) ** 2).mean()),
        "prior_mse": float(((prior - gt) ** 2).mean()),
        "phi_mean": float(phi.mean()),
        "phi_std": float(phi.std()),
    }
    out_np, gt_np, prior_np = (imageio.chw_to_hwc(t).astype(np.float64) for t in (out, gt, prior))
    clamped = np.clip(out_np, 0, 1)
    row["mse_clamped"] = metrics.mse(clamped, gt_np)
    row["ssim"] = metrics.ssim(clamped, gt_np)
    row["prior_ssim"] = metrics.ssim(prior_np, gt_np)
    if color:
        row["auc"] = metrics.auc(out_np, gt_np)
        row["prior_auc"] = metrics.auc(prior_np, gt_np)
    return row


CONVENTIONS = {
    "psnr": "10 log10(1 / MSE) per image of the UNCLAMPED fused output in [0, 1], averaged over images "
    "(the release's MSE.npy convention)",
    "psnr_clamped": "the same on the output clamped to [0, 1], i.e. what the saved 8-bit PNG shows up to rounding",
    "ssim": "scikit-image SSIM of the output clamped to [0, 1]",
    "auc": "colorization AuC on the unclamped output (the release's AUC.npy convention)",
    "phi": "mean and standard deviation of the 3-channel phi map per image (unclamped)",
}


def _metrics_document(options: FusionOptions, folder: Path, epoch: int, rule: str, data: str, rows: list[dict], color: bool) -> dict:
    def per_image(r: dict) -> dict:
        prior = {"psnr": metrics.psnr_from_mse(r["prior_mse"]), "ssim": r["prior_ssim"]}
        fused = {
            "psnr": metrics.psnr_from_mse(r["mse"]),
            "psnr_clamped": metrics.psnr_from_mse(r["mse_clamped"]),
            "ssim": r["ssim"],
            "phi_mean": r["phi_mean"],
            "phi_std": r["phi_std"],
        }
        if color:
            prior["auc"], fused["auc"] = r["prior_auc"], r["auc"]
        return {"index": r["index"], "prior": prior, "bigprior": fused}

    images = [per_image(r) for r in rows]
    mean = {
        side: {key: float(np.mean([im[side][key] for im in images])) for key in images[0][side]}
        for side in ("prior", "bigprior")
    }
    return {
        "experiment": options.experiment,
        "run": folder.name,
        "epoch": epoch,
        "epoch_rule": rule,
        "test_data": data,
        "test_images": [r["index"] for r in rows],
        "conventions": CONVENTIONS,
        "mean": mean,
        "images": images,
    }


def format_summary(summary: dict, out_dir: Path, metrics_path: Path) -> str:
    prior, fused = summary["mean"]["prior"], summary["mean"]["bigprior"]
    indices = summary["test_images"]
    has_auc = "auc" in fused
    lines = [
        f"{summary['run']} epoch {summary['epoch']} on {summary['test_data']}: {len(indices)} test images ({indices[0]}..{indices[-1]})",
        f"{'':10s} {'PSNR':>7s} {'SSIM':>7s}" + (f" {'AuC':>7s}" if has_auc else ""),
        f"{'prior':10s} {prior['psnr']:7.2f} {prior['ssim']:7.4f}" + (f" {prior['auc']:7.2f}" if has_auc else ""),
        f"{'BIGPrior':10s} {fused['psnr']:7.2f} {fused['ssim']:7.4f}" + (f" {fused['auc']:7.2f}" if has_auc else ""),
        f"mean phi {fused['phi_mean']:.3f} (std within images {fused['phi_std']:.3f}); PSNR of the clamped output {fused['psnr_clamped']:.2f}",
        f"outputs: {out_dir}",
        f"metrics: {metrics_path}",
    ]
    return "\n".join(lines)



def test_after_training(folder: Path, device: torch.device, workers: int = 4, batch_size: int = 4) -> TestResult:
    """Test a finished run at the epoch its `test_epoch_rule` picks (fixed before training)."""
    options, experiment = _open_run(folder, "")
    train_images = len(split_indices(experiment, options.train_count)[0])
    period = restart_period(-(-train_images // options.batch_size), options.batch_size)
    epoch = select_test_epoch(options.test_epoch_rule, options.epochs, period)
    return evaluate(folder, epoch, device, "Default", workers, batch_size, epoch_rule=options.test_epoch_rule)
