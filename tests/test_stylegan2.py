"""The StyleGAN2 generator's arithmetic: NVlabs' known answers, the block-level synthesis, the fused
(grouped) path against the per-sample one, conditional mapping and truncation."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from conftest import STYLEGAN2, require_shared

from bigprior.errors import BIGPriorError
from bigprior.generators import StyleGAN2Config, StyleGAN2Generator, load_stylegan2

TOLERANCE = 1e-4
pytestmark = pytest.mark.usefixtures("one_torch_thread")  # grouped convolutions: one thread is fastest on a busy CPU


@pytest.fixture(scope="module")
def io() -> dict:
    return torch.load(require_shared(STYLEGAN2 / "tiny_r32_io.pt"), map_location="cpu", weights_only=True)


@pytest.fixture(scope="module")
def generator() -> StyleGAN2Generator:
    return load_stylegan2(require_shared(STYLEGAN2 / "tiny_r32_official.pkl"))


def _error(a: torch.Tensor, b: torch.Tensor) -> float:
    assert a.shape == b.shape
    return (a - b).abs().max().item()


def test_mapping_truncation_synthesis_and_wplus_match_nvlabs(generator, io):
    assert (generator.num_ws, generator.z_dim, generator.w_dim, generator.resolution) == (io["num_ws"], 64, 64, 32)
    assert torch.equal(generator.mapping.w_avg, io["w_avg"]) and io["w_avg"].abs().max() > 0
    with torch.no_grad():
        assert _error(generator.mapping(io["z"]), io["ws_psi1"]) < TOLERANCE
        assert _error(generator.mapping(io["z"], truncation_psi=0.7), io["ws_psi07"]) < TOLERANCE
        assert _error(generator.synthesis(io["ws_psi1"]), io["img_psi1"]) < TOLERANCE
        assert _error(generator(io["z"]), io["img_psi1"]) < TOLERANCE
        assert _error(generator(io["z"], truncation_psi=0.7), io["img_psi07"]) < TOLERANCE
        assert _error(generator.synthesis(io["wplus"]), io["img_wplus"]) < TOLERANCE
    assert io["img_psi1"].abs().max() > 1  # raw range: not clamped to [-1, 1]


def test_state_dict_has_nvlabs_names_and_values(generator, io):
    state = generator.state_dict()
    assert list(state) == list(io["state_dict"])
    assert all(torch.equal(state[key], value) for key, value in io["state_dict"].items())


def test_every_block_and_the_split_synthesis(generator, io):
    synthesis, ws = generator.synthesis, io["ws_psi1"]
    assert synthesis.block_resolutions == sorted(io["blocks"])
    start = 0
    x = img = None
    with torch.no_grad():
        for index, resolution in enumerate(synthesis.block_resolutions):
            block = io["blocks"][resolution]
            assert synthesis.block_ws(index) == range(start, start + block["num_conv"] + block["num_torgb"])
            start += block["num_conv"]
            x, img = synthesis.run_blocks(ws, index, index + 1, x, img)
            assert _error(x, block["x"]) < TOLERANCE and _error(img, block["img"]) < TOLERANCE, resolution
            head = synthesis.run_blocks(ws, 0, index + 1)  # blocks [0, k) then [k, end) = the whole synthesis
            if index + 1 < len(synthesis.block_resolutions):
                tail = synthesis.run_blocks(ws, index + 1, None, *head)[1]
                assert torch.equal(tail, synthesis(ws))
    assert start + 1 == generator.num_ws
    with pytest.raises(ValueError, match="give x and img exactly when starting after block 0"):
        synthesis.run_blocks(ws, 1, 2)
    with pytest.raises(ValueError, match=r"expected ws of shape \(batch, 8, 64\)"):
        synthesis.run_blocks(ws[:, :4])


def _random_generator(seed: int, **changes) -> StyleGAN2Generator:
    torch.manual_seed(seed)
    config = StyleGAN2Config(**{"z_dim": 16, "c_dim": 0, "w_dim": 16, "resolution": 16, "mapping_layers": 2,
                                "channel_base": 128, "channel_max": 16, "conv_clamp": 256, **changes})
    generator = StyleGAN2Generator(config)
    with torch.no_grad():  # a nonzero noise strength, a nonzero w_avg: every term counts
        for module in generator.modules():
            if hasattr(module, "noise_strength"):
                module.noise_strength.fill_(0.3)
        generator.mapping.w_avg.normal_()
    return generator.eval()


def test_fused_grouped_path_equals_the_per_sample_path():
    generator = _random_generator(0)
    ws = torch.randn(3, generator.num_ws, generator.w_dim, requires_grad=True)
    fused = generator.synthesis(ws, fused=True)
    grad_fused, = torch.autograd.grad(fused.square().sum(), ws)
    plain = generator.synthesis(ws, fused=False)
    grad_plain, = torch.autograd.grad(plain.square().sum(), ws)
    assert fused.abs().max() > 0.1
    assert _error(fused, plain) < 1e-5
    assert _error(grad_fused, grad_plain) < 1e-4 * grad_plain.abs().max().item()
    single = generator.synthesis(ws[1:2], fused=True)  # and a sample's image does not depend on the batch
    assert _error(single, fused[1:2]) < 1e-5


def _reference_mapping(generator: StyleGAN2Generator, z: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
    """NVlabs' mapping written out: normalised z and normalised embedding of c, equalised-lr layers."""
    def normalise(v):
        return v / v.square().mean(dim=1, keepdim=True).add(1e-8).sqrt()

    mapping, lr = generator.mapping, generator.config.mapping_lr_multiplier
    embed = c @ (mapping.embed.weight / math.sqrt(c.shape[1])).t() + mapping.embed.bias
    x = torch.cat([normalise(z), normalise(embed)], dim=1)
    for i in range(generator.config.mapping_layers):
        fc = getattr(mapping, f"fc{i}")
        x = x @ (fc.weight * lr / math.sqrt(x.shape[1])).t() + fc.bias * lr
        x = F.leaky_relu(x, 0.2) * math.sqrt(2)
    return x


def test_conditional_mapping_embeds_a_one_hot_class():
    generator = _random_generator(1, c_dim=5)
    z = torch.randn(2, 16)
    with pytest.raises(BIGPriorError, match=r"conditional generator \(c_dim 5\): give a class"):
        generator.mapping(z)
    generator.set_class_index(3)
    with torch.no_grad():
        ws = generator.mapping(z)
        reference = _reference_mapping(generator, z, F.one_hot(torch.tensor([3, 3]), 5).float())
        assert _error(ws, reference[:, None].expand(-1, generator.num_ws, -1)) < 1e-5
        other = generator.mapping(z, c=F.one_hot(torch.tensor([0, 0]), 5).float())
        assert _error(other, ws) > 1e-3  # an explicit c wins over the class index
    for bad in (5, -1):
        with pytest.raises(BIGPriorError, match=r"class_index .*expected 0\.\.4 \(c_dim 5\)"):
            generator.set_class_index(bad)
    with pytest.raises(BIGPriorError, match="the generator is unconditional"):
        _random_generator(2).set_class_index(0)


def test_truncation_moves_toward_w_avg_up_to_the_cutoff():
    generator = _random_generator(3)
    z = torch.randn(2, 16)
    with torch.no_grad():
        ws, w_avg = generator.mapping(z), generator.mapping.w_avg
        assert torch.allclose(generator.mapping(z, truncation_psi=0.0), w_avg.expand_as(ws))
        cut = generator.mapping(z, truncation_psi=0.5, truncation_cutoff=2)
    assert torch.allclose(cut[:, :2], w_avg + 0.5 * (ws[:, :2] - w_avg)) and torch.equal(cut[:, 2:], ws[:, 2:])


@pytest.mark.parametrize("changes, message", [
    ({"resolution": 24}, "resolution 24; expected a power of two >= 4"),
    ({"kernel_size": 5}, "kernel_size 5; expected 3"),
    ({"resample_filter": (1, 2, 1)}, r"resample_filter \(1, 2, 1\); expected an even number of positive taps"),
    ({"c_dim": -1}, "c_dim -1; expected an integer >= 0"),
    ({"conv_clamp": 0}, "conv_clamp 0; expected a positive number or none"),
])
def test_config_is_checked(changes, message):
    config = StyleGAN2Config(**{"z_dim": 8, "c_dim": 0, "w_dim": 8, "resolution": 8, **changes})
    with pytest.raises(BIGPriorError, match=message):
        config.check("here")
