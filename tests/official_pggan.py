"""Test helpers for the official PGGAN format, written from the official networks.py, not from bigprior.

- `write_official_pickle`: writes (G, D, Gs)-style pickles in the official layout (`tfutil.Network`
  states, numpy arrays under numpy 1's `numpy.core.multiarray` names or this numpy's own names).
- `random_g_paper_variables`: the variables of a G_paper generator, in the official order and shapes.
- `official_forward`: G_paper's arithmetic on those variables, in float64, with the fused `Conv0_up`
  layer written out as the scatter-add that the official `upscale2d_conv2d` performs.
"""

from __future__ import annotations

import math
import pickle
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

NUMPY_RECONSTRUCT = np.empty(0).__reduce__()[0]
NUMPY_SCALAR = np.float32(0).__reduce__()[0]


class TFNetwork:
    """Pickled as the official `tfutil.Network`: GLOBAL tfutil.Network, NEWOBJ, BUILD with its state."""

    def __init__(self, state: dict) -> None:
        self.state = state

    def __getstate__(self) -> dict:
        return self.state


class OfficialLayoutPickler(pickle._Pickler):
    """The pure-Python pickler, writing chosen globals under the names the official files use."""

    def __init__(self, file, protocol: int, numpy1_names: bool) -> None:
        super().__init__(file, protocol)
        self.renamed = {id(TFNetwork): ("tfutil", "Network")}
        if numpy1_names:
            self.renamed[id(NUMPY_RECONSTRUCT)] = ("numpy.core.multiarray", "_reconstruct")
            self.renamed[id(NUMPY_SCALAR)] = ("numpy.core.multiarray", "scalar")

    def save_global(self, obj, name=None):
        if id(obj) not in self.renamed:
            return super().save_global(obj, name)
        module, qualname = self.renamed[id(obj)]
        if self.proto >= 4:
            self.save(module)
            self.save(qualname)
            self.write(pickle.STACK_GLOBAL)
        else:
            self.write(pickle.GLOBAL + f"{module}\n{qualname}\n".encode())
        self.memoize(obj)


def network_state(name: str, variables: list[tuple[str, np.ndarray]], static_kwargs: dict,
                  build_func_name: str = "G_paper") -> dict:
    return {"version": 2, "name": name, "static_kwargs": dict(static_kwargs),
            "build_module_src": "raise RuntimeError('build_module_src must never run')\n",
            "build_func_name": build_func_name, "variables": list(variables)}


def write_official_pickle(path: Path, states: list[dict], protocol: int = 3, numpy1_names: bool = True) -> Path:
    with open(path, "wb") as f:
        OfficialLayoutPickler(f, protocol, numpy1_names).dump(tuple(TFNetwork(s) for s in states))
    return path


def random_g_paper_variables(resolution: int, widths: list[int], z_dim: int, fused: bool, seed: int,
                             image_channels: int = 3) -> list[tuple[str, np.ndarray]]:
    rng = np.random.default_rng(seed)

    def normal(*shape: int) -> np.ndarray:
        return rng.standard_normal(shape).astype(np.float32)

    num_blocks = int(math.log2(resolution)) - 1
    variables = [("lod", np.zeros((), np.float32)),
                 ("4x4/Dense/weight", normal(z_dim, 16 * widths[0])), ("4x4/Dense/bias", normal(widths[0]) * 0.1),
                 ("4x4/Conv/weight", normal(3, 3, widths[0], widths[0])), ("4x4/Conv/bias", normal(widths[0]) * 0.1)]
    for b in range(1, num_blocks):
        r, width, previous = 4 * 2**b, widths[b], widths[b - 1]
        if fused:
            variables += [(f"{r}x{r}/Conv0_up/weight", normal(3, 3, width, previous)),
                          (f"{r}x{r}/Conv0_up/bias", normal(width) * 0.1)]
        else:
            variables += [(f"{r}x{r}/Conv0/weight", normal(3, 3, previous, width)),
                          (f"{r}x{r}/Conv0/bias", normal(width) * 0.1)]
        variables += [(f"{r}x{r}/Conv1/weight", normal(3, 3, width, width)), (f"{r}x{r}/Conv1/bias", normal(width) * 0.1)]
    for b in range(num_blocks):
        lod = num_blocks - 1 - b
        variables += [(f"ToRGB_lod{lod}/weight", normal(1, 1, widths[b], image_channels)),
                      (f"ToRGB_lod{lod}/bias", normal(image_channels) * 0.1)]
    return variables


# ---------------------------------------------------------------------------------------------
# reference arithmetic (official networks.py, G_paper with lod 0)


def summed_kernel(weight: torch.Tensor) -> torch.Tensor:
    """upscale2d_conv2d's kernel: (k, k, ...) -> (k+1, k+1, ...), K[i, j] = sum of w[i-a, j-b], a, b in {0, 1}."""
    k = weight.shape[0]
    kernel = torch.zeros(k + 1, k + 1, *weight.shape[2:], dtype=weight.dtype)
    for i in range(k + 1):
        for j in range(k + 1):
            for a in (0, 1):
                for b in (0, 1):
                    if 0 <= i - a < k and 0 <= j - b < k:
                        kernel[i, j] += weight[i - a, j - b]
    return kernel


def transposed_conv_by_hand(x: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    """tf.nn.conv2d_transpose(x, kernel, stride 2, SAME) for kernel (kh, kw, out, in): every input pixel
    (i, j) adds x[:, c, i, j] * kernel[ky, kx, o, c] to output pixel (2i + ky - pad, 2j + kx - pad)."""
    batch, _, height, width = x.shape
    kh, kw, out_channels, _ = kernel.shape
    pad_top, pad_left = (kh - 2) // 2, (kw - 2) // 2  # SAME: total padding k - stride, the smaller half first
    full = torch.zeros(batch, out_channels, 2 * height + kh, 2 * width + kw, dtype=x.dtype)
    for ky in range(kh):
        for kx in range(kw):
            full[:, :, ky:ky + 2 * height:2, kx:kx + 2 * width:2] += torch.einsum("bchw,oc->bohw", x, kernel[ky, kx])
    return full[:, :, pad_top:pad_top + 2 * height, pad_left:pad_left + 2 * width]


def _pixel_norm(x: torch.Tensor) -> torch.Tensor:
    return x * torch.rsqrt(x.square().mean(dim=1, keepdim=True) + 1e-8)


def _conv(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, gain: float = math.sqrt(2)) -> torch.Tensor:
    kh, kw, in_channels, _ = weight.shape
    scaled = weight * gain / math.sqrt(kh * kw * in_channels)
    return F.conv2d(x, scaled.permute(3, 2, 0, 1), padding=kh // 2) + bias.view(1, -1, 1, 1)


def _act(x: torch.Tensor) -> torch.Tensor:
    return _pixel_norm(F.leaky_relu(x, 0.2))


def official_forward(variables: dict[str, np.ndarray], z: torch.Tensor) -> torch.Tensor:
    v = {name: torch.tensor(np.asarray(value), dtype=torch.float64) for name, value in variables.items()}
    dense = v["4x4/Dense/weight"]
    x = _pixel_norm(z.double()) @ dense * (math.sqrt(2) / 4 / math.sqrt(dense.shape[0]))
    x = _act(x.view(z.shape[0], -1, 4, 4) + v["4x4/Dense/bias"].view(1, -1, 1, 1))
    x = _act(_conv(x, v["4x4/Conv/weight"], v["4x4/Conv/bias"]))
    r = 8
    while f"{r}x{r}/Conv1/weight" in v:
        if f"{r}x{r}/Conv0_up/weight" in v:
            weight = v[f"{r}x{r}/Conv0_up/weight"]  # (3, 3, out, in)
            scaled = weight * math.sqrt(2) / math.sqrt(9 * weight.shape[3])
            x = transposed_conv_by_hand(x, summed_kernel(scaled)) + v[f"{r}x{r}/Conv0_up/bias"].view(1, -1, 1, 1)
        else:
            x = _conv(x.repeat_interleave(2, dim=2).repeat_interleave(2, dim=3), v[f"{r}x{r}/Conv0/weight"],
                      v[f"{r}x{r}/Conv0/bias"])
        x = _act(x)
        x = _act(_conv(x, v[f"{r}x{r}/Conv1/weight"], v[f"{r}x{r}/Conv1/bias"]))
        r *= 2
    return _conv(x, v["ToRGB_lod0/weight"], v["ToRGB_lod0/bias"], gain=1.0)
