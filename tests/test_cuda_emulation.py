"""CUDA paths without a GPU (tests/device_emulation.py, tests/cuda_emulation.py): the inversion's steps stay on
the device with no host sync, bf16 autocast keeps the activations in bf16, and torchrun processes take one
GPU each.

The inversion runs at the paper's full size (256 px PGGAN, 512 channels, VGG16 to relu3_3) on `meta`,
where nothing is computed, so these tests cost milliseconds."""

from __future__ import annotations

import importlib

import pytest
import torch
import torch.nn.functional as F
from cuda_emulation import CUDA, LargeFloat32, emulated_cuda, fake_cuda  # noqa: F401
from device_emulation import META, StrictDevice

from bigprior.degradations import Colorization, Inpainting
from bigprior.errors import BIGPriorError
from bigprior.fusion import FusionSpec, build_fusion_model
from bigprior.generators import PGGANGenerator
from bigprior.generators.pggan.network import upsample_nearest_x2
from bigprior.inversion import InversionLoss, MultiCodeGenerator, VGGFeatures, invert
from bigprior import distributed
from bigprior.distributed import GATHER_TIMEOUT, ProcessShare, process_group
from bigprior.inversion.folded import fold_layers
from bigprior.inversion.invert import per_item_loss
from bigprior.inversion.losses import vgg16_features
from bigprior.runtime import numeric_mode

RESOLUTION = 256
SETTINGS = {"col": (6, 20, 1.0, Colorization()), "inp": (4, 30, 0.1, Inpainting())}  # the paper's two


def paper_networks(setting: str) -> tuple[PGGANGenerator, VGGFeatures]:
    """The paper's generator and VGG16 (random weights) on `meta`; `on_device` moves them. Made outside
    any FakeTensorMode: a module made inside one cannot be moved."""
    with torch.device(META):
        return PGGANGenerator(RESOLUTION).eval().requires_grad_(False), VGGFeatures(vgg16_features(16), RESOLUTION)


def on_device(networks: tuple[PGGANGenerator, VGGFeatures], setting: str, fold: bool,
              device: torch.device) -> tuple[MultiCodeGenerator, InversionLoss]:
    """The multi-code generator and loss of a setting on `device` (`to_empty`: emulated devices hold no data)."""
    layer, codes, vgg_lambda, _ = SETTINGS[setting]
    generator, vgg = (network.to_empty(device=device) for network in networks)
    return MultiCodeGenerator(generator, layer, codes, fold=fold), InversionLoss(0.0, 1.0, vgg_lambda, vgg)


def observations(device: torch.device, setting: str, batch: int) -> tuple[torch.Tensor, torch.Tensor | None]:
    targets = torch.zeros(batch, 3, RESOLUTION, RESOLUTION, device=device)
    masks = torch.zeros(batch, 1, RESOLUTION, RESOLUTION, device=device) if setting == "inp" else None
    return targets, masks


INVERSION_CASES = {
    "colorization": dict(setting="col"),
    "inpainting-masks": dict(setting="inp"),
    "strict-fp32": dict(setting="col", precision="fp32"),
    "folded": dict(setting="col", fold=True),
    "restarts": dict(setting="inp", restarts=3),
    "adam-channels-last": dict(setting="col", optimization="Adam", lr=0.05, channels_last=True),
}


@pytest.mark.parametrize("case", INVERSION_CASES.values(), ids=INVERSION_CASES.keys())
def test_inversion_stays_on_the_device(case):
    """No host read, no host tensor mixed in, and only the initial codes (z, alpha) go to the device."""
    case = dict(case)
    setting, fold = case.pop("setting"), case.pop("fold", False)
    multicode, loss = on_device(paper_networks(setting), setting, fold, META)
    targets, masks = observations(META, setting, batch=2)
    with StrictDevice() as strict:
        result = invert(multicode, loss, targets, degradation=SETTINGS[setting][3], masks=masks, iterations=3, **case)
    assert strict.uploads == 2
    assert result.image.device == META and result.image.shape == (2, 3, RESOLUTION, RESOLUTION)
    assert result.history.shape == (2, 3) and result.loss.shape == (2,)


@pytest.mark.parametrize("fold", [False, True], ids=["blocks", "folded"])
def test_bf16_autocast_keeps_the_generator_in_bf16(fake_cuda, fold):
    """Under CUDA autocast no activation of the generator stays in float32 (an fp32 bias or an fp32
    pixel-norm factor promoted every one of them): no float32 tensor larger than the image."""
    generator, _ = paper_networks("col")
    with fake_cuda():
        layers = generator.to_empty(device=CUDA).composable_layers()
        network = torch.nn.Sequential(*(fold_layers(layers) if fold else layers))
        z = torch.randn(2, generator.z_dim, 1, 1, device=CUDA)
        with LargeFloat32(2 * 3 * RESOLUTION**2) as audit, torch.autocast("cuda", dtype=torch.bfloat16):
            image = network(z)
    assert image.dtype == torch.bfloat16 and image.shape == (2, 3, RESOLUTION, RESOLUTION)
    assert audit.events == []


@pytest.mark.parametrize("memory_format", [torch.contiguous_format, torch.channels_last])
def test_nearest_upsampling_is_interpolate_in_the_input_format(memory_format):
    x = torch.randn(2, 5, 3, 4).contiguous(memory_format=memory_format)
    up = upsample_nearest_x2(x)
    assert torch.equal(up, F.interpolate(x, scale_factor=2, mode="nearest"))
    assert up.is_contiguous(memory_format=memory_format)


@pytest.mark.parametrize("setting", SETTINGS)
def test_bf16_autocast_keeps_the_multi_code_generator_in_bf16(fake_cuda, setting):
    """The composed feature maps (batch x codes x C x H x W, the largest tensor of a step) stay in bf16."""
    networks = paper_networks(setting)
    with fake_cuda():
        multicode, _ = on_device(networks, setting, True, CUDA)
        z = torch.randn(2, multicode.z_number, multicode.z_dim, device=CUDA)
        alpha = torch.full((2, multicode.z_number, multicode.channels), 0.05, device=CUDA)
        with LargeFloat32(2 * 3 * RESOLUTION**2) as audit, torch.autocast("cuda", dtype=torch.bfloat16):
            image = multicode(z, alpha)
    assert image.dtype == torch.bfloat16 and audit.events == []


def test_the_inversion_step_under_bf16_autocast_stays_on_the_device(fake_cuda):
    """The forward pass of a colorization step (generator, luma view, VGG loss) with CUDA's autocast: VGG16
    keeps no activation in float32, no host tensor is mixed in, the host waits for nothing."""
    networks = paper_networks("col")
    with fake_cuda():
        multicode, loss = on_device(networks, "col", False, CUDA)
        targets, _ = observations(CUDA, "col", batch=2)
        target = loss.prepare(Colorization().loss_view(targets))
        z = torch.randn(2, multicode.z_number, multicode.z_dim, device=CUDA)
        alpha = torch.full((2, multicode.z_number, multicode.channels), 0.05, device=CUDA)
        with StrictDevice() as strict, torch.autocast("cuda", dtype=torch.bfloat16):
            per_item = per_item_loss(multicode, loss, Colorization(), (z, alpha), None, target.view, target.features)
            with LargeFloat32(targets.numel()) as audit:
                features = loss.vgg(targets)
    assert features.dtype == torch.bfloat16 and audit.events == []
    assert per_item.device == CUDA and per_item.dtype == torch.float32 and per_item.shape == (2,)
    assert strict.uploads == 0


# ---------------------------------------------------------------------------------------------
# torchrun: one GPU per process


@pytest.mark.parametrize("local_rank,gpus,expected", [(0, 2, 0), (1, 2, 1), (3, 2, 1)])
def test_each_torchrun_process_takes_the_gpu_of_its_local_rank(emulated_cuda, local_rank, gpus, expected):
    emulated_cuda.device_count = gpus
    device = ProcessShare(rank=local_rank, world=4, local_rank=local_rank).device(torch.device("cuda"))
    assert device == torch.device("cuda", expected) and emulated_cuda.set_devices == [expected]


def test_an_explicit_gpu_under_torchrun_is_refused(emulated_cuda):
    emulated_cuda.device_count = 2
    with pytest.raises(BIGPriorError, match=r"--device cuda:1: with 2 processes .*CUDA_VISIBLE_DEVICES"):
        ProcessShare(rank=0, world=2, local_rank=0).device(torch.device("cuda", 1))


def test_one_process_keeps_its_device_and_makes_it_current(emulated_cuda):
    emulated_cuda.device_count = 2
    assert ProcessShare().device(torch.device("cuda", 1)) == torch.device("cuda", 1)
    assert ProcessShare().device(torch.device("cuda")) == torch.device("cuda")
    assert ProcessShare().device(torch.device("cpu")) == torch.device("cpu")
    assert emulated_cuda.set_devices == [1]


def test_the_closing_gather_waits_longer_than_glooss_default(monkeypatch):
    """A process whose share finishes early waits at the gather for the slowest one: hours, not 30 minutes."""
    calls = []
    monkeypatch.setattr(distributed.dist, "init_process_group", lambda *args, **kwargs: calls.append(kwargs))
    monkeypatch.setattr(distributed.dist, "destroy_process_group", lambda: None)
    with process_group(ProcessShare(rank=1, world=2, local_rank=1)):
        pass
    assert calls[0]["timeout"] == GATHER_TIMEOUT and GATHER_TIMEOUT.total_seconds() >= 24 * 3600


# ---------------------------------------------------------------------------------------------
# the fusion of a restore, on CUDA


@pytest.mark.parametrize("precision", ["default", "fp32", "bf16"])
@pytest.mark.parametrize("network", [("D", False, "none", False), ("D", True, "none", False), ("U", True, "sigmoid", False),
                                     ("U", True, "sigmoid", True)],
                         ids=["paper", "extend_input", "unet_sigmoid", "unet_sigmoid_self_ensemble"])
def test_the_fusion_of_a_restore_runs_on_cuda(fake_cuda, precision, network):
    """The paper's fusion network (DnCNN-17), and the bounded-phi U-Net of the built-in networks (with and
    without the self-ensemble), on a 256 px colorization in each numeric mode, CUDA branches taken: no
    host read, no host tensor; under bf16 no network activation stays in float32 (phi and the blend,
    image-sized, are float32: the output keeps the observation's precision)."""
    backbone, extend_input, phi_activation, self_ensemble = network
    with torch.device(META):
        model = build_fusion_model(FusionSpec(observation_channels=1, backbone=backbone, extend_input=extend_input,
                                                   phi_activation=phi_activation)).eval()
    model.self_ensemble = self_ensemble
    with fake_cuda():
        model = model.to_empty(device=CUDA)
        x, prior = torch.rand(2, 1, 256, 256, device=CUDA), torch.rand(2, 3, 256, 256, device=CUDA)
        with numeric_mode(precision, CUDA) as autocast, torch.no_grad(), StrictDevice() as strict:
            assert torch.backends.cudnn.benchmark == (precision != "fp32")
            with LargeFloat32(prior.numel() * 4 // 3) as audit, autocast():
                out, phi = model(x, prior)
    assert out.shape == phi.shape == (2, 3, 256, 256) and out.device == CUDA and out.dtype == torch.float32
    assert strict.uploads == 0
    assert (audit.events == []) == (precision == "bf16"), audit.events[:3]


def test_channels_last_runs_channels_last_copies_of_the_generator_and_vgg16(monkeypatch):
    invert_module = importlib.import_module("bigprior.inversion.invert")  # the module (the package exports the function)
    copies, original = [], invert_module.channels_last_copy
    monkeypatch.setattr(invert_module, "channels_last_copy", lambda module: copies.append(original(module)) or copies[-1])
    multicode, loss = on_device(paper_networks("col"), "col", False, META)
    convs = lambda *modules: [m for module in modules for m in module.modules() if isinstance(m, torch.nn.Conv2d)]
    strides = [c.weight.stride() for c in convs(multicode, loss)]
    targets, _ = observations(META, "col", batch=1)
    invert(multicode, loss, targets, degradation=Colorization(), iterations=1, channels_last=True)
    assert len(copies) == 2 and len(convs(*copies)) == 15 + 7
    assert all(c.weight.is_contiguous(memory_format=torch.channels_last) for c in convs(*copies))
    assert [c.weight.stride() for c in convs(*copies)] != strides
    assert [c.weight.stride() for c in convs(multicode, loss)] == strides  # the caller's networks keep their layout
