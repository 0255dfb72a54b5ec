"""Training images for the GAN: image folders read in sorted order, the first `count` of each,
centre-cropped to a square, area-resized to the training resolution and held in memory in [-1, 1].

`count` defaults to the paper's 250 training images per category: in the LSUN folders of the paper
data, sorted image i is test image i of the paper's experiments and 250..299 are the test images,
which a prior used for those experiments must never see.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from ..progress import progress_bar
from .. import imageio
from ..errors import BIGPriorError
from ..experiment import PAPER_TRAIN_COUNT
from ..photos import read_rgb8

DEFAULT_COUNT = PAPER_TRAIN_COUNT


def select_images(folder: str | os.PathLike, count: int) -> list[Path]:
    """The first `count` images of `folder` in sorted name order (all of them if `count` is 0)."""
    paths = imageio.list_images(folder, "--data ")
    if not paths:
        raise BIGPriorError(f"--data {folder}: no images found (expected {', '.join(imageio.IMAGE_EXTENSIONS)} files)")
    if count < 0:
        raise BIGPriorError(f"--count: expected 0 (all images) or a positive number, got {count}")
    if count and len(paths) < count:
        raise BIGPriorError(
            f"--data {folder}: has {len(paths)} images, --count {count} asks for the first {count} (use --count 0 for all)"
        )
    return paths[:count] if count else paths


def square_resize(image: np.ndarray, resolution: int) -> np.ndarray:
    """HxWx3 uint8 -> resolution x resolution x 3 uint8: centre square crop, then an area (box) resize."""
    height, width = image.shape[:2]
    side = min(height, width)
    top, left = (height - side) // 2, (width - side) // 2
    square = Image.fromarray(image[top : top + side, left : left + side])
    if side != resolution:
        square = square.resize((resolution, resolution), Image.Resampling.BOX if side > resolution else Image.Resampling.BICUBIC)
    return np.asarray(square, dtype=np.uint8)


def load_image_folders(
    folders: Sequence[str | os.PathLike], resolution: int, count: int = DEFAULT_COUNT, workers: int = 2
) -> torch.Tensor:
    """All selected images of all folders as one (N, 3, R, R) float32 tensor in [-1, 1].

    Every image is read and checked before training starts, so an unreadable file stops the run
    with its name instead of failing hours later. Images of any mode are read as a viewer shows them (`photos.read_rgb8`: 16-bit
    rescaled, not clipped)."""
    if not folders:
        raise BIGPriorError("--data: give at least one image folder")
    paths = [path for folder in folders for path in select_images(folder, count)]

    def read(path) -> np.ndarray:
        return square_resize(read_rgb8(path), resolution)

    with ThreadPoolExecutor(max(1, workers)) as pool:
        images = list(progress_bar(pool.map(read, paths), total=len(paths), desc="loading training images"))
    array = np.stack(images).transpose(0, 3, 1, 2)
    return torch.from_numpy(array).float().div_(127.5).sub_(1.0)
