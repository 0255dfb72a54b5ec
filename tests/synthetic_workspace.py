"""Small synthetic experiments for the report, baseline and notebook tests.

`make_experiment` writes the inversion stage's contract for a few small smooth images (GT, input made
by the task's own degradation, sigma.json / masks, a prior = GT + a known perturbation);
`run_fusion` then trains and tests a tiny fusion network with the real fusion code, so the report
reads `OURoutput/` exactly as the fusion stage writes it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from bigprior import imageio
from bigprior.degradations import mask_to_uint8
from bigprior.experiment import Experiment
from bigprior.fusion.options import FusionOptions
from bigprior.fusion.training import test_after_training, train

TRAIN_COUNT = 4


def smooth_image(rng: np.random.Generator, size: int) -> np.ndarray:
    """A random low-frequency RGB image (HxWx3 uint8): a coarse random grid upsampled bilinearly."""
    coarse = torch.from_numpy(rng.uniform(0.1, 0.9, (1, 3, 4, 4))).float()
    fine = torch.nn.functional.interpolate(coarse, size=(size, size), mode="bilinear", align_corners=True)
    return imageio.uint8_from_float(fine[0]).transpose(1, 2, 0)


def make_experiment(root: Path, name: str, count: int = 6, size: int = 32, seed: int = 0) -> Experiment:
    experiment = Experiment(name, root)
    degradation = experiment.degradation()
    rng = np.random.default_rng(seed)
    sigmas = []
    for i in range(count):
        gt = smooth_image(rng, size)
        imageio.write_png(experiment.gt_path(i), gt)
        clean = imageio.hwc_to_chw(imageio.float_from_uint8(gt))
        observation = degradation.observe(clean, i, seed)
        degradation.write_observation(experiment.input_path(i), observation)
        sigmas.append(observation.sigma)
        if observation.mask is not None and degradation.default_mask(size, size) is None:
            imageio.write_png(experiment.mask_path(i), mask_to_uint8(observation.mask))
        prior = np.clip(gt.astype(np.int16) + rng.integers(-20, 21, gt.shape), 0, 255).astype(np.uint8)
        imageio.write_png(experiment.prior_path(i), prior)
    if sigmas[0] is not None:
        imageio.write_json(experiment.sigma_path, sigmas)
    return experiment


def run_fusion(root: Path, name: str, epochs: int = 2) -> Path:
    """Train a 3-layer fusion network for a few epochs on the first TRAIN_COUNT images, then test it
    (writes OURoutput/); returns the run folder."""
    options = FusionOptions(experiment=name, dncnn_layers=3, epochs=epochs, batch_size=2, lr=1e-3, train_count=TRAIN_COUNT)
    folder = train(options, root, torch.device("cpu"), workers=1)
    test_after_training(folder, torch.device("cpu"), workers=1)
    return folder


def make_fused_experiment(root: Path, name: str, count: int = 6, seed: int = 0) -> Experiment:
    experiment = make_experiment(root, name, count=count, seed=seed)
    run_fusion(root, name)
    return experiment
