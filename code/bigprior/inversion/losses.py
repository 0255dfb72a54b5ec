"""The inversion losses of mGANprior, computed per image.

`Combine` = l1_lambda * L1 + l2_lambda * MSE + vgg_lambda * VGG, where VGG is the L1 (or L2) distance
between VGG16 `features[:vgg_layer]` of output and target (each mapped from [-1, 1] to [0, 1],
ImageNet-normalised, resized with nearest to `image_size`), times 0.001. `L1`, `L2` and `VGG` are the
single terms. Every term is the mean over one image, so a batch's loss is the sum of its images'
losses and each image follows the trajectory it would follow alone. The target side never changes
during an inversion, so its VGG features are computed once (`prepare`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import BIGPriorError
from ..zoo import find_vgg16_weights

VGG16_LAYERS = 31  # modules in VGG16's `features`
VGG_LOSS_SCALE = 0.001  # mGANprior's factor on the perceptual term
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
LOSS_TYPES = ("Combine", "L2", "L1", "VGG")
DISTANCES = ("L1", "L2")


def vgg16_features(layer: int, weights: str | os.PathLike | None = None) -> nn.Sequential:
    """VGG16 `features[:layer]` with weights from a torchvision state dict file; random if `weights` is None."""
    if not 1 <= layer <= VGG16_LAYERS:
        raise BIGPriorError(f"--vgg_layer {layer}: expected 1..{VGG16_LAYERS}")
    from torchvision.models.vgg import cfgs, make_layers  # here: torchvision is imported only for the VGG term

    features = make_layers(cfgs["D"])
    if weights is not None:
        try:
            state = torch.load(weights, map_location="cpu", weights_only=True)
        except Exception as exc:  # torch raises several types for foreign or corrupt files
            raise BIGPriorError(f"{weights}: not a readable VGG16 checkpoint ({exc.__class__.__name__})") from exc
        own = features.state_dict()
        prefixed = {f"features.{key}": value for key, value in own.items()}
        for key, value in prefixed.items():
            if not isinstance(state, dict) or key not in state or tuple(state[key].shape) != tuple(value.shape):
                raise BIGPriorError(f"{weights}: not torchvision's VGG16 (key {key} missing or mis-shaped)")
        features.load_state_dict({key: state[f"features.{key}"] for key in own})
    return features[:layer]


class VGGFeatures(nn.Module):
    """Frozen VGG features of images in [-1, 1], preprocessed as mGANprior's perceptual loss."""

    def __init__(self, features: nn.Sequential, image_size: int) -> None:
        super().__init__()
        self.features = features.eval().requires_grad_(False)
        self.image_size = image_size
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1))

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        x = (image * 0.5 + 0.5 - self.mean) / self.std
        x = F.interpolate(x, size=self.image_size, mode="nearest")
        return self.features(x)


def _per_image_mean(values: torch.Tensor) -> torch.Tensor:
    """Mean over each image, accumulated in float64: the value then does not depend on how the
    reduction is split (which changes with the batch size), and restarts compare exactly."""
    return values.flatten(1).double().mean(dim=1).float()


def _distance(kind: str, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    diff = a.float() - b.float()
    return _per_image_mean(diff.abs() if kind == "L1" else diff.square())


@dataclass
class PreparedTarget:
    """What the loss needs of the (fixed) targets: their loss view and, with a VGG term, its features."""

    view: torch.Tensor
    features: torch.Tensor | None = None


class InversionLoss(nn.Module):
    """Weighted sum of L1, MSE and VGG terms; `forward` returns one loss per image, shape (B,)."""

    def __init__(self, l1_lambda: float = 0.0, l2_lambda: float = 1.0, vgg_lambda: float = 0.0,
                 vgg: VGGFeatures | None = None, vgg_loss_type: str = "L1") -> None:
        super().__init__()
        if vgg_lambda and vgg is None:
            raise ValueError("a VGG term needs the VGG features module")
        if vgg_loss_type not in DISTANCES:
            raise BIGPriorError(f"--vgg_loss_type {vgg_loss_type!r}: expected one of {', '.join(DISTANCES)}")
        self.l1_lambda, self.l2_lambda, self.vgg_lambda = l1_lambda, l2_lambda, vgg_lambda
        self.vgg = vgg if vgg_lambda else None
        self.vgg_loss_type = vgg_loss_type

    def prepare(self, target_view: torch.Tensor) -> PreparedTarget:
        if self.vgg is None:
            return PreparedTarget(target_view)
        with torch.no_grad():
            return PreparedTarget(target_view, self.vgg(target_view))

    def forward(self, output_view: torch.Tensor, target: PreparedTarget) -> torch.Tensor:
        loss = torch.zeros(output_view.shape[0], device=output_view.device)
        if self.l1_lambda:
            loss = loss + self.l1_lambda * _distance("L1", output_view, target.view)
        if self.l2_lambda:
            loss = loss + self.l2_lambda * _distance("L2", output_view, target.view)
        if self.vgg is not None:
            perceptual = _distance(self.vgg_loss_type, self.vgg(output_view), target.features)
            loss = loss + self.vgg_lambda * VGG_LOSS_SCALE * perceptual
        return loss


def term_weights(loss_type: str, l1_lambda: float, l2_lambda: float, vgg_lambda: float) -> tuple[float, float, float]:
    """(l1, l2, vgg) weights of `--loss_type`: the single terms have weight 1, Combine uses the lambdas."""
    single = {"L1": (1.0, 0.0, 0.0), "L2": (0.0, 1.0, 0.0), "VGG": (0.0, 0.0, 1.0)}
    if loss_type == "Combine":
        return l1_lambda, l2_lambda, vgg_lambda
    if loss_type not in single:
        raise BIGPriorError(f"--loss_type {loss_type!r}: expected one of {', '.join(LOSS_TYPES)}")
    return single[loss_type]


def build_loss(loss_type: str = "Combine", l1_lambda: float = 0.0, l2_lambda: float = 1.0, vgg_lambda: float = 1.0,
               vgg_loss_type: str = "L1", vgg_layer: int = 16, image_size: int = 256,
               vgg_weights: str | os.PathLike | None = None, weights_dir: str | os.PathLike | None = None) -> InversionLoss:
    """The loss of the paper's flags; VGG16 weights (`vgg_weights`, else found in the model zoo's
    weights folders) are read only when a VGG term is used."""
    l1, l2, vgg = term_weights(loss_type, l1_lambda, l2_lambda, vgg_lambda)
    features = None
    if vgg:
        features = VGGFeatures(vgg16_features(vgg_layer, find_vgg16_weights(vgg_weights, weights_dir)), image_size)
    return InversionLoss(l1, l2, vgg, features, vgg_loss_type)
