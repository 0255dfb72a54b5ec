"""Inversion with a StyleGAN2 prior: the latent spaces z / w / w+ / multi against NVlabs' known answers
and against a reference step written here with the generator's public API; batch invariance, restarts
and initial values; the flags' errors. (The scripts end to end: tests/test_inversion_stylegan2_scripts.py.)

Generator: ../shared/testvectors/stylegan2/tiny_r32_official.pkl (4 blocks b4..b32, num_ws 8, w_dim 64).
"""

from __future__ import annotations

import re

import pytest
import torch
from conftest import STYLEGAN2, VECTORS, require_shared

from bigprior.degradations import BlindAWGN, Inpainting, center_mask
from bigprior.errors import BIGPriorError
from bigprior.generators import load_generator, load_pggan
from bigprior.inversion import InversionLoss, build_latent_space, initial_codes, invert
from bigprior.inversion.stylegan2_latent import StyleGAN2MultiCode
from bigprior.seeding import STREAM_INIT, torch_generator

pytestmark = pytest.mark.usefixtures("one_torch_thread")

SPACES = [("z", 4), ("w", 4), ("w+", 4), ("multi", 1), ("multi", "b16")]  # (latent space, composing layer)
SIZE = 32


@pytest.fixture(scope="module")
def generator():
    return load_generator(require_shared(STYLEGAN2 / "tiny_r32_official.pkl"))


@pytest.fixture(scope="module")
def vectors(generator):
    """NVlabs' outputs of the same generator (../shared/testvectors/stylegan2/README.md)."""
    loaded = torch.load(require_shared(STYLEGAN2 / "tiny_r32_io.pt"), map_location="cpu", weights_only=True)
    assert loaded["num_ws"] == generator.num_ws
    return loaded


def _space(generator, space, layer=4, z_number=3):
    return build_latent_space(generator, space, layer, z_number, fused=False)


def _targets(count: int, seed: int = 0) -> torch.Tensor:
    return torch.rand(count, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(seed)) * 2 - 1


# ---------------------------------------------------------------------------------------------
# the spaces' images: NVlabs' known answers


def test_single_code_spaces_reproduce_nvlabs_images(generator, vectors):
    z_space, w_space, wplus_space = (_space(generator, s) for s in ("z", "w", "w+"))
    assert [s.space for s in (z_space, w_space, wplus_space)] == ["z", "w", "w+"] and wplus_space.code_names == ("ws",)
    torch.testing.assert_close(z_space(vectors["z"]), vectors["img_psi1"], rtol=0, atol=1e-4)
    torch.testing.assert_close(w_space(vectors["ws_psi1"][:, 0]), vectors["img_psi1"], rtol=0, atol=1e-4)
    torch.testing.assert_close(wplus_space(vectors["wplus"]), vectors["img_wplus"], rtol=0, atol=1e-4)


@pytest.mark.parametrize("layer", [1, 2, 3])
def test_one_code_with_unit_weights_is_the_plain_synthesis(generator, vectors, layer):
    """N = 1, alpha = 1 and the shared rows equal to the code: exactly the generator's own image."""
    multi = _space(generator, "multi", layer, 1)
    ws = vectors["ws_psi1"]
    alpha = torch.ones(ws.shape[0], 1, multi.channels)
    image = multi(ws[:, :1], alpha, ws[:, multi.shared_start :])
    assert torch.equal(image, generator.synthesis(ws, fused=False))
    torch.testing.assert_close(image, vectors["img_psi1"], rtol=0, atol=1e-4)
    grouped = build_latent_space(generator, "multi", layer, 1, fused=True)  # the GPU path: equal up to rounding
    torch.testing.assert_close(grouped(ws[:, :1], alpha, ws[:, multi.shared_start :]), image, rtol=0, atol=1e-5)


def test_composing_block_by_index_or_name(generator):
    for layer, block, start, features in [(1, 1, 1, (64, 4, 4)), ("b8", 1, 1, (64, 4, 4)), (3, 3, 5, (64, 16, 16)),
                                          ("b32", 3, 5, (64, 16, 16))]:
        multi = _space(generator, "multi", layer, 2)
        assert (multi.composing_layer, multi.shared_start, multi.feature_shape) == (block, start, features)
        assert multi.code_shapes() == ((2, 64), (2, 67), (8 - start, 64))


@pytest.mark.parametrize("layer", [0, 4, -1, "b4", "b64", "16"])
def test_composing_layer_out_of_range(generator, layer):
    with pytest.raises(BIGPriorError, match=rf"--composing_layer {layer}: .*StyleGAN2.*1\.\.3 or b8\.\.b32"):
        _space(generator, "multi", layer)


def test_pggan_takes_only_multi_and_layer_indices():
    pggan = load_pggan(require_shared(VECTORS / "tiny_r32_generator.pth"))
    for space in ("z", "w", "w+"):
        with pytest.raises(BIGPriorError, match=re.escape(f"--latent_space {space}: PGGAN generators are inverted with multi-code")):
            build_latent_space(pggan, space)
    with pytest.raises(BIGPriorError, match="--composing_layer b16: block names are for StyleGAN2"):
        build_latent_space(pggan, "multi", "b16")
    with pytest.raises(BIGPriorError, match="--latent_space 'q'"):
        build_latent_space(pggan, "q")


# ---------------------------------------------------------------------------------------------
# one step against a reference written with the generator's public API


def reference_image(generator, space: str, codes: list[torch.Tensor], block: int) -> torch.Tensor:
    """The image of each space, image by image and code by code."""
    synthesis, num_ws = generator.synthesis, generator.num_ws
    if space == "z":
        return generator.synthesis(generator.mapping(codes[0]))
    if space == "w":
        return synthesis(codes[0][:, None, :].repeat(1, num_ws, 1))
    if space == "w+":
        return synthesis(codes[0])
    w, alpha, shared = codes
    channels = alpha.shape[-1] - 3
    images = []
    for b in range(w.shape[0]):
        features = rgb = 0
        for j in range(w.shape[1]):
            x, img = synthesis.run_blocks(w[b, j].repeat(1, num_ws, 1), 0, block)
            features = features + alpha[b, j, :channels, None, None] * x
            rgb = rgb + alpha[b, j, channels:, None, None] * img
        rows = torch.cat([torch.zeros(num_ws - shared.shape[1], w.shape[-1]), shared[b]])[None]
        images.append(synthesis.run_blocks(rows, block, None, features, rgb)[1])
    return torch.cat(images)


def reference_step(generator, space, block, codes0, targets, mask, optimization, lr):
    """Masked MSE per image, summed; its gradient by autograd; one SGD or Adam update written out."""
    codes = [c.clone().requires_grad_(True) for c in codes0]
    known = 1 - mask
    losses = (((reference_image(generator, space, codes, block) - targets) * known) ** 2).mean(dim=(1, 2, 3))
    grads = torch.autograd.grad(losses.sum(), codes)
    if optimization == "GD":
        return losses.detach(), [c - lr * g for c, g in zip(codes0, grads)]
    beta1, beta2, eps = 0.9, 0.999, 1e-8  # torch.optim.Adam's defaults; step 1 with bias correction
    updated = []
    for c, g in zip(codes0, grads):
        m_hat, v_hat = (1 - beta1) * g / (1 - beta1), (1 - beta2) * g * g / (1 - beta2)
        updated.append(c - lr * m_hat / (v_hat.sqrt() + eps))
    return losses.detach(), updated


@pytest.mark.parametrize("optimization,lr", [("GD", 0.5), ("Adam", 0.01)])
@pytest.mark.parametrize("space,layer", SPACES)
def test_one_step_matches_the_reference(generator, space, layer, optimization, lr):
    latent = _space(generator, space, layer, 3)
    targets = _targets(2, 1)
    mask = center_mask(SIZE, SIZE)[None].expand(2, 1, SIZE, SIZE)
    codes0 = [torch.stack(parts) for parts in zip(*(initial_codes(latent, i, seed=4) for i in (0, 1)))]
    codes0 = [c[:, 0] + 0.01 * torch.randn(c[:, 0].shape, generator=torch.Generator().manual_seed(2)) for c in codes0]
    result = invert(latent, InversionLoss(), targets, degradation=Inpainting(), masks=mask, optimization=optimization,
                    lr=lr, iterations=1, init=codes0, precision="fp32")
    block = getattr(latent, "composing_layer", 0)
    losses, expected = reference_step(generator, space, block, codes0, targets, mask, optimization, lr)
    torch.testing.assert_close(result.history[:, 0], losses, rtol=1e-5, atol=1e-6)
    for name, value, start in zip(latent.code_names, expected, codes0):
        moved = (value - start).abs().max()
        assert moved > 1e-4, name  # every code really moves
        torch.testing.assert_close(result.codes[name], value, rtol=0, atol=1e-5 * max(1.0, float(moved)))


# ---------------------------------------------------------------------------------------------
# initial values, restarts, batch invariance


def test_initial_values_follow_the_image_stream(generator):
    w_avg = generator.mapping.w_avg
    z, = initial_codes(_space(generator, "z"), index=3, seed=9, restarts=3)
    stream = torch_generator(9, 3, STREAM_INIT)
    assert torch.equal(z, torch.stack([torch.randn(64, generator=stream) for _ in range(3)]))
    w, = initial_codes(_space(generator, "w"), index=3, seed=9, restarts=3)
    assert torch.equal(w[0], w_avg)  # restart 0 starts at w_avg, as NVlabs' projector
    with torch.no_grad():  # restart r >= 1: the w of the z space's restart-r start (mapped row by row)
        assert torch.equal(w[1:], generator.mapping(z[1:], fused=False)[:, 0])
    ws, = initial_codes(_space(generator, "w+"), index=3, seed=9, restarts=3)
    assert ws.shape == (3, 8, 64) and torch.equal(ws, w[:, None].expand(-1, 8, -1))
    assert torch.equal(initial_codes(_space(generator, "w"), index=3, seed=9, restarts=2)[0], w[:2])
    zero, = initial_codes(_space(generator, "w"), index=3, seed=9, init_type="Zero")
    assert torch.equal(zero[0], w_avg)


def test_multi_code_initial_values(generator):
    multi = _space(generator, "multi", 2, 4)
    w, alpha, shared = initial_codes(multi, index=1, seed=9, restarts=2)
    stream = torch_generator(9, 1, STREAM_INIT)
    draws = torch.stack([torch.randn(4, 64, generator=stream) for _ in range(2)])
    with torch.no_grad():
        assert torch.equal(w, generator.mapping(draws.view(-1, 64), fused=False)[:, 0].view(2, 4, 64))
    assert len({tuple(row.tolist()) for row in w[0]}) == 4  # the codes differ
    assert torch.all(alpha == 0.25) and alpha.shape == (2, 4, 64 + 3)
    assert shared.shape == (2, 5, 64) and torch.equal(shared, generator.mapping.w_avg.expand(2, 5, -1))


@pytest.mark.parametrize("space,layer", SPACES)
def test_batch_equals_images_alone_with_restarts(generator, space, layer):
    """Strict fp32 on the CPU, the per-sample path: bit for bit (restarts and order included)."""
    latent = _space(generator, space, layer, 2)
    targets, indices = _targets(3, 2), [7, 3, 11]
    kwargs = dict(degradation=BlindAWGN(), optimization="Adam", lr=0.02, iterations=3, seed=5, restarts=2,
                  precision="fp32")
    batched = invert(latent, InversionLoss(), targets, indices=indices, **kwargs)
    assert len(set(batched.restart_losses.flatten().tolist())) == 6  # restarts really differ
    for b, index in enumerate(indices):
        alone = invert(latent, InversionLoss(), targets[b : b + 1], indices=[index], **kwargs)
        assert torch.equal(batched.image[b], alone.image[0]) and torch.equal(batched.history[b], alone.history[0])
        assert torch.equal(batched.restart_losses[b], alone.restart_losses[0])
        for name in latent.code_names:
            assert torch.equal(batched.codes[name][b], alone.codes[name][0]), name


def test_result_names_its_codes(generator):
    result = invert(_space(generator, "multi", 1, 2), InversionLoss(), _targets(1), degradation=BlindAWGN(),
                    iterations=1, lr=0.01)
    assert set(result.codes) == {"w", "alpha", "ws"} and result.w.shape == (1, 2, 64) and result.ws.shape == (1, 7, 64)
    with pytest.raises(AttributeError, match="no attribute or code 'z'"):
        result.z  # noqa: B018


def test_inverter_picks_the_per_sample_path_where_batches_are_exact(generator):
    from bigprior.inversion.stage import InversionSettings, Inverter

    for precision, fused in (("fp32", False), ("default", True)):
        settings = InversionSettings(latent_space="w+", precision=precision, iterations=1)
        inverter = Inverter(generator, InversionLoss(), BlindAWGN(), settings, torch.device("cpu"))
        assert isinstance(inverter.latent, type(_space(generator, "w+"))) and inverter.latent.fused is fused
    settings = InversionSettings(latent_space="multi", composing_layer="b16", z_number=2)
    assert isinstance(Inverter(generator, InversionLoss(), BlindAWGN(), settings, torch.device("cpu")).latent,
                      StyleGAN2MultiCode)
