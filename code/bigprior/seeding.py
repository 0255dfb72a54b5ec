"""Per-item random streams: one generator per (seed, item, purpose), so that what an image gets
(its initial codes, its mask, its noise) does not depend on batch size, order or process count."""

from __future__ import annotations

import numpy as np
import torch

# Purposes of the random streams drawn for one image; each value names one independent stream.
STREAM_INIT = 0
STREAM_MASK = 1
STREAM_NOISE = 2
STREAM_SIGMA = 3
STREAM_SAMPLE = 4  # latent codes of generated test images (check-inversion)


def item_seed(seed: int, index: int, stream: int) -> int:
    """A 63-bit seed derived from the run seed, the item index and the stream."""
    return int(np.random.SeedSequence([seed & 0xFFFFFFFF, index, stream]).generate_state(2, np.uint64)[0] >> 1)


def torch_generator(seed: int, index: int, stream: int) -> torch.Generator:
    return torch.Generator().manual_seed(item_seed(seed, index, stream))


def numpy_generator(seed: int, index: int, stream: int) -> np.random.Generator:
    return np.random.default_rng(item_seed(seed, index, stream))
