"""Multi-code GAN prior (mGANprior, Gu et al. CVPR 2020): N latent codes composed inside a generator.

With `seq = generator.composable_layers()` and composing layer k, code j gives the feature map
`F_j = seq[:k](z_j)`, weighted per channel by `alpha_j`, and the image is `seq[k:](mean_j alpha_j F_j)`.
All B*N codes go through `seq[:k]` as one batch; the weighted maps are summed in code order, as mGANprior's loop did.
The division by N on top of alpha = 1/N is mGANprior's: the composed map starts at the codes' mean / N
(PGGAN's pixel norm after the next convolution takes most of that scale away).
"""

from __future__ import annotations

import torch
from torch import nn

from ..errors import BIGPriorError
from .folded import fold_layers
from .latent import LatentSpace, normal_draws, weighted_sum


class MultiCodeGenerator(LatentSpace):
    """`forward(z: (B, N, z_dim), alpha: (B, N, C)) -> (B, 3, R, R)` for a frozen PGGAN (latent space `multi`).

    `fold=True` runs the PGGAN blocks in their folded form (`bigprior.inversion.folded`): the same
    function, fewer memory passes; `fold=False` runs the generator's own layers."""

    space = "multi"
    code_names = ("z", "alpha")

    def __init__(self, generator: nn.Module, composing_layer: int, z_number: int, fold: bool = False) -> None:
        super().__init__()
        layers = list(generator.composable_layers())
        if not 0 <= composing_layer < len(layers):
            raise BIGPriorError(
                f"--composing_layer {composing_layer}: out of range for this {generator.resolution}x"
                f"{generator.resolution} generator (expected 0..{len(layers) - 1})"
            )
        if z_number < 1:
            raise BIGPriorError(f"--z_number must be at least 1, got {z_number}")
        if fold:
            layers = fold_layers(layers)
        self.composing_layer, self.z_number, self.z_dim = composing_layer, z_number, generator.z_dim
        self.resolution = generator.resolution
        self.pre = nn.Sequential(*layers[:composing_layer])
        self.post = nn.Sequential(*layers[composing_layer:])
        self.requires_grad_(False)
        weight = next(generator.parameters())
        with torch.no_grad():
            probe = self.pre(torch.zeros(1, self.z_dim, 1, 1, device=weight.device, dtype=weight.dtype))
        self.feature_shape: tuple[int, int, int] = tuple(probe.shape[1:])

    @property
    def channels(self) -> int:
        """C, the number of per-channel weights alpha of one code."""
        return self.feature_shape[0]

    def initial_codes(self, index: int, seed: int, init_type: str = "Normal", restarts: int = 1) -> tuple[torch.Tensor, ...]:
        """z ~ N(0, 1) from the image's stream (restart r: its r-th draw of (N, z_dim)) or 0; alpha = 1/N."""
        shape = (self.z_number, self.z_dim)
        z = torch.zeros(restarts, *shape) if init_type == "Zero" else normal_draws(index, seed, restarts, shape)
        return z, torch.full((restarts, self.z_number, self.channels), 1.0 / self.z_number)

    def check_inputs(self, z: torch.Tensor, alpha: torch.Tensor) -> None:
        batch = z.shape[0]
        if z.ndim != 3 or z.shape[1:] != (self.z_number, self.z_dim):
            raise ValueError(f"expected z of shape (batch, {self.z_number}, {self.z_dim}), got {tuple(z.shape)}")
        if alpha.shape != (batch, self.z_number, self.channels):
            raise ValueError(f"expected alpha of shape ({batch}, {self.z_number}, {self.channels}), got {tuple(alpha.shape)}")

    def features(self, z: torch.Tensor) -> torch.Tensor:
        """(B, N, z_dim) -> the per-code feature maps at the composing layer, (B, N, C, H, W)."""
        batch = z.shape[0]
        maps = self.pre(z.reshape(batch * self.z_number, self.z_dim, 1, 1))
        return maps.view(batch, self.z_number, *maps.shape[1:])

    def forward(self, z: torch.Tensor, alpha: torch.Tensor) -> torch.Tensor:
        self.check_inputs(z, alpha)
        return self.post(weighted_sum(self.features(z), alpha) / self.z_number)
