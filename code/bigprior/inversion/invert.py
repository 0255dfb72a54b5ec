"""Batched multi-code GAN inversion: a pure function from targets to latent codes and images.

Every image of a batch (and every restart of an image) is an independent problem: the loss is the sum
over images of each image's mean loss and both optimizers act element-wise, so an image follows the
trajectory it would follow alone (on the CPU bit for bit, see `runtime.numeric_mode`). Initial codes come from the image's own random stream (run seed,
image index), so results do not depend on batch size, order or process count. The generator stays
frozen; only z and alpha are optimized (mGANprior: SGD "GD" or Adam, z ~ N(0, 1) or 0, alpha = 1/N).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

from ..degradations import Degradation
from ..errors import BIGPriorError
from ..runtime import numeric_mode
from ..seeding import STREAM_INIT, torch_generator
from .compiled import compiled, dynamic_batch
from .losses import InversionLoss, PreparedTarget
from .multicode import MultiCodeGenerator

OPTIMIZERS: dict[str, type[torch.optim.Optimizer]] = {"GD": torch.optim.SGD, "Adam": torch.optim.Adam}
INIT_TYPES = ("Normal", "Zero")


@dataclass
class InversionResult:
    """Per image (B images, K restarts, N codes, T steps); tensors on the inversion's device."""

    z: torch.Tensor  # (B, N, z_dim) codes of the kept restart
    alpha: torch.Tensor  # (B, N, C)
    image: torch.Tensor  # (B, 3, R, R) float32, [-1, 1] nominally, not clamped
    loss: torch.Tensor  # (B,) float32 data loss of `image` (after the last step)
    restart_losses: torch.Tensor  # (B, K) final loss of every restart
    best_restart: torch.Tensor  # (B,) index of the kept restart (lowest final loss)
    history: torch.Tensor  # (B, T) loss before each step, kept restart


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


def initial_codes(multicode: MultiCodeGenerator, index: int, seed: int, init_type: str = "Normal",
                  restarts: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    """Initial (z, alpha) of one image, shapes (K, N, z_dim) and (K, N, C), on the CPU.

    z of restart r is the r-th draw of shape (N, z_dim) from the image's stream, so restart 0 is the
    single run and a run with K restarts contains the runs with fewer."""
    shape = (multicode.z_number, multicode.z_dim)
    if init_type == "Zero":
        z = torch.zeros(restarts, *shape)
    else:
        stream = torch_generator(seed, index, STREAM_INIT)
        z = torch.stack([torch.randn(shape, generator=stream) for _ in range(restarts)])
    alpha = torch.full((restarts, multicode.z_number, multicode.channels), 1.0 / multicode.z_number)
    return z, alpha


def per_item_loss(multicode: MultiCodeGenerator, loss: InversionLoss, degradation: Degradation, z: torch.Tensor,
                  alpha: torch.Tensor, masks: torch.Tensor | None, target_view: torch.Tensor,
                  target_features: torch.Tensor | None) -> torch.Tensor:
    """The loss of each item of a batch of codes: everything one step differentiates."""
    return loss(degradation.loss_view(multicode(z, alpha), masks), PreparedTarget(target_view, target_features))


def _flatten_restarts(t: torch.Tensor) -> torch.Tensor:
    return t.reshape(t.shape[0] * t.shape[1], *t.shape[2:])


def invert(
    multicode: MultiCodeGenerator,
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
    init: tuple[torch.Tensor, torch.Tensor] | None = None,
    precision: str = "default",
    channels_last: bool = False,
    compile: bool = False,
    progress: Callable[[int], None] | None = None,
) -> InversionResult:
    """Fit `multicode` to B targets ((B, 3, R, R) in [-1, 1]) through `degradation.loss_view`.

    `indices` (image index of each target; default 0..B-1) and `seed` pick each image's initial codes;
    `init` = (z0, alpha0) of shapes (B, K, N, .) or (B, N, .) replaces them. With K = `restarts` > 1
    every image is inverted from K initialisations at once and the one with the lowest final loss is
    kept. `masks` ((B, 1, R, R), 1 = missing) go to the loss view. `precision` is "default", "fp32" or
    "bf16" (autocast of the steps; the final image and loss are computed in float32). `progress` is
    called with 1 after each step."""
    check_settings(optimization, init_type, iterations, lr, restarts)
    device = targets.device
    batch = targets.shape[0]
    indices = list(range(batch)) if indices is None else list(indices)
    if len(indices) != batch:
        raise ValueError(f"got {len(indices)} indices for {batch} targets")
    if init is None:
        codes = [initial_codes(multicode, i, seed, init_type, restarts) for i in indices]
        z0, alpha0 = (torch.stack(parts) for parts in zip(*codes))
    else:
        z0, alpha0 = (t if t.ndim == 4 else t.unsqueeze(1) for t in init)
        if z0.shape[:2] != (batch, restarts) or alpha0.shape[:2] != (batch, restarts):
            raise ValueError(f"init must have shapes (B={batch}, K={restarts}, N, .), got {tuple(z0.shape)}, {tuple(alpha0.shape)}")
    z = _flatten_restarts(z0).to(device=device, dtype=torch.float32).clone().requires_grad_(True)
    alpha = _flatten_restarts(alpha0).to(device=device, dtype=torch.float32).clone().requires_grad_(True)

    expanded_masks = None if masks is None else masks.repeat_interleave(restarts, dim=0)
    if channels_last:  # in place: the weights get channels-last strides (same values); VGG16 too, the larger network
        multicode.to(memory_format=torch.channels_last)
        loss.to(memory_format=torch.channels_last)

    step_loss = compiled(per_item_loss) if compile else per_item_loss
    optimizer = OPTIMIZERS[optimization]([z, alpha], lr=lr)
    history = []
    with numeric_mode(precision, device, batch_invariant=True) as autocast:
        target = loss.prepare(degradation.loss_view(targets.repeat_interleave(restarts, dim=0), expanded_masks))
        if compile:
            dynamic_batch(z, alpha, expanded_masks, target.view, target.features)
        for _ in range(iterations):
            optimizer.zero_grad(set_to_none=True)
            with autocast():
                per_item = step_loss(multicode, loss, degradation, z, alpha, expanded_masks, target.view, target.features)
            per_item.sum().backward()
            optimizer.step()
            history.append(per_item.detach())
            if progress is not None:
                progress(1)
        with torch.no_grad():  # outside autocast: float32
            images = multicode(z, alpha).float()
            final = loss(degradation.loss_view(images, expanded_masks), target)

    final = final.view(batch, restarts)
    best = final.argmin(dim=1)
    kept = torch.arange(batch, device=device) * restarts + best
    steps = torch.stack(history, dim=1) if history else torch.zeros(batch * restarts, 0, device=device)
    return InversionResult(
        z=z.detach()[kept], alpha=alpha.detach()[kept], image=images[kept], loss=final.view(-1)[kept],
        restart_losses=final, best_restart=best, history=steps[kept],
    )
