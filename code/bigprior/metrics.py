"""The metrics of the paper, defined once and used by the fusion test, the report and the demo.

Images are HxWx3 arrays (float in [0, 1], or uint8) unless stated; `mse`/`psnr` follow the release
(mean over all pixels and channels of images in [0, 1]; PSNR = 10 log10(1 / MSE), averaged per image).
"""

from __future__ import annotations

import importlib.util
import math
import os
from pathlib import Path

import numpy as np
import torch
from skimage.color import deltaE_cie76, rgb2lab
from skimage.metrics import structural_similarity
from torch import nn

from .errors import BIGPriorError

AUC_MAX_THRESHOLD = 150  # AuC integrates the CDF of the a/b colour error over thresholds 0..149


def _as_float(image: np.ndarray) -> np.ndarray:
    if image.dtype == np.uint8:
        return image.astype(np.float64) / 255.0
    return np.asarray(image, dtype=np.float64)


def mse(image: np.ndarray, reference: np.ndarray) -> float:
    return float(np.mean((_as_float(image) - _as_float(reference)) ** 2))


def psnr_from_mse(value: float | np.ndarray) -> float | np.ndarray:
    """PSNR in dB of images in [0, 1]; infinite for identical images."""
    with np.errstate(divide="ignore"):
        result = 10 * np.log10(1.0 / np.asarray(value, dtype=np.float64))
    return float(result) if np.ndim(result) == 0 else result


def psnr(image: np.ndarray, reference: np.ndarray) -> float:
    return psnr_from_mse(mse(image, reference))


def ssim(image: np.ndarray, reference: np.ndarray) -> float:
    """SSIM (scikit-image, Gaussian-free 7x7 window, over RGB channels) on images in [0, 1] or uint8."""
    return float(
        structural_similarity(_as_float(reference), _as_float(image), data_range=1.0, channel_axis=-1)
    )


def auc(image: np.ndarray, reference: np.ndarray) -> float:
    """Colorization AuC (x100): mean over t = 0..149 of the fraction of pixels whose CIE76 distance
    in the Lab a/b plane (L set to 0) is <= t. Float inputs are used as they are (the release fed its
    unclamped fused output)."""
    lab_image, lab_reference = rgb2lab(_as_float(image)), rgb2lab(_as_float(reference))
    lab_image[..., 0] = 0
    lab_reference[..., 0] = 0
    distances = np.sort(deltaE_cie76(lab_reference, lab_image).ravel())
    n_pixels = distances.size
    counts = np.searchsorted(distances, np.arange(AUC_MAX_THRESHOLD), side="right")
    total = 0.0
    for count in counts:  # summed in the release's order, so the float result matches it
        total += int(count) / n_pixels
    return 100 * total / AUC_MAX_THRESHOLD


def pearson(x: np.ndarray, y: np.ndarray) -> float:
    """Pearson correlation coefficient of two 1-D samples (nan when either is constant)."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if x.shape != y.shape or x.ndim != 1 or x.size < 2:
        raise ValueError(f"pearson needs two 1-D samples of equal length >= 2, got {x.shape} and {y.shape}")
    dx, dy = x - x.mean(), y - y.mean()
    denominator = math.sqrt(float(dx @ dx) * float(dy @ dy))
    return float(dx @ dy) / denominator if denominator > 0 else float("nan")


# ---------------------------------------------------------------------------------------------
# LPIPS (Zhang et al. 2018), as the paper computed it: PerceptualSimilarity's 'net-lin' model on
# AlexNet features, version 0.0 (that release fed the [-1, 1] images to AlexNet without its
# ImageNet scaling layer; version 0.1 scales them). Its weights cannot be downloaded by this
# project: they are read from files, and a report without them says so.

ALEXNET_WEIGHTS_FILE = "alexnet-owt-7be5be79.pth"  # torchvision's ImageNet AlexNet
LPIPS_LINEAR_FILE = "alex.pth"  # the LPIPS linear layers (keys lin{k}.model.1.weight)
LPIPS_WEIGHTS_ENV = "BIGPRIOR_LPIPS_WEIGHTS"
LPIPS_VERSIONS = ("0.0", "0.1")
_ALEXNET_SLICES = ((0, 2), (2, 5), (5, 8), (8, 10), (10, 12))  # relu1 .. relu5
_ALEXNET_CHANNELS = (64, 192, 384, 256, 256)
_LPIPS_SHIFT = (-0.030, -0.088, -0.188)
_LPIPS_SCALE = (0.458, 0.448, 0.450)


def lpips_weight_files(weights_dir: str | os.PathLike | None = None, version: str = "0.0") -> tuple[Path, Path]:
    """Where the AlexNet and LPIPS linear weights are looked for, in order: `weights_dir` (holding
    both files), $BIGPRIOR_LPIPS_WEIGHTS (the same), else torchvision's cache
    (`<torch hub dir>/checkpoints/alexnet-owt-7be5be79.pth`) and the installed `lpips` package's
    `weights/v<version>/alex.pth`."""
    folder = weights_dir or os.environ.get(LPIPS_WEIGHTS_ENV)
    if folder:
        return Path(folder) / ALEXNET_WEIGHTS_FILE, Path(folder) / LPIPS_LINEAR_FILE
    alexnet = Path(torch.hub.get_dir()) / "checkpoints" / ALEXNET_WEIGHTS_FILE
    spec = importlib.util.find_spec("lpips")
    package = Path(spec.origin).parent if spec and spec.origin else Path("<lpips package not installed>")
    return alexnet, package / "weights" / f"v{version}" / LPIPS_LINEAR_FILE


class LPIPS(nn.Module):
    """LPIPS distance on AlexNet features; `forward` takes NCHW images in [-1, 1] and returns N distances."""

    def __init__(self, version: str = "0.0") -> None:
        super().__init__()
        if version not in LPIPS_VERSIONS:
            raise BIGPriorError(f"LPIPS version must be one of {', '.join(LPIPS_VERSIONS)}, got {version!r}")
        import torchvision  # only here: importing it costs a second, and only LPIPS needs it

        self.version = version
        features = torchvision.models.alexnet(weights=None).features
        self.slices = nn.ModuleList(nn.Sequential(*features[a:b]) for a, b in _ALEXNET_SLICES)
        self.lins = nn.ModuleList(nn.Conv2d(c, 1, 1, bias=False) for c in _ALEXNET_CHANNELS)
        self.register_buffer("shift", torch.tensor(_LPIPS_SHIFT).view(1, 3, 1, 1))
        self.register_buffer("scale", torch.tensor(_LPIPS_SCALE).view(1, 3, 1, 1))
        self.requires_grad_(False)
        self.eval()

    def load_weight_files(self, alexnet_path: Path, linear_path: Path) -> None:
        for path in (alexnet_path, linear_path):
            if not path.is_file():
                raise BIGPriorError(f"{path}: LPIPS weights not found")
        try:
            state = torch.load(alexnet_path, map_location="cpu", weights_only=True)
            features = {k.removeprefix("features."): v for k, v in state.items() if k.startswith("features.")}
            nn.Sequential(*(layer for part in self.slices for layer in part)).load_state_dict(features)  # indices as in AlexNet
        except Exception as exc:  # torch raises several types for corrupt or foreign files
            raise BIGPriorError(f"{alexnet_path}: not torchvision's AlexNet state dict ({exc.__class__.__name__})") from exc
        try:
            linear = torch.load(linear_path, map_location="cpu", weights_only=True)
        except Exception as exc:
            raise BIGPriorError(f"{linear_path}: not a readable LPIPS weight file ({exc.__class__.__name__})") from exc
        for k, (lin, channels) in enumerate(zip(self.lins, _ALEXNET_CHANNELS)):
            weight = linear.get(f"lin{k}.model.1.weight") if isinstance(linear, dict) else None
            if weight is None or tuple(weight.shape) != (1, channels, 1, 1):
                raise BIGPriorError(f"{linear_path}: expected key lin{k}.model.1.weight of shape (1, {channels}, 1, 1)")
            lin.weight.data.copy_(weight)

    def forward(self, image: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
        if self.version == "0.1":
            image, reference = (image - self.shift) / self.scale, (reference - self.shift) / self.scale
        total = torch.zeros(image.shape[0], device=image.device)
        for layer, lin in zip(self.slices, self.lins):
            image, reference = layer(image), layer(reference)
            difference = (_unit_channels(image) - _unit_channels(reference)) ** 2
            total = total + lin(difference).mean(dim=(1, 2, 3))
        return total


def _unit_channels(features: torch.Tensor, eps: float = 1e-10) -> torch.Tensor:
    return features / (features.pow(2).sum(dim=1, keepdim=True).sqrt() + eps)


def load_lpips(weights_dir: str | os.PathLike | None = None, version: str = "0.0", device: str | torch.device = "cpu") -> LPIPS:
    """The LPIPS model with its weights read from `lpips_weight_files`; a BIGPriorError naming the
    missing or unreadable file otherwise (nothing is downloaded)."""
    model = LPIPS(version)
    model.load_weight_files(*lpips_weight_files(weights_dir, version))
    return model.to(device)


def lpips(model: LPIPS, image: np.ndarray, reference: np.ndarray) -> float:
    """LPIPS distance of two HxWx3 images (uint8 or float in [0, 1]), mapped to [-1, 1] as the paper's
    `im2tensor` did."""
    device = model.shift.device
    to_tensor = lambda a: torch.from_numpy(2 * _as_float(a) - 1).permute(2, 0, 1)[None].float().to(device)  # noqa: E731
    with torch.no_grad():
        return float(model(to_tensor(image), to_tensor(reference))[0])
