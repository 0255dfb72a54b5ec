"""The PGGAN generator and its loader: known answers, the 256px layout, fused blocks, every error path."""

from __future__ import annotations

import json
import math

import pytest
import torch
import torch.nn.functional as F
from conftest import VECTORS, require_shared
from official_pggan import summed_kernel, transposed_conv_by_hand

from bigprior.errors import BIGPriorError
from bigprior import zoo
from bigprior.generators import load_pggan, pggan
from bigprior.generators.pggan.network import PGGANBlock, generator_from_state_dict

torch.set_num_threads(2)


@pytest.fixture(scope="module")
def tiny_io() -> dict:
    return torch.load(require_shared(VECTORS / "tiny_r32_io.pt"), map_location="cpu", weights_only=True)


@pytest.fixture(scope="module")
def tiny_state() -> dict:
    return torch.load(require_shared(VECTORS / "tiny_r32_generator.pth"), map_location="cpu", weights_only=True)


def test_converted_checkpoint_reproduces_vector(tiny_io):
    generator = load_pggan(VECTORS / "tiny_r32_generator.pth")
    assert (generator.resolution, generator.z_dim, generator.channels) == (32, 512, [64, 64, 64, 64])
    assert not generator.fused_scale and not generator.training
    assert all(not p.requires_grad for p in generator.parameters())
    with torch.no_grad():
        assert (generator(tiny_io["z"]) - tiny_io["out"]).abs().max().item() < 1e-5


def test_pggan256_layout_and_composing_layer_shapes(tmp_path):
    keys = json.loads(require_shared(VECTORS / "pggan256_state_dict_keys.json").read_text())
    shapes = json.loads(require_shared(VECTORS / "pggan256_composing_layer_input_shapes.json").read_text())
    generator_seed = torch.Generator().manual_seed(0)
    state = {key: torch.randn(shape, generator=generator_seed) * 0.05 for key, shape in keys}
    state["lod"] = torch.zeros(())
    torch.save(state, tmp_path / "pggan256.pth")
    generator = load_pggan(tmp_path / "pggan256.pth")
    assert [[k, list(v.shape)] for k, v in generator.state_dict().items()] == keys  # same keys, order, shapes
    assert (generator.resolution, generator.channels) == (256, [512, 512, 512, 512, 256, 128, 64])
    layers = generator.composable_layers()
    assert len(layers) == len(shapes) - 1
    x = torch.randn(1, 512).view(1, 512, 1, 1)
    seen = {}
    with torch.no_grad():
        for k in range(7):  # the input of layer k is the output of layers[:k]
            seen[k] = [k, list(x.shape[1:])]
            x = layers[k](x)
    assert seen == {k: shapes[k] for k in range(7)}
    assert seen[4] == [4, [512, 8, 8]] and seen[6] == [6, [512, 16, 16]]


def _reference_fused_block(x, weight, bias, in_channels):
    """Pixel norm, the official upscale2d_conv2d by scatter-add, bias, LeakyReLU (genforce weight layout)."""
    scaled = weight.double().permute(0, 1, 3, 2) * math.sqrt(2) / math.sqrt(9 * in_channels)  # -> (3, 3, out, in)
    x = x.double() * torch.rsqrt(x.double().square().mean(dim=1, keepdim=True) + 1e-8)
    return F.leaky_relu(transposed_conv_by_hand(x, summed_kernel(scaled)) + bias.double().view(1, -1, 1, 1), 0.2)


def test_fused_block_equals_direct_formula():
    torch.manual_seed(0)
    block = PGGANBlock(6, 5, upsample=True, fused_upsample=True)
    with torch.no_grad():
        block.weight.normal_()
        block.wscale.bias.normal_()
    x = torch.randn(2, 6, 5, 7)
    with torch.no_grad():
        out = block(x)
    assert out.shape == (2, 5, 10, 14)
    assert (out.double() - _reference_fused_block(x, block.weight, block.wscale.bias, 6)).abs().max().item() < 1e-5
    # the same layer is nearest x2 upsampling then a 3x3 conv whose kernel is rotated by 180 degrees
    rotated = block.weight.flip(0, 1).permute(3, 2, 0, 1) * block.wscale.scale
    normed = x * torch.rsqrt(x.square().mean(dim=1, keepdim=True) + 1e-8)
    upsampled = F.conv2d(F.interpolate(normed, scale_factor=2, mode="nearest"), rotated, padding=1)
    assert (F.leaky_relu(upsampled + block.wscale.bias.view(1, -1, 1, 1), 0.2) - out).abs().max().item() < 1e-5


def _fused_state(seed: int = 0) -> dict:
    """A random 16x16 generator state dict in the genforce fused layout (layer{2b}.weight = (3, 3, in, out))."""
    torch.manual_seed(seed)
    reference = pggan.PGGANGenerator(16, z_dim=24, channels=[32, 32, 16], fused_scale=True)
    return {k: torch.randn_like(v) * 0.3 if k != "lod" else v for k, v in reference.state_dict().items()}


def test_fused_state_dict_loads_from_its_shapes(tmp_path):
    state = _fused_state()
    assert state["layer4.weight"].shape == (3, 3, 32, 16) and "layer4.conv.weight" not in state
    torch.save(state, tmp_path / "fused.pth")
    generator = load_pggan(tmp_path / "fused.pth")
    assert generator.fused_scale and generator.channels == [32, 32, 16] and generator.z_dim == 24
    x = torch.randn(3, 32, 8, 8)
    with torch.no_grad():
        expected = _reference_fused_block(x, state["layer4.weight"], state["layer4.wscale.bias"], 32)
        assert (generator.layer4(x).double() - expected).abs().max().item() < 1e-5
        assert generator(torch.randn(2, 24)).shape == (2, 3, 16, 16)


def _genforce_layout(state: dict) -> dict:
    return {k.replace(".conv.weight", ".weight").replace(".wscale.bias", ".bias"): v for k, v in state.items()}


def test_genforce_checkpoints_prefer_the_smooth_generator(tmp_path, tiny_state, tiny_io):
    other = {k: v + 0.5 if k != "lod" else v for k, v in tiny_state.items()}
    torch.save({"generator": other, "generator_smooth": tiny_state, "discriminator": {}}, tmp_path / "both.pth")
    torch.save({"generator": _genforce_layout(tiny_state)}, tmp_path / "genforce_layout.pth")
    with torch.no_grad():
        smooth = load_pggan(tmp_path / "both.pth")(tiny_io["z"])
        trained = load_pggan(tmp_path / "both.pth", which="G")(tiny_io["z"])
        layout = load_pggan(tmp_path / "genforce_layout.pth")(tiny_io["z"])
    assert (smooth - tiny_io["out"]).abs().max().item() < 1e-5
    assert (trained - tiny_io["out"]).abs().max().item() > 0.1
    assert (layout - tiny_io["out"]).abs().max().item() < 1e-5


def test_legacy_torch_format_loads(tmp_path, tiny_state, tiny_io):
    torch.save(tiny_state, tmp_path / "legacy.pth", _use_new_zipfile_serialization=False)
    with torch.no_grad():
        assert (load_pggan(tmp_path / "legacy.pth")(tiny_io["z"]) - tiny_io["out"]).abs().max().item() < 1e-5


def test_missing_file_names_path_model_and_where_published(tmp_path):
    path = tmp_path / "pggan_bedroom256_generator.pth"
    with pytest.raises(BIGPriorError) as err:
        load_pggan(path)
    message = str(err.value)
    assert str(path) in message and "pggan_bedroom" in message and zoo.PGGAN_PUBLISHED in message


def test_zoo_names_both_files_and_takes_the_official_pickle(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no cache/weights/ or code/mganprior/... here
    monkeypatch.setenv(zoo.WEIGHTS_ENV, str(tmp_path))
    with pytest.raises(BIGPriorError, match="pggan_church.*pggan_churchoutdoor256_generator.pth or "
                                            "karras2018iclr-lsun-churchoutdoor-256x256.pkl not found"):
        zoo.resolve_generator_path("pggan_churchoutdoor")
    (tmp_path / "karras2018iclr-lsun-churchoutdoor-256x256.pkl").write_bytes(b"")
    assert zoo.resolve_generator_path("pggan_churchoutdoor").name.endswith(".pkl")
    (tmp_path / "pggan_churchoutdoor256_generator.pth").write_bytes(b"")
    assert zoo.resolve_generator_path("pggan_churchoutdoor").name == "pggan_churchoutdoor256_generator.pth"


@pytest.mark.parametrize("edit, bad_key", [
    (lambda s: s.pop("layer3.conv.weight"), "missing key layer3.conv.weight"),
    (lambda s: s.pop("layer4.conv.weight"), "missing key layer4.conv.weight"),
    (lambda s: s.pop("lod"), "missing key lod"),
    (lambda s: s.__setitem__("layer5.wscale.bias", torch.zeros(7)), "key layer5.wscale.bias has shape (7,)"),
    (lambda s: s.__setitem__("output2.conv.weight", torch.zeros(3, 64, 3, 3)), "key output2.conv.weight has shape"),
    (lambda s: s.__setitem__("layer1.extra", torch.zeros(1)), "unexpected key layer1.extra"),
    (lambda s: s.__setitem__("layer8.conv.weight", torch.zeros(64, 64, 3, 3)), "missing key layer8.wscale.bias"),
])
def test_bad_state_dict_names_the_first_bad_key(tmp_path, tiny_state, edit, bad_key):
    state = dict(tiny_state)
    edit(state)
    torch.save(state, tmp_path / "bad.pth")
    with pytest.raises(BIGPriorError, match=f"bad.pth: {bad_key}".replace("(", r"\(").replace(")", r"\)")):
        load_pggan(tmp_path / "bad.pth")


def test_other_bad_files(tmp_path, tiny_state):
    torch.save([1, 2], tmp_path / "list.pth")
    with pytest.raises(BIGPriorError, match="list.pth: expected a state dict, got list"):
        load_pggan(tmp_path / "list.pth")
    torch.save({"conv.weight": torch.zeros(1)}, tmp_path / "foreign.pth")
    with pytest.raises(BIGPriorError, match="missing key layer0.conv.weight"):
        load_pggan(tmp_path / "foreign.pth")
    (tmp_path / "image.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 40)
    with pytest.raises(BIGPriorError, match="image.png: not a readable PGGAN pickle"):
        load_pggan(tmp_path / "image.png")
    grown = dict(tiny_state, lod=torch.tensor(1.0))
    with pytest.raises(BIGPriorError, match="lod is 1.0"):
        generator_from_state_dict(grown, "grown")
    with pytest.raises(BIGPriorError, match="which='D'"):
        load_pggan(VECTORS / "tiny_r32_generator.pth", which="D")
    with pytest.raises(BIGPriorError, match="tiny_r32_generator.pth: holds one generator's state dict"):
        load_pggan(VECTORS / "tiny_r32_generator.pth", which="G")
    torch.save({"generator_smooth": tiny_state}, tmp_path / "smooth_only.pth")
    with pytest.raises(BIGPriorError, match="genforce checkpoint without a 'generator' entry"):
        load_pggan(tmp_path / "smooth_only.pth", which="G")
