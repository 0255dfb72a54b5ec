"""The multi-code generator, the losses and the batched inversion loop against known answers.

Vectors: ../shared/testvectors/pggan (tiny_r32_io.pt: multi-code composition at layers 2, 4, 6;
tiny_r32_inversion_trajectories.pt: 25 plain-SGD steps of L2 inversion for three tasks).
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from conftest import VECTORS, require_shared

from bigprior.degradations import BlindAWGN, Colorization, Inpainting
from bigprior.errors import BIGPriorError
from bigprior.generators import PGGANGenerator, load_pggan
from bigprior.inversion import InversionLoss, MultiCodeGenerator, VGGFeatures, build_loss, initial_codes, invert
from bigprior.inversion.folded import upsample_conv_kernel
from bigprior.inversion.losses import vgg16_features
from bigprior.zoo import VGG16_FILE, find_vgg16_weights

pytestmark = pytest.mark.usefixtures("one_torch_thread")

TRAJECTORY_TOLERANCE = 1e-4
# A relative perturbation of 1e-7 of z0 moves the colorization case's final image by ~2e-4 after its
# 25 steps (chroma is unconstrained by the luma loss), so arithmetic that differs in rounding from the
# reference's (the folded layers) lands within a few times that, not within 1e-4.
FOLDED_TRAJECTORY_TOLERANCE = 1e-3
TASK_DEGRADATIONS = {"colorization": Colorization(), "inpainting": Inpainting(), "denoise": BlindAWGN()}


@pytest.fixture(scope="module")
def tiny_generator():
    return load_pggan(require_shared(VECTORS / "tiny_r32_generator.pth"))


@pytest.fixture(scope="module")
def io_vectors():
    return torch.load(require_shared(VECTORS / "tiny_r32_io.pt"), map_location="cpu", weights_only=True)


@pytest.fixture(scope="module")
def trajectories():
    return torch.load(require_shared(VECTORS / "tiny_r32_inversion_trajectories.pt"), map_location="cpu", weights_only=True)


# ---------------------------------------------------------------------------------------------
# the multi-code generator


@pytest.mark.parametrize("fold", [False, True])
def test_multicode_reproduces_vectors(tiny_generator, io_vectors, fold):
    for layer, case in io_vectors["multi"].items():
        multicode = MultiCodeGenerator(tiny_generator, layer, case["z"].shape[1], fold=fold)
        assert list(multicode.feature_shape) == list(case["feature_shape"])
        torch.testing.assert_close(multicode(case["z"], case["alpha"]), case["out"], rtol=0, atol=1e-5)


def test_multicode_with_one_code_and_unit_alpha_is_the_generator(tiny_generator, io_vectors):
    multicode = MultiCodeGenerator(tiny_generator, 4, 1)
    z = io_vectors["z"][:, None]
    torch.testing.assert_close(multicode(z, torch.ones(4, 1, multicode.channels)), io_vectors["out"], rtol=0, atol=1e-5)


@pytest.mark.parametrize("layer,shape", [(4, (512, 8, 8)), (6, (512, 16, 16))])
def test_composing_layer_shapes_of_a_256_generator(layer, shape):
    generator = PGGANGenerator(256).eval().requires_grad_(False)
    assert MultiCodeGenerator(generator, layer, 2).feature_shape == shape


@pytest.mark.parametrize("layer", [-1, 9, 100])
def test_composing_layer_out_of_range(tiny_generator, layer):
    with pytest.raises(BIGPriorError, match=r"--composing_layer .*\(expected 0\.\.8\)"):
        MultiCodeGenerator(tiny_generator, layer, 3)


def test_upsample_conv_kernel_equals_upsample_then_conv():
    weight, x = torch.randn(5, 4, 3, 3), torch.randn(2, 4, 6, 7)
    direct = F.conv2d(F.interpolate(x, scale_factor=2, mode="nearest"), weight, padding=1)
    fused = F.conv_transpose2d(x, upsample_conv_kernel(weight), stride=2, padding=1)
    torch.testing.assert_close(fused, direct, rtol=0, atol=1e-5)


# ---------------------------------------------------------------------------------------------
# the inversion loop


def _run_case(generator, case, fold=False, extra_targets=None):
    """Invert the vector's case (from its z0/alpha0), optionally batched after other images."""
    multicode = MultiCodeGenerator(generator, case["composing_layer"], case["z_number"], fold=fold)
    targets, masks, z0, alpha0 = case["target"], case["mask"][:, :1], case["z0"], case["alpha0"]
    if extra_targets is not None:
        extra = extra_targets.shape[0]
        targets = torch.cat([extra_targets, targets])
        masks = torch.cat([torch.zeros(extra, *masks.shape[1:]), masks])
        generator_z = torch.Generator().manual_seed(3)
        z0 = torch.cat([torch.randn(extra, *z0.shape[1:], generator=generator_z), z0])
        alpha0 = torch.cat([alpha0.expand(extra, -1, -1), alpha0])
    result = invert(multicode, InversionLoss(l2_lambda=1.0), targets, degradation=TASK_DEGRADATIONS[case["task"]],
                    masks=masks, optimization="GD", lr=case["lr"], iterations=case["steps"], init=(z0, alpha0),
                    precision="fp32")
    return result, -1 if extra_targets is not None else 0


@pytest.mark.parametrize("task", ["colorization", "inpainting", "denoise"])
def test_trajectory_alone_and_in_a_batch(tiny_generator, trajectories, task):
    case = next(c for c in trajectories if c["task"] == task)
    others = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(1)) * 2 - 1
    for extra in (None, others):
        result, b = _run_case(tiny_generator, case, extra_targets=extra)
        for key in ("z", "alpha", "image"):
            torch.testing.assert_close(getattr(result, key)[b], case[key][0], rtol=0, atol=TRAJECTORY_TOLERANCE)
        torch.testing.assert_close(result.history[b], case["losses"], rtol=0, atol=1e-5)
        assert result.loss[b] < case["losses"][-1]  # the step after the last recorded loss still descends


@pytest.mark.parametrize("task", ["colorization", "inpainting", "denoise"])
def test_trajectory_with_folded_layers(tiny_generator, trajectories, task):
    case = next(c for c in trajectories if c["task"] == task)
    result, _ = _run_case(tiny_generator, case, fold=True)
    for key in ("z", "alpha", "image"):
        torch.testing.assert_close(getattr(result, key)[0], case[key][0], rtol=0, atol=FOLDED_TRAJECTORY_TOLERANCE)
    torch.testing.assert_close(result.history[0], case["losses"], rtol=0, atol=1e-5)


def _targets(count: int, seed: int = 0) -> torch.Tensor:
    return torch.rand(count, 3, 32, 32, generator=torch.Generator().manual_seed(seed)) * 2 - 1


@pytest.mark.parametrize("optimization,lr", [("GD", 0.05), ("Adam", 0.02)])
def test_results_do_not_depend_on_batch_or_order(tiny_generator, optimization, lr):
    multicode = MultiCodeGenerator(tiny_generator, 2, 3)
    targets, indices = _targets(3), [7, 3, 11]
    kwargs = dict(degradation=BlindAWGN(), optimization=optimization, lr=lr, iterations=6, seed=5, precision="fp32")
    batched = invert(multicode, InversionLoss(), targets, indices=indices, **kwargs)
    order = [2, 0, 1]
    shuffled = invert(multicode, InversionLoss(), targets[order], indices=[indices[i] for i in order], **kwargs)
    for b, index in enumerate(indices):
        alone = invert(multicode, InversionLoss(), targets[b : b + 1], indices=[index], **kwargs)
        # strict fp32 on the CPU computes each image of a batch on its own: equal bit for bit
        assert torch.equal(batched.image[b], alone.image[0]) and torch.equal(batched.z[b], alone.z[0])
        assert torch.equal(batched.alpha[b], alone.alpha[0]) and torch.equal(batched.history[b], alone.history[0])
        assert torch.equal(shuffled.image[order.index(b)], alone.image[0])


def test_initial_codes_follow_the_image_stream(tiny_generator):
    multicode = MultiCodeGenerator(tiny_generator, 4, 5)
    z, alpha = initial_codes(multicode, index=3, seed=9, restarts=3)
    assert z.shape == (3, 5, 512) and alpha.shape == (3, 5, 64)
    assert torch.all(alpha == 0.2)
    single, _ = initial_codes(multicode, index=3, seed=9)
    torch.testing.assert_close(single[0], z[0], rtol=0, atol=0)  # restart 0 is the single run
    assert not torch.equal(z[0], z[1])
    assert not torch.equal(initial_codes(multicode, index=4, seed=9)[0], single)
    zero, _ = initial_codes(multicode, index=3, seed=9, init_type="Zero")
    assert torch.all(zero == 0)


def test_restarts_keep_the_lowest_final_loss(tiny_generator):
    """Issue 6, must hold 4: the kept image's final loss is the minimum of K single runs with the same
    seeds, and restarts do not depend on the batch size."""
    multicode = MultiCodeGenerator(tiny_generator, 2, 3)
    targets, indices, restarts = _targets(2, seed=4), [0, 5], 3
    kwargs = dict(degradation=BlindAWGN(), optimization="GD", lr=0.1, iterations=8, seed=2, precision="fp32")
    together = invert(multicode, InversionLoss(), targets, indices=indices, restarts=restarts, **kwargs)
    for b, index in enumerate(indices):
        z0, alpha0 = initial_codes(multicode, index, seed=2, restarts=restarts)
        singles = [invert(multicode, InversionLoss(), targets[b : b + 1], init=(z0[r : r + 1], alpha0[r : r + 1]), **kwargs)
                   for r in range(restarts)]
        losses = torch.stack([s.loss[0] for s in singles])
        best = int(losses.argmin())
        assert len(set(losses.tolist())) == restarts  # the restarts really differ
        assert torch.equal(together.restart_losses[b], losses)  # CPU: bit for bit (see numeric_mode)
        assert int(together.best_restart[b]) == best
        assert together.loss[b] == losses.min()
        assert torch.equal(together.image[b], singles[best].image[0])
        alone = invert(multicode, InversionLoss(), targets[b : b + 1], indices=[index], restarts=restarts, **kwargs)
        assert torch.equal(alone.restart_losses[0], together.restart_losses[b])
        assert torch.equal(alone.image[0], together.image[b])


def test_zero_init_with_restarts_is_refused(tiny_generator):
    with pytest.raises(BIGPriorError, match="--restarts"):
        invert(MultiCodeGenerator(tiny_generator, 2, 2), InversionLoss(), _targets(1), degradation=BlindAWGN(),
               init_type="Zero", restarts=2, iterations=1)


# ---------------------------------------------------------------------------------------------
# losses


def test_loss_is_a_sum_of_per_image_means():
    loss = InversionLoss(l1_lambda=0.3, l2_lambda=0.7, vgg_lambda=0)
    output, target = _targets(3, 1), _targets(3, 2)
    per_image = loss(output, loss.prepare(target))
    for b in range(3):
        expected = 0.3 * F.l1_loss(output[b], target[b]) + 0.7 * F.mse_loss(output[b], target[b])
        torch.testing.assert_close(per_image[b], expected)


@pytest.fixture(scope="module")
def torchvision_vgg16():
    """torchvision's VGG16 with random weights (the real file is not downloaded in tests)."""
    from torchvision.models import vgg16

    torch.manual_seed(0)
    return vgg16().eval()


@pytest.fixture(scope="module")
def random_vgg_file(tmp_path_factory, torchvision_vgg16):
    """Its state dict in the layout of torchvision's file (the `features` part that the loss reads)."""
    path = tmp_path_factory.mktemp("vgg") / VGG16_FILE
    torch.save({k: v for k, v in torchvision_vgg16.state_dict().items() if k.startswith("features.")}, path)
    return path


@pytest.mark.parametrize("distance", ["L1", "L2"])
def test_vgg_loss_matches_mganprior_formula(random_vgg_file, torchvision_vgg16, distance):
    loss = build_loss("Combine", 0.0, 1.0, 0.5, distance, 16, 48, random_vgg_file)
    features = torchvision_vgg16.features[:16]
    mean, std = torch.tensor([0.485, 0.456, 0.406])[:, None, None], torch.tensor([0.229, 0.224, 0.225])[:, None, None]
    output, target = _targets(2, 3), _targets(2, 4)
    per_image = loss(output, loss.prepare(target))
    distance_fn = F.l1_loss if distance == "L1" else F.mse_loss
    for b in range(2):
        def feats(x):
            return features(F.interpolate(((x[b : b + 1] * 0.5 + 0.5) - mean) / std, size=48, mode="nearest"))

        expected = F.mse_loss(output[b], target[b]) + 0.5 * 0.001 * distance_fn(feats(output), feats(target))
        torch.testing.assert_close(per_image[b], expected, rtol=1e-4, atol=1e-7)


def test_vgg_weights_are_found_in_torch_caches(random_vgg_file, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no workspace cache/weights/ here
    monkeypatch.delenv("BIGPRIOR_WEIGHTS", raising=False)
    xdg = tmp_path / "xdg"
    (xdg / "torch" / "checkpoints").mkdir(parents=True)
    monkeypatch.setenv("XDG_CACHE_HOME", str(xdg))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))
    with pytest.raises(BIGPriorError, match=rf"{VGG16_FILE}.*looked in .*xdg/torch/checkpoints, .*torch_home/hub/checkpoints"):
        find_vgg16_weights()
    (tmp_path / "torch_home" / "hub" / "checkpoints").mkdir(parents=True)
    hub_file = tmp_path / "torch_home" / "hub" / "checkpoints" / VGG16_FILE
    hub_file.symlink_to(random_vgg_file)
    assert find_vgg16_weights() == hub_file
    xdg_file = xdg / "torch" / "checkpoints" / VGG16_FILE
    xdg_file.symlink_to(random_vgg_file)
    assert find_vgg16_weights() == xdg_file  # the release's location comes first
    with pytest.raises(BIGPriorError, match="--vgg_weights .*missing.pth: file not found"):
        find_vgg16_weights(tmp_path / "missing.pth")
    build_loss("Combine", vgg_lambda=0.0)  # no VGG term, no file needed


def test_vgg_weights_of_another_network_are_refused(tmp_path):
    path = tmp_path / "not_vgg.pth"
    torch.save({"features.0.weight": torch.zeros(1)}, path)
    with pytest.raises(BIGPriorError, match="not torchvision's VGG16"):
        vgg16_features(16, path)


def test_vgg_features_are_frozen():
    vgg = VGGFeatures(vgg16_features(4), image_size=32)
    assert not any(p.requires_grad for p in vgg.parameters())
    assert {name for name, _ in vgg.named_buffers()} == {"mean", "std"}
