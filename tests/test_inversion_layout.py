"""`invert(channels_last=True)` runs channels-last copies of the networks: the caller's generator and VGG16 keep
their layout (a later reference loop times what it was given), and the result is the contiguous run's."""

from __future__ import annotations

import pytest
import torch

from bigprior.degradations import Colorization
from bigprior.generators import PGGANGenerator
from bigprior.inversion import InversionLoss, MultiCodeGenerator, VGGFeatures, invert
from bigprior.inversion.losses import vgg16_features

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _weights(*modules: torch.nn.Module) -> list[torch.Tensor]:
    """The 4-d weights (those a memory format changes: more than one input channel and a kernel wider than 1)."""
    return [p for m in modules for p in [*m.parameters(), *m.buffers()] if p.ndim == 4 and p.shape[1] > 1 and p.shape[-1] > 1]


@pytest.mark.parametrize("fold", [False, True])
def test_channels_last_converts_copies_not_the_callers_networks(fold: bool) -> None:
    torch.manual_seed(0)
    generator = PGGANGenerator(16, z_dim=8, fmaps_max=8).eval().requires_grad_(False)
    vgg = VGGFeatures(vgg16_features(4), 16)
    loss = InversionLoss(0.0, 1.0, 1.0, vgg)
    latent = MultiCodeGenerator(generator, 2, 3, fold=fold)
    weights = _weights(generator, vgg, latent)
    assert weights and all(w.is_contiguous() for w in weights)
    targets = torch.rand(2, 3, 16, 16, generator=torch.Generator().manual_seed(1)) * 2 - 1
    converted = invert(latent, loss, targets, degradation=Colorization(), iterations=2, channels_last=True)
    assert all(w.is_contiguous() for w in _weights(generator, vgg, latent)), "invert converted the caller's networks"
    plain = invert(latent, loss, targets, degradation=Colorization(), iterations=2)
    torch.testing.assert_close(converted.image, plain.image, rtol=1e-4, atol=1e-5)
