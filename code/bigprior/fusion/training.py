"""Training and testing loops of the fusion stage, as the paper ran them.

Training: MSE(out, gt) + phi_weight * |mean(phi)| (the MSE on the model's shifted images, see
`BIGPriorFusion.training_outputs`), Adam and the release's cosine schedule with warm restarts
(`run.EpochTrainer`). The data sit on the device; an epoch's shuffle, crops and (with `augment`) one
flip / quarter turn per batch, the same for its observation, ground truth and prior, come from a
generator seeded by (seed, epoch). With `holdout` N, the last N training images are not trained on:
after training each epoch's checkpoint is scored on them (`holdout.json`) and the best is tested. Each epoch writes `net_<epoch>.pth` (paper layout), `train_loss.npy` and
`train_state.pth`, so an interrupted run resumes from its last complete epoch with the result it
would have had uninterrupted.

Testing: per test image, the fused output and phi are saved as PNGs (clamped by the 8-bit
conversion) and the paper's metric files are computed on the *unclamped* output, as the release did
(its clamp call discarded its result).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..progress import progress_bar
from .. import imageio, metrics
from ..errors import BIGPriorError
from ..experiment import (
    AUC_FILE, METRICS_FILE, MSE_FILE, NET_DATA_DIR, PHI_MEAN_FILE, PRIOR_AUC_FILE, PRIOR_MSE_FILE, SHARES_ARRAY_SUFFIX, SHARES_SUFFIX,
    Experiment,
)
from ..run import (
    BatchLoss, EpochReport, EpochTrainer, Run, chosen_test_epoch, random_crop, read_holdout_scores, write_holdout_scores,
)
from ..runtime import memory_format, numeric_mode
from ..scoring import score_image
from ..restoration import GAN_PRIOR, SourceKind, kind_shares, share_picture, source_of
from .data import FusionData, load_fusion_data, source_names
from .geometry import random_dihedral
from .loading import load_fusion_run, load_fusion_state_dict, paper_state_dict
from .networks import FusionNetwork, MultiSourceFusion, build_fusion_model
from .options import FusionOptions
from .spec import TrainingScale


def _build_model(options: FusionOptions) -> FusionNetwork:
    torch.manual_seed(options.seed)  # the initial weights: the same in train() and in resume()
    return build_fusion_model(options.spec())


def training_split(experiment: Experiment, options: FusionOptions) -> tuple[list[int], list[int], list[int]]:
    """(trained, held out, test) image indices: the last `holdout` of 0..train_count-1 are held out."""
    train_indices, test_indices = experiment.split(options.train_count)
    kept = len(train_indices) - options.holdout
    return train_indices[:kept], train_indices[kept:], test_indices


def fusion_batch_loss(model: FusionNetwork, data: FusionData, options: FusionOptions,
                      autocast: Callable) -> BatchLoss:
    """The loss of one batch (indices on the data's device): crop, fuse under `autocast`, MSE in float32."""
    criterion = nn.MSELoss(reduction="mean")
    layout = memory_format(options.precision)

    def batch_loss(batch_index: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        batch = data.batch(batch_index)
        if options.crop_size:
            batch = random_crop(batch, options.crop_size, generator)
        if options.augment:
            batch = random_dihedral(batch, generator)
        x, gt, sources, *mask = (t.contiguous(memory_format=layout) if t.dim() == 4 else t.contiguous() for t in batch)
        with autocast():
            out, target, phi = model.loss_outputs(x, sources, gt, *mask)
        loss = criterion(out.float(), target)
        if options.phi_weight > 0:
            loss = loss + options.phi_weight * phi.float().mean().abs()
        return loss

    return batch_loss


def fit(trainer: EpochTrainer, data: FusionData, options: FusionOptions, device: torch.device,
         on_epoch_end: Callable[[EpochReport], None] | None = None) -> None:
    """Train from the trainer's next epoch to the last, in the numeric mode and layout of `precision`."""
    model = trainer.model
    model.to(memory_format=memory_format(options.precision))
    with numeric_mode(options.precision, device) as autocast:
        trainer.fit(fusion_batch_loss(model, data, options, autocast), on_epoch_end)
    model.to(memory_format=torch.contiguous_format)


def fusion_trainer(run: Run, options: FusionOptions, data: FusionData, device: torch.device) -> EpochTrainer:
    """A freshly initialised network of `options` (seeded; a multi-source fusion starting as its best source on
    the training images) with its epoch trainer."""
    model = _build_model(options).to(device)
    if isinstance(model, MultiSourceFusion):
        model.start_with(best_training_source(data))
    return EpochTrainer(run, model, len(data), options, device, (paper_state_dict, load_fusion_state_dict))


def best_training_source(data: FusionData) -> int:
    """The blend's source (0: the observation, k: data.sources[k - 1]) with the lowest mean squared error on the
    training images; with masks, the error inside the holes, where the observation has no data (outside them
    the classical sources are the observation's own pixels)."""
    where = data.mask if data.mask is not None else torch.ones_like(data.gt[:, :1])
    candidates = [data.sources[:, k] for k in range(data.sources.shape[1])]
    if data.mask is None:
        candidates.insert(0, data.x)
    errors = [float((((image - data.gt) ** 2) * where).sum() / where.sum()) for image in candidates]
    return min(range(len(errors)), key=errors.__getitem__) + (data.mask is not None)


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
    options = options.with_scale(TrainingScale.of_experiment(experiment))
    train_indices, _, test_indices = training_split(experiment, options)
    data = load_fusion_data(experiment, train_indices, options.spec(), workers, desc="loading training images").to(device)
    load_fusion_data(experiment, test_indices, options.spec(), workers, desc="checking test images")  # fail now, not after training
    run = Run.create(root / NET_DATA_DIR, options.experiment, options)
    trainer = fusion_trainer(run, options, data, device)
    print(f"{run.folder}: {len(data)} training images, {sum(p.numel() for p in trainer.model.parameters())} parameters, device {device}")
    fit(trainer, data, options, device, on_epoch_end)
    return run.folder


def resume(
    folder: Path, device: torch.device, workers: int = 4, on_epoch_end: Callable[[EpochReport], None] | None = None
) -> Path:
    """Continue an interrupted run from its last complete epoch, with the options it was started with."""
    run = Run.open(folder)
    options = FusionOptions.load(run.folder)
    experiment = Experiment(options.experiment, run.workspace)
    train_indices, _, _ = training_split(experiment, options)
    data = load_fusion_data(experiment, train_indices, options.spec(), workers, desc="loading training images").to(device)
    trainer = fusion_trainer(run, options, data, device)
    start = trainer.resume()
    print(f"{run.folder}: resuming at epoch {start} of {options.epochs}")
    if start < options.epochs:
        fit(trainer, data, options, device, on_epoch_end)
    return run.folder


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
    self_ensemble: bool | None = None,
) -> TestResult:
    """Test run `folder` at `epoch` on its experiment's test images (or those of `test_data`), with or
    without self-ensemble (None: as the run's options say). A run with held-out images records their
    scores per epoch in its metrics.json too."""
    run = Run.open(folder, "")
    options = FusionOptions.load(run.folder)
    model_experiment = Experiment(options.experiment, run.workspace)
    ood = test_data not in ("", "Default", options.experiment)
    data_experiment = Experiment(test_data, model_experiment.root) if ood else model_experiment
    if data_experiment.degradation.observation_channels != model_experiment.degradation.observation_channels:
        raise BIGPriorError(f"--test_data {test_data}: its observations do not have the channels the model of {options.experiment} takes")
    options = replace(options, self_ensemble=options.self_ensemble if self_ensemble is None else self_ensemble)
    model = load_fusion_run(run.folder, epoch, device).model
    model.self_ensemble = options.self_ensemble
    _, test_indices = data_experiment.split(options.train_count)
    data = load_fusion_data(data_experiment, test_indices, options.spec(), workers, desc="loading test images")

    out_dir = model_experiment.output_dir(ood)
    metric_dir = run.folder / f"ood_{test_data}" if ood else run.folder
    metric_dir.mkdir(parents=True, exist_ok=True)
    # OURargs.txt of the outputs names the run they come from
    tested = {"test": True, "test_model": options.test_model if run.id is None else run.id, "test_epoch": epoch, "test_data": test_data}
    FusionOptions(**{**options.__dict__, **tested}).save(out_dir)

    color = model_experiment.degradation.color_metrics
    rows, pixels = _test_images(model, data, out_dir, options.precision, device, batch_size, color,
                                desc=f"testing {run.folder.name} epoch {epoch}")

    write_release_metric_files(metric_dir, rows, color)
    summary = _metrics_document(options, run.folder, epoch, epoch_rule, data_experiment.name, rows)
    summary["calibration"] = _calibration_summary(pixels) if pixels else None
    if options.holdout:
        summary["holdout"] = {"images": training_split(model_experiment, options)[1], "psnr": read_holdout_scores(run.folder)}
    imageio.write_json(metric_dir / METRICS_FILE, summary)
    print(format_summary(summary, out_dir, metric_dir / METRICS_FILE))
    return TestResult(run.folder, epoch, summary)


def write_release_metric_files(metric_dir: Path, rows: list[dict], color: bool) -> None:
    """The release's per-image metric files (MSE.npy, MSE_GAN.npy, Mphi.npy, AUC.npy, AUC_GAN.npy; those
    of the prior only where the fusion has one), in test-image order."""
    def column(values: list[float]) -> np.ndarray:
        return np.array(values, dtype=np.float64)

    prior = GAN_PRIOR.name
    imageio.write_npy(metric_dir / MSE_FILE, column([r["mse"] for r in rows]))
    if prior in rows[0]:
        imageio.write_npy(metric_dir / PRIOR_MSE_FILE, column([r["prior_mse"] for r in rows]))
    imageio.write_npy(metric_dir / PHI_MEAN_FILE, column([r["bigprior"]["phi_mean"] for r in rows]))
    if color:
        imageio.write_npy(metric_dir / AUC_FILE, column([r["bigprior"]["auc"] for r in rows]))
        if prior in rows[0]:
            imageio.write_npy(metric_dir / PRIOR_AUC_FILE, column([r[prior]["auc"] for r in rows]))


@dataclass
class FusedBatch:
    """One batch of test images fused without gradients (float32): inputs, output and the sources' shares."""

    indices: list[int]
    x: torch.Tensor
    gt: torch.Tensor
    sources: torch.Tensor
    mask: torch.Tensor | None
    out: torch.Tensor
    shares: torch.Tensor  # (B, S, C, H, W)


def _fused_batches(model: FusionNetwork, data: FusionData, precision: str, device: torch.device, batch_size: int,
                   desc: str) -> Iterator[FusedBatch]:
    """Each batch of `data`, fused."""
    with torch.no_grad(), numeric_mode(precision, device) as autocast:
        for start in progress_bar(range(0, len(data), batch_size), desc=desc):
            x, gt, sources, *mask = (t.to(device) for t in data.batch(slice(start, start + batch_size)))
            with autocast():
                out, shares = model.fuse(x, sources, *mask)
            yield FusedBatch(data.indices[start : start + batch_size], x, gt, sources, mask[0] if mask else None,
                             out.float(), shares.float())


def score_holdout(folder: Path, device: torch.device, workers: int = 4, batch_size: int = 4) -> dict[int, float]:
    """Score every saved epoch of a run with held-out images on them (mean PSNR per image, the
    unclamped output, as the test), writing `holdout.json` after each epoch; epochs already scored
    there are kept (a rerun does only the missing ones). Returns epoch -> PSNR."""
    run = Run.open(folder, "")
    options = FusionOptions.load(run.folder)
    experiment = Experiment(options.experiment, run.workspace)
    _, held_out, _ = training_split(experiment, options)
    data = load_fusion_data(experiment, held_out, options.spec(), workers, desc="loading held-out images")
    scores = read_holdout_scores(run.folder)
    for epoch in (e for e in run.saved_epochs() if e not in scores):
        model = load_fusion_run(run.folder, epoch, device).model
        mse = [((b.out - b.gt) ** 2).flatten(1).mean(1) for b in
               _fused_batches(model, data, options.precision, device, batch_size, f"held-out epoch {epoch}")]
        scores[epoch] = float(np.mean(metrics.psnr_from_mse(torch.cat(mse).double().cpu().numpy())))
        write_holdout_scores(run.folder, held_out, scores)
    return read_holdout_scores(run.folder)


def _test_images(model: FusionNetwork, data: FusionData, out_dir: Path, precision: str, device: torch.device,
                 batch_size: int, color: bool, desc: str) -> tuple[list[dict], list[tuple[np.ndarray, np.ndarray]]]:
    """Fuse the test images in batches, write each output and phi map (and, with several sources, the map
    of where each pixel comes from) as PNGs; returns the metrics of each image and its calibration pixels
    (the generative share, the prior's advantage over every other source)."""
    spec = model.spec
    sources = [source_of(name) for name in source_names(spec)]
    rows: list[dict] = []
    pixels: list[tuple[np.ndarray, np.ndarray]] = []
    for b in _fused_batches(model, data, precision, device, batch_size, desc):
        for k, index in enumerate(b.indices):
            shares = b.shares[k].permute(0, 2, 3, 1).cpu().numpy()  # S x H x W x C
            images = [imageio.chw_to_hwc(s).astype(np.float64) for s in b.sources[k]]
            x, gt = imageio.chw_to_hwc(b.x[k]), imageio.chw_to_hwc(b.gt[k]).astype(np.float64)
            phi = shares.sum(axis=0)
            rows.append(_image_metrics(index, imageio.chw_to_hwc(b.out[k]).astype(np.float64), phi, gt,
                                       dict(zip((s.name for s in sources), images)), color))
            kinds = kind_shares(sources, shares)
            rows[-1]["bigprior"].update({f"{kind.value}_share": float(share.mean()) for kind, share in kinds.items()})
            generative = kinds[SourceKind.GENERATIVE]
            if any(s.kind is SourceKind.GENERATIVE for s in sources):
                others = [x] + [image for s, image in zip(sources, images) if s.kind is not SourceKind.GENERATIVE]
                prior = next(image for s, image in zip(sources, images) if s.kind is SourceKind.GENERATIVE)
                pixels.append(metrics.calibration_pixels(generative, metrics.source_advantage(others, prior, gt)))
            imageio.write_png(out_dir / f"{index}.png", imageio.uint8_from_float(b.out[k]).transpose(1, 2, 0))
            imageio.write_png(out_dir / f"{index}_phi.png", imageio.uint8_from_float(np.broadcast_to(phi, (*phi.shape[:2], 3))))
            if spec.sources:
                imageio.write_png(out_dir / f"{index}{SHARES_SUFFIX}", share_picture(kinds))
                imageio.write_npy(out_dir / f"{index}{SHARES_ARRAY_SUFFIX}", shares.astype(np.float16))
    return rows, pixels


def _image_metrics(index: int, out: np.ndarray, phi: np.ndarray, gt: np.ndarray, sources: dict[str, np.ndarray],
                   color: bool) -> dict:
    """One test image's row: the MSEs of the release's metric files and the registered scores of each
    source and of BIGPrior (`bigprior.scoring`: PSNR and AuC of the unclamped output, SSIM clamped),
    with the PSNR of the clamped output and phi's statistics."""
    fused = score_image(out, gt, color_metrics=color)
    fused["psnr_clamped"] = metrics.psnr(np.clip(out, 0, 1), gt)
    fused.update(metrics.phi_statistics(phi))
    row = {"index": index, "mse": metrics.mse(out, gt), "bigprior": fused}
    for name, image in sources.items():
        row[name] = score_image(image, gt, color_metrics=color)
    if GAN_PRIOR.name in sources:
        row["prior_mse"] = metrics.mse(sources[GAN_PRIOR.name], gt)
    return row


def _calibration_summary(pixels: list[tuple[np.ndarray, np.ndarray]]) -> dict:
    """`metrics.calibration` of the test images' pooled calibration pixels, as JSON numbers."""
    phi, advantage = (np.concatenate(parts) for parts in zip(*pixels))
    result = metrics.calibration(phi, advantage)
    return {
        "pixels": result.pixels,
        "pearson_phi_advantage": result.pearson,
        "roc_auc": result.roc.auc,
        "prior_better_share": result.prior_better_share,
        "phi_where_prior_better": result.phi_where_prior_better,
        "phi_where_observation_better": result.phi_where_observation_better,
    }


CONVENTIONS = {
    "psnr": "10 log10(1 / MSE) per image of the UNCLAMPED fused output in [0, 1], averaged over images "
    "(the release's MSE.npy convention)",
    "psnr_clamped": "the same on the output clamped to [0, 1], i.e. what the saved 8-bit PNG shows up to rounding",
    "ssim": "scikit-image SSIM of the output clamped to [0, 1]",
    "auc": "colorization AuC on the unclamped output (the release's AUC.npy convention)",
    "phi": "mean and standard deviation of the 3-channel phi map per image (unclamped)",
    metrics.PHI_OUTSIDE_KEY: "share of phi's values (every channel of every pixel) outside [0, 1]",
    "calibration": "phi (mean over channels) against the prior's advantage |x - gt| - |g - gt| (Gaussian-smoothed, "
    "metrics.prior_advantage), pixels of every test image pooled (metrics.calibration_pixels): Pearson r, ROC AUC "
    "of phi detecting advantage > 0, mean phi where the prior / the observation is better",
}


def _metrics_document(options: FusionOptions, folder: Path, epoch: int, rule: str, data: str, rows: list[dict]) -> dict:
    sides = [key for key in rows[0] if isinstance(rows[0][key], dict)]  # each source's scores, then BIGPrior's
    images = [{"index": r["index"], **{side: r[side] for side in sides}} for r in rows]
    mean = {side: {key: float(np.mean([im[side][key] for im in images])) for key in images[0][side]} for side in sides}
    return {
        "experiment": options.experiment,
        "run": folder.name,
        "epoch": epoch,
        "epoch_rule": rule,
        "self_ensemble": options.self_ensemble,
        "sources": list(options.spec().sources),
        "test_data": data,
        "test_images": [r["index"] for r in rows],
        "conventions": CONVENTIONS,
        "mean": mean,
        "images": images,
    }


def format_summary(summary: dict, out_dir: Path, metrics_path: Path) -> str:
    """The test's table: PSNR, SSIM (and AuC) of each source and of BIGPrior, phi, the shares, calibration."""
    means, fused = summary["mean"], summary["mean"]["bigprior"]
    indices, calibration = summary["test_images"], summary["calibration"]
    has_auc = "auc" in fused
    lines = [
        f"{summary['run']} epoch {summary['epoch']} on {summary['test_data']}: {len(indices)} test images ({indices[0]}..{indices[-1]})",
        f"{'':12s} {'PSNR':>7s} {'SSIM':>7s}" + (f" {'AuC':>7s}" if has_auc else ""),
    ]
    for side, scores in means.items():
        title = "BIGPrior" if side == "bigprior" else side
        lines.append(f"{title:12s} {scores['psnr']:7.2f} {scores['ssim']:7.4f}" + (f" {scores['auc']:7.2f}" if has_auc else ""))
    lines += [
        f"mean phi {fused['phi_mean']:.3f} (std within images {fused['phi_std']:.3f}), outside [0, 1] "
        f"{100 * fused[metrics.PHI_OUTSIDE_KEY]:.2f}% of values; PSNR of the clamped output {fused['psnr_clamped']:.2f}",
        "shares: " + ", ".join(f"{kind.value} {fused[f'{kind.value}_share']:.3f}" for kind in SourceKind),
    ]
    if calibration is not None:
        lines.append(f"calibration: r(generative share, prior advantage) {calibration['pearson_phi_advantage']:.3f}, "
                     f"ROC AUC {calibration['roc_auc']:.3f}")
    lines += [f"outputs: {out_dir}", f"metrics: {metrics_path}"]
    return "\n".join(lines)


def test_after_training(folder: Path, device: torch.device, workers: int = 4, batch_size: int = 4) -> TestResult:
    """Test a finished run at the epoch its `test_epoch_rule` picks (fixed before training; the
    holdout rule first scores the epochs on the held-out training images, never on the test images)."""
    options = FusionOptions.load(Run.open(folder, "").folder)
    scores = score_holdout(folder, device, workers, batch_size) if options.holdout else None
    return evaluate(folder, chosen_test_epoch(options, scores), device, "Default", workers, batch_size,
                    epoch_rule=options.test_epoch_rule)
