"""Time per training epoch of the fusion stage: the release's loop next to this project's loop.

The reference is the release's loop shape: batches gathered on the host and copied to the device
every iteration, a host sync (`loss.item()`) every iteration, in the numeric mode of the project's
default or strict fp32 loop (the same cuDNN autotuning, TF32 and determinism settings, so only the loop
shape differs). This project's loop keeps the data on the device, syncs once per epoch and optionally
runs bf16 autocast + channels_last.
Synthetic data of the paper's shape (250 images, 256x256, colorization: 1-channel x, 3-channel prior).
Both loops draw the same batch order, so the strict float32 mode (`precision=fp32`) must end with the
same weights as the reference run with TF32 off: the difference is printed.

    python benchmarks/fusion_epoch.py --device cuda                 # the paper's scale (GPU)
    python benchmarks/fusion_epoch.py --device cpu --images 16 --size 64 --epochs 2   # a CPU smoke run
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "code"))

from bigprior.fusion.data import FusionData  # noqa: E402
from bigprior.fusion import FusionSpec, build_fusion_model  # noqa: E402
from bigprior.fusion.options import FusionOptions  # noqa: E402
from bigprior.fusion.training import fit, fusion_trainer  # noqa: E402
from bigprior.run import EPOCH_STREAM, Run, restart_period  # noqa: E402
from bigprior.runtime import numeric_mode, resolve_device  # noqa: E402
from bigprior.seeding import item_seed  # noqa: E402


def synthetic(images: int, size: int, seed: int = 0) -> FusionData:
    g = torch.Generator().manual_seed(seed)
    gt = torch.rand(images, 3, size, size, generator=g)
    x = gt.mean(dim=1, keepdim=True)
    prior = (gt + 0.1 * torch.randn(gt.shape, generator=g)).clamp(0, 1)
    return FusionData.from_prior(list(range(images)), x, gt, prior)


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def reference_epochs(data: FusionData, options: FusionOptions, device: torch.device, strict: bool) -> tuple[list[float], dict]:
    """The release's loop: host batches copied each iteration, .item() each iteration, float32, in the
    project's numeric mode of `fp32` (strict) or `default`."""
    torch.manual_seed(options.seed)
    model = build_fusion_model(FusionSpec(observation_channels=1, layers=options.dncnn_layers)).to(device)
    iters = -(-len(data) // options.batch_size)
    optimizer = torch.optim.Adam(model.parameters(), lr=options.lr)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingWarmRestarts(optimizer, restart_period(iters, options.batch_size))
    criterion = nn.MSELoss()
    times = []
    with numeric_mode("fp32" if strict else "default", device):
        for epoch in range(options.epochs):
            sync(device)
            start = time.perf_counter()
            model.train()
            order = torch.randperm(len(data), generator=torch.Generator().manual_seed(item_seed(options.seed, epoch, EPOCH_STREAM)))
            for i, index in enumerate(order.split(options.batch_size)):
                x, gt, prior = (t[index].to(device) for t in (data.x, data.gt, data.sources[:, 0]))
                model.zero_grad()
                out, target, phi = model.training_outputs(x, prior, gt)
                loss = criterion(out, target) + options.phi_weight * abs(phi.mean())
                loss.backward()
                optimizer.step()
                scheduler.step(epoch + i / iters)
                loss.item()
            sync(device)
            times.append(time.perf_counter() - start)
    return times, {k: v.detach().cpu() for k, v in model.state_dict().items()}


def project_epochs(data: FusionData, options: FusionOptions, device: torch.device) -> tuple[list[float], dict]:
    times: list[float] = []
    with tempfile.TemporaryDirectory() as folder:
        trainer = fusion_trainer(Run(Path(folder)), options, data, device)
        fit(trainer, data.to(device), options, device, lambda report: times.append(report.seconds))
    return times, {k: v.detach().cpu() for k, v in trainer.model.state_dict().items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=0, help="CPU threads for torch (0: its default)")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--images", type=int, default=250)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--batch_size", type=int, default=8)
    parser.add_argument("--epochs", type=int, default=3, help="timed epochs per mode (the first is warm-up)")
    parser.add_argument("--layers", type=int, default=17)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    data = synthetic(args.images, args.size)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU ({torch.get_num_threads()} threads)"
    print(f"device: {name}; {args.images} images {args.size}x{args.size}, batch {args.batch_size}, DnCNN-{args.layers}")

    base = dict(experiment="col_synthetic", lr=0.01, batch_size=args.batch_size, phi_weight=1e-5,
                epochs=args.epochs, dncnn_layers=args.layers, seed=0)
    options = FusionOptions(**base)
    for strict in (False, True):
        times, state = reference_epochs(data, options, device, strict)
        label = "release-style loop, " + ("TF32 off" if strict else "default numerics")
        print(f"{label:44s} {np.median(times[1:] or times):8.3f} s/epoch")
    reference = state
    results = {}
    for precision in ("default", "fp32", "bf16"):
        times, results[precision] = project_epochs(data, FusionOptions(**base, precision=precision), device)
        print(f"{'this project, precision=' + precision:44s} {np.median(times[1:] or times):8.3f} s/epoch")

    def max_difference(a: dict, b: dict) -> float:
        return max(float((a[k].float() - b[k].float()).abs().max()) for k in a if a[k].is_floating_point())

    print(f"max |weight| difference after {args.epochs} epochs: fp32 vs release-style TF32-off loop "
          f"{max_difference(results['fp32'], reference):.2e}; bf16 vs fp32 {max_difference(results['bf16'], results['fp32']):.2e}")


if __name__ == "__main__":
    main()
