"""The data every fusion part reads: the paper's col_bedroom copy that `python -m gpu_check.pack_data pack` wrote
to cache/gpu_data, unpacked on the device and checked (a --smoke run packs a synthetic one first, with the same
packer), and the workspaces that link it."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from PIL import Image, features

from . import pack_data
from .runner import Context, Section

SMOKE_IMAGES, SMOKE_TRAIN, SMOKE_SIZE = 12, 8, 32
FULL_TRAIN = 250  # the paper's training images 0..249 (250..299 are the test images)


def train_count(ctx: Context) -> int:
    return SMOKE_TRAIN if ctx.smoke else FULL_TRAIN


def experiment_dir(ctx: Context) -> Path:
    return ctx.paper / "inter_data" / "col_bedroom"


def synthetic_source(folder: Path) -> Path:
    """A col_bedroom-shaped experiment of small smooth images (GT, luma input, noisy prior) for --smoke."""
    rng = np.random.default_rng(0)
    for i in range(SMOKE_IMAGES):
        coarse = Image.fromarray(rng.integers(0, 256, (4, 4, 3), dtype=np.uint8))
        gt = np.asarray(coarse.resize((SMOKE_SIZE, SMOKE_SIZE), Image.BICUBIC))
        prior = np.clip(gt.astype(np.int16) + rng.integers(-20, 21, gt.shape), 0, 255).astype(np.uint8)
        for sub, image in (("GT", Image.fromarray(gt)), ("input", Image.fromarray(gt).convert("L")),
                           ("mGANoutput", Image.fromarray(prior))):
            (folder / sub).mkdir(parents=True, exist_ok=True)
            image.save(folder / sub / f"{i}.png")
    return folder


def part_data(ctx: Context, limit: float) -> Section:
    """Unpack the packed col_bedroom copy, pixels checked (smoke: pack a synthetic one first, same packer). The
    orchestrator has not touched CUDA (the device is probed in another process), so the unpacking workers fork
    from a process without a CUDA context."""
    section = Section("Data")
    if not features.check("webp"):
        section.status = "failed: this Pillow cannot read WebP (the packed data's format)"
        return section
    data = ctx.data
    try:
        if ctx.smoke:
            data = ctx.work / "gpu_data"
            size = pack_data.pack(synthetic_source(ctx.work / "source" / "col_bedroom"), data, workers=1)
            section.lines.append(f"synthetic data packed: {size / 1024:.0f} KiB")
        count = pack_data.unpack(data, ctx.paper / "inter_data", workers=1 if ctx.smoke else os.cpu_count() or 1)
        section.lines.append(f"{count} images unpacked from {data} and checked")
        section.summary = f"{count} images unpacked and checked"
    except SystemExit as exc:  # the packer's one-line errors
        section.status = f"failed: {exc}"
    return section


def link_experiment(ctx: Context, workspace: Path) -> Path:
    """A workspace whose inter_data/col_bedroom/{GT,input,mGANoutput} link the unpacked folders (three links,
    not a process per file); what a run writes (OURoutput, net_data) stays in the workspace."""
    target = workspace / "inter_data" / "col_bedroom"
    target.mkdir(parents=True, exist_ok=True)
    for sub in ("GT", "input", "mGANoutput"):
        (target / sub).symlink_to((experiment_dir(ctx) / sub).resolve(), target_is_directory=True)
    return workspace
