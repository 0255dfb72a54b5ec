"""Batched GAN inversion: a pure function from targets to latent codes and images.

Every image of a batch (and every restart of an image) is an independent problem: the loss is the sum
over images of each image's mean loss and both optimizers act element-wise, so an image follows the
trajectory it would follow alone (on the CPU bit for bit, see `runtime.numeric_mode`). Initial codes come from the image's own random stream (run seed,
image index), so results do not depend on batch size, order or process count. The generator stays
frozen; only the codes of its latent space (`bigprior.inversion.latent`) are optimized (mGANprior:
SGD "GD" or Adam; PGGAN multi-code: z ~ N(0, 1) or 0, alpha = 1/N).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

import torch
from torch import nn

from ..degradations import Degradation
from ..errors import BIGPriorError
from ..runtime import numeric_mode
from .compiled import compile_mode, compiled, dynamic_batch
from .latent import INIT_TYPES, LatentSpace
from .losses import InversionLoss, PreparedTarget

M = TypeVar("M", bound=nn.Module)
OPTIMIZERS: dict[str, type[torch.optim.Optimizer]] = {"GD": torch.optim.SGD, "Adam": torch.optim.Adam}


@dataclass
class InversionResult:
    """Per image (B images, K restarts, T steps); tensors on the inversion's device. The kept restart's
    codes are also attributes by name: `result.z`, `result.alpha` (PGGAN multi-code), `result.w`..."""

    codes: dict[str, torch.Tensor]  # the latent space's code_names -> (B, *shape), kept restart
    image: torch.Tensor  # (B, 3, R, R) float32, [-1, 1] nominally, not clamped
    loss: torch.Tensor  # (B,) float32 data loss of `image` (after the last step)
    restart_losses: torch.Tensor  # (B, K) final loss of every restart
    best_restart: torch.Tensor  # (B,) index of the kept restart (lowest final loss)
    history: torch.Tensor  # (B, T) loss before each step, kept restart

    def __getattr__(self, name: str) -> torch.Tensor:
        codes = self.__dict__.get("codes", {})
        if name in codes:
            return codes[name]
        raise AttributeError(f"{type(self).__name__} has no attribute or code {name!r}")


def check_settings(optimization: str, init_type: str, iterations: int, lr: float, restarts: int) -> None:
    if optimization not in OPTIMIZERS:
        raise BIGPriorError(f"--optimization {optimization!r}: expected one of {', '.join(OPTIMIZERS)}")
    if init_type not in INIT_TYPES:
        raise BIGPriorError(f"--init_type {init_type!r}: expected one of {', '.join(INIT_TYPES)}")
    if iterations < 0:
        raise BIGPriorError(f"--iterations must be 0 or more, got {iterations}")
    if lr <= 0:
        raise BIGPriorError(f"--lr must be positive, got {lr}")
    if restarts < 1:
        raise BIGPriorError(f"--restarts must be at least 1, got {restarts}")
    if restarts > 1 and init_type == "Zero":
        raise BIGPriorError("--restarts > 1 needs --init_type Normal (zero codes would restart identically)")


def initial_codes(latent: LatentSpace, index: int, seed: int, init_type: str = "Normal",
                  restarts: int = 1) -> tuple[torch.Tensor, ...]:
    """Initial codes of one image, each (K, *shape) on the CPU (PGGAN multi-code: z (K, N, z_dim) and
    alpha (K, N, C)). Restart r takes the r-th draw from the image's stream, so restart 0 is the single
    run and a run with K restarts contains the runs with fewer."""
    return latent.initial_codes(index, seed, init_type, restarts)


def batch_initial_codes(latent: LatentSpace, batch: int, restarts: int, indices: Sequence[int], seed: int,
                        init_type: str, init: Sequence[torch.Tensor] | None) -> list[torch.Tensor]:
    """Every code of the batch, (B, K, *shape): drawn per image, or `init` (each (B, K, *shape) or
    (B, *shape)) checked against the latent space's shapes."""
    if init is None:
        codes = [initial_codes(latent, i, seed, init_type, restarts) for i in indices]
        return [torch.stack(parts) for parts in zip(*codes)]
    shapes = latent.code_shapes()
    if len(init) != len(shapes):
        raise ValueError(f"init must have {len(shapes)} tensors ({', '.join(latent.code_names)}), got {len(init)}")
    codes = [t if t.ndim == len(shape) + 2 else t.unsqueeze(1) for t, shape in zip(init, shapes)]
    for name, t, shape in zip(latent.code_names, codes, shapes):
        if tuple(t.shape) != (batch, restarts, *shape):
            raise ValueError(f"init {name} must have shape (B={batch}, K={restarts}, {', '.join(map(str, shape))}) "
                             f"or (B, {', '.join(map(str, shape))}), got {tuple(t.shape)}")
    return codes


def per_item_loss(latent: LatentSpace, loss: InversionLoss, degradation: Degradation, codes: Sequence[torch.Tensor],
                  masks: torch.Tensor | None, target_view: torch.Tensor,
                  target_features: torch.Tensor | None) -> torch.Tensor:
    """The loss of each item of a batch of codes: everything one step differentiates."""
    return loss(degradation.loss_view(latent(*codes), masks), PreparedTarget(target_view, target_features))


def _flatten_restarts(t: torch.Tensor) -> torch.Tensor:
    return t.reshape(t.shape[0] * t.shape[1], *t.shape[2:])


def channels_last_copy(module: M) -> M:
    """A copy of the network with channels-last weights (same values). The caller's module keeps its layout:
    converting it in place changed what every later user of it ran (a reference loop timed after a
    channels-last run timed another layout; with `fold=False` the caller's generator itself was converted)."""
    return copy.deepcopy(module).to(memory_format=torch.channels_last)


def invert(
    latent: LatentSpace,
    loss: InversionLoss,
    targets: torch.Tensor,
    *,
    degradation: Degradation,
    masks: torch.Tensor | None = None,
    optimization: str = "GD",
    lr: float = 1.0,
    iterations: int = 1500,
    init_type: str = "Normal",
    seed: int = 0,
    indices: Sequence[int] | None = None,
    restarts: int = 1,
    init: Sequence[torch.Tensor] | None = None,
    precision: str = "default",
    channels_last: bool = False,
    compile: bool | str = False,
    progress: Callable[[int], None] | None = None,
) -> InversionResult:
    """Fit the codes of `latent` to B targets ((B, 3, R, R) in [-1, 1]) through `degradation.loss_view`.

    `indices` (image index of each target; default 0..B-1) and `seed` pick each image's initial codes;
    `init` (one tensor per code, e.g. (z0, alpha0), of shapes (B, K, *shape) or (B, *shape)) replaces them. With K = `restarts` > 1
    every image is inverted from K initialisations at once and the one with the lowest final loss is
    kept. `masks` ((B, 1, R, R), 1 = missing) go to the loss view. `precision` is "default", "fp32" or
    "bf16" (autocast of the steps; the final image and loss are computed in float32). `channels_last` runs
    channels-last copies of the networks (the caller's are not changed). `compile`: False, True or
    "dynamic" (one compiled variant for every batch size), "static" (shapes fixed: one batch size, e.g. a
    benchmark). `progress` is called with 1 after each step."""
    check_settings(optimization, init_type, iterations, lr, restarts)
    mode = compile_mode(compile)
    device = targets.device
    batch = targets.shape[0]
    indices = list(range(batch)) if indices is None else list(indices)
    if len(indices) != batch:
        raise ValueError(f"got {len(indices)} indices for {batch} targets")
    codes = [_flatten_restarts(c).to(device=device, dtype=torch.float32).clone().requires_grad_(True)
             for c in batch_initial_codes(latent, batch, restarts, indices, seed, init_type, init)]

    expanded_masks = None if masks is None else masks.repeat_interleave(restarts, dim=0)
    if channels_last:  # the generator's layers and VGG16, the larger network
        latent, loss = channels_last_copy(latent), channels_last_copy(loss)

    step_loss = compiled(per_item_loss, dynamic=mode == "dynamic") if mode else per_item_loss
    optimizer = OPTIMIZERS[optimization](codes, lr=lr)
    history = []
    with numeric_mode(precision, device, batch_invariant=True) as autocast:
        target = loss.prepare(degradation.loss_view(targets.repeat_interleave(restarts, dim=0), expanded_masks))
        if mode == "dynamic":
            dynamic_batch(*codes, expanded_masks, target.view, target.features)
        for _ in range(iterations):
            optimizer.zero_grad(set_to_none=True)
            with autocast():
                per_item = step_loss(latent, loss, degradation, codes, expanded_masks, target.view, target.features)
            per_item.sum().backward()
            optimizer.step()
            history.append(per_item.detach())
            if progress is not None:
                progress(1)
        with torch.no_grad():  # outside autocast: float32
            images = latent(*codes).float()
            final = loss(degradation.loss_view(images, expanded_masks), target)

    final = final.view(batch, restarts)
    best = final.argmin(dim=1)
    kept = torch.arange(batch, device=device) * restarts + best
    steps = torch.stack(history, dim=1) if history else torch.zeros(batch * restarts, 0, device=device)
    return InversionResult(
        codes={name: c.detach()[kept] for name, c in zip(latent.code_names, codes)}, image=images[kept], loss=final.view(-1)[kept],
        restart_losses=final, best_restart=best, history=steps[kept],
    )
