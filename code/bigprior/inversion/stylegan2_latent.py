"""StyleGAN2's latent spaces for inversion: a single code in z, w or w+, or mGANprior's multi-code
composition at a synthesis block.

- `z`: one z per image (z_dim), through the mapping network (no truncation) and the synthesis.
- `w`: one w per image (w_dim), broadcast to all `num_ws` rows the synthesis reads.
- `w+`: one w per synthesis row (num_ws x w_dim).
- `multi` with N codes composed at block k (`--composing_layer k`, or the block's name `b<resolution>`):
  each code is one w (broadcast to the rows blocks 0..k-1 read) and runs blocks 0..k-1, giving feature
  maps F_j (C channels) and the running skip image I_j (3 channels) at the resolution of block k-1;
  both are combined with per-channel importance weights alpha_j (C + 3 per code: features first, then
  RGB), F = sum_j alpha_j F_j and I = sum_j alpha_j I_j; one shared code `ws` (a w+ for rows
  `ws_starts[k]`.., the rows blocks k.. read) drives blocks k.. from (F, I). Optimised: the N codes' w,
  alpha and the shared ws. Unlike PGGAN's mGANprior there is no extra division by N: alpha starts at
  1/N, so the composed maps and image start at the codes' mean (StyleGAN2 has no normalisation after
  the composition that would undo a 1/N scale).

Initial values (each image from its own stream, see `latent.normal_draws`): in z, N(0, 1) (restart r:
the r-th draw) or 0 (`--init_type Zero`); in w and w+, `w_avg` (the mapping's tracked mean, as NVlabs'
projector starts) for restart 0 and, for restarts r >= 1, the mapping of the image's r-th z draw (a random
sample's w; `w_avg` is deterministic, so restarts need other starting points); multi: each code the
mapping of a z draw (restart r: the r-th draw of N codes; with Zero every code is `w_avg`), alpha =
1/N, the shared ws at `w_avg`.

`fused` picks the generator's convolution path: grouped (fast on a GPU) or sample by sample, which on
the CPU in strict float32 makes a batch equal to its images inverted one at a time, bit for bit.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..errors import BIGPriorError
from ..generators.stylegan2 import StyleGAN2Generator
from .latent import LatentSpace, normal_draws, weighted_sum


class StyleGAN2Space(LatentSpace):
    """What the StyleGAN2 spaces share: the frozen generator, its convolution path and its w's."""

    def __init__(self, generator: StyleGAN2Generator, fused: bool = True) -> None:
        super().__init__()
        self.generator = generator.requires_grad_(False)
        self.fused = fused
        self.resolution = generator.resolution
        self.num_ws, self.w_dim, self.z_dim = generator.num_ws, generator.w_dim, generator.z_dim

    def mapped(self, z: torch.Tensor) -> torch.Tensor:
        """The w of each z (..., z_dim) -> (..., w_dim), float32 on the CPU; each row computed on its
        own, so it does not depend on how many are mapped together."""
        device = self.generator.mapping.w_avg.device
        with torch.no_grad():
            w = self.generator.mapping(z.reshape(-1, self.z_dim).to(device), fused=False)[:, 0]
        return w.float().cpu().reshape(*z.shape[:-1], self.w_dim)

    def w_avg(self, *shape: int) -> torch.Tensor:
        """`w_avg` repeated to (*shape, w_dim), on the CPU."""
        return self.generator.mapping.w_avg.float().cpu().expand(*shape, self.w_dim).clone()

    def start_w(self, index: int, seed: int, init_type: str, restarts: int) -> torch.Tensor:
        """(restarts, w_dim): w_avg for restart 0 (every restart with Zero), else the w of the r-th z draw."""
        w = self.w_avg(restarts)
        if init_type != "Zero" and restarts > 1:
            w[1:] = self.mapped(normal_draws(index, seed, restarts, (self.z_dim,))[1:])
        return w

    def synthesize(self, ws: torch.Tensor) -> torch.Tensor:
        return self.generator.synthesis(ws, fused=self.fused)


class ZSpace(StyleGAN2Space):
    """One z per image, through the mapping and the synthesis."""

    space = "z"
    code_names = ("z",)

    def initial_codes(self, index: int, seed: int, init_type: str = "Normal", restarts: int = 1) -> tuple[torch.Tensor, ...]:
        if init_type == "Zero":
            return (torch.zeros(restarts, self.z_dim),)
        return (normal_draws(index, seed, restarts, (self.z_dim,)),)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.synthesize(self.generator.mapping(z, fused=self.fused))


class WSpace(StyleGAN2Space):
    """One w per image, the same for every synthesis row (`w`), or one per row (`w+`, code `ws`)."""

    def __init__(self, generator: StyleGAN2Generator, per_row: bool = False, fused: bool = True) -> None:
        super().__init__(generator, fused)
        self.per_row = per_row
        self.space, self.code_names = ("w+", ("ws",)) if per_row else ("w", ("w",))

    def initial_codes(self, index: int, seed: int, init_type: str = "Normal", restarts: int = 1) -> tuple[torch.Tensor, ...]:
        w = self.start_w(index, seed, init_type, restarts)
        return (w.unsqueeze(1).repeat(1, self.num_ws, 1) if self.per_row else w,)

    def forward(self, w: torch.Tensor) -> torch.Tensor:
        return self.synthesize(w if self.per_row else w.unsqueeze(1).expand(-1, self.num_ws, -1))


def composing_block(generator: StyleGAN2Generator, composing_layer: int | str) -> int:
    """The index k of the first block the shared code drives: `composing_layer` is k itself or the
    block's name `b<resolution>`; k = 1..blocks-1 (blocks 0..k-1 run per code)."""
    resolutions = generator.synthesis.block_resolutions
    names = [f"b{r}" for r in resolutions]
    block = names.index(composing_layer) if composing_layer in names else composing_layer
    if not isinstance(block, int) or not 1 <= block < len(resolutions):
        raise BIGPriorError(
            f"--composing_layer {composing_layer}: out of range for this {generator.resolution}x{generator.resolution} "
            f"StyleGAN2 generator (expected the first block the shared code drives: 1..{len(resolutions) - 1} "
            f"or {names[1]}..{names[-1]})"
        )
    return block


class StyleGAN2MultiCode(StyleGAN2Space):
    """mGANprior's multi-code composition at synthesis block k (module docstring): codes `w` (N, w_dim),
    `alpha` (N, C + 3) and the shared `ws` (num_ws - ws_starts[k], w_dim)."""

    space = "multi"
    code_names = ("w", "alpha", "ws")

    def __init__(self, generator: StyleGAN2Generator, composing_layer: int | str, z_number: int, fused: bool = True) -> None:
        super().__init__(generator, fused)
        if z_number < 1:
            raise BIGPriorError(f"--z_number must be at least 1, got {z_number}")
        synthesis = generator.synthesis
        self.composing_layer, self.z_number = composing_block(generator, composing_layer), z_number
        self.shared_start = synthesis.ws_starts[self.composing_layer]
        last = synthesis.blocks[self.composing_layer - 1]
        size = synthesis.block_resolutions[self.composing_layer - 1]
        self.feature_shape = (last.conv1.weight.shape[0], size, size)
        self.channels = self.feature_shape[0] + generator.img_channels

    def initial_codes(self, index: int, seed: int, init_type: str = "Normal", restarts: int = 1) -> tuple[torch.Tensor, ...]:
        if init_type == "Zero":
            w = self.w_avg(restarts, self.z_number)
        else:
            w = self.mapped(normal_draws(index, seed, restarts, (self.z_number, self.z_dim)))
        alpha = torch.full((restarts, self.z_number, self.channels), 1.0 / self.z_number)
        return w, alpha, self.w_avg(restarts, self.num_ws - self.shared_start)

    def composed(self, w: torch.Tensor, alpha: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Blocks 0..k-1 for every code, features and running image weighted by alpha and summed."""
        batch, number = w.shape[:2]
        per_code = w.reshape(batch * number, 1, self.w_dim).expand(-1, self.num_ws, -1)
        x, img = self.generator.synthesis.run_blocks(per_code, 0, self.composing_layer, fused=self.fused)
        maps = torch.cat([x, img], dim=1)
        combined = weighted_sum(maps.view(batch, number, *maps.shape[1:]), alpha)
        return combined[:, : x.shape[1]], combined[:, x.shape[1] :]

    def forward(self, w: torch.Tensor, alpha: torch.Tensor, ws: torch.Tensor) -> torch.Tensor:
        x, img = self.composed(w, alpha)
        rows = F.pad(ws, (0, 0, self.shared_start, 0))  # rows before shared_start are read by no block >= k
        return self.generator.synthesis.run_blocks(rows, self.composing_layer, None, x, img, fused=self.fused)[1]
