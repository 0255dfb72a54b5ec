"""Official PGGAN TensorFlow pickles: known answers (Gs, not G), safety, fused layers, convert-pggan."""

from __future__ import annotations

import pickle
from collections import OrderedDict

import numpy as np
import pytest
import torch
from conftest import VECTORS, require_shared
from official_pggan import network_state, official_forward, random_g_paper_variables, write_official_pickle

from bigprior.cli import main as bigprior_main
from bigprior.errors import BIGPriorError
from bigprior.generators import load_pggan
from bigprior.generators.pggan.official import read_official_pickle
from bigprior.generators.pggan.network import generator_from_state_dict

torch.set_num_threads(2)
TINY_KWARGS = {"num_channels": 3, "resolution": 32, "label_size": 0, "fmap_max": 64}


@pytest.fixture(scope="module")
def tiny_pickle():
    return require_shared(VECTORS / "tiny_r32_official_tf.pkl")


@pytest.fixture(scope="module")
def tiny_io() -> dict:
    return torch.load(require_shared(VECTORS / "tiny_r32_io.pt"), map_location="cpu", weights_only=True)


@pytest.fixture(scope="module")
def tiny_networks(tiny_pickle) -> dict:
    return {n.name: n for n in read_official_pickle(tiny_pickle)}


def _max_error(generator, io) -> float:
    with torch.no_grad():
        return (generator(io["z"]) - io["out"]).abs().max().item()


def test_gs_reproduces_the_vector_and_g_does_not(tiny_pickle, tiny_io, tiny_networks):
    assert _max_error(load_pggan(tiny_pickle), tiny_io) < 1e-5
    trained = load_pggan(tiny_pickle, which="G")
    assert _max_error(trained, tiny_io) > 0.1
    reference = {"z": tiny_io["z"], "out": official_forward(tiny_networks["G"].variables, tiny_io["z"]).float()}
    assert _max_error(trained, reference) < 1e-5  # and G is G, computed from its own variables


def _compose(generator, k: int, z: torch.Tensor, alpha: torch.Tensor) -> torch.Tensor:
    """The README's multi-code composition: F_j = seq[:k](z_j) * alpha_j, image = seq[k:](mean_j F_j)."""
    layers = generator.composable_layers()
    batch, codes, z_dim = z.shape
    features = z.reshape(batch * codes, z_dim, 1, 1)
    for layer in layers[:k]:
        features = layer(features)
    features = features.view(batch, codes, *features.shape[1:]) * alpha[:, :, :, None, None]
    x = features.mean(dim=1)
    for layer in layers[k:]:
        x = layer(x)
    return x


def test_pickle_generator_reproduces_every_multi_code_case(tiny_pickle, tiny_io):
    generator = load_pggan(tiny_pickle)
    assert sorted(tiny_io["multi"]) == [2, 4, 6]
    for k, case in tiny_io["multi"].items():
        with torch.no_grad():
            out = _compose(generator, k, case["z"], case["alpha"])
        assert (out - case["out"]).abs().max().item() < 1e-5, k


def test_reference_forward_reproduces_the_vector(tiny_networks, tiny_io):
    """The test's own G_paper arithmetic (used for the fused layers below) is right where vectors exist."""
    out = official_forward(tiny_networks["Gs"].variables, tiny_io["z"])
    assert (out - tiny_io["out"].double()).abs().max().item() < 1e-5


def test_malicious_pickle_is_refused_without_running_code(tmp_path, monkeypatch, capsys):
    malicious = require_shared(VECTORS / "malicious_tf.pkl")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(BIGPriorError, match=r"posix\.system, which is not allowed"):
        load_pggan(malicious)
    assert bigprior_main(["convert-pggan", str(malicious), "out.pth"]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "posix.system" in error
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # neither pickle_ran_code.txt nor any output


def test_damaged_and_foreign_pickles(tmp_path, tiny_pickle, tiny_networks):
    data = tiny_pickle.read_bytes()
    for cut in (len(data) // 2, len(data) - 1, 40):
        (tmp_path / "truncated.pkl").write_bytes(data[:cut])
        with pytest.raises(BIGPriorError, match="truncated.pkl: not a readable PGGAN pickle, truncated or damaged"):
            load_pggan(tmp_path / "truncated.pkl")
    (tmp_path / "dict.pkl").write_bytes(pickle.dumps({"Gs": 1}))
    with pytest.raises(BIGPriorError, match=r"dict.pkl: expected a pickled tuple \(G, D, Gs\).*got a dict"):
        load_pggan(tmp_path / "dict.pkl")
    (tmp_path / "ordered.pkl").write_bytes(pickle.dumps(OrderedDict(a=1)))
    with pytest.raises(BIGPriorError, match=r"collections\.OrderedDict, which is not allowed"):
        load_pggan(tmp_path / "ordered.pkl")
    g, d = (network_state(n.name, list(n.variables.items()), n.static_kwargs, n.build_func_name)
            for n in (tiny_networks["G"], tiny_networks["D"]))
    write_official_pickle(tmp_path / "no_gs.pkl", [g, d])
    with pytest.raises(BIGPriorError, match=r"no_gs.pkl: no network named Gs \(the pickle has G, D\)"):
        load_pggan(tmp_path / "no_gs.pkl")
    assert load_pggan(tmp_path / "no_gs.pkl", which="G").resolution == 32  # G is still there on request


NATIVE_NUMPY = np.empty(0).__reduce__()[0].__module__.encode()  # numpy._core.multiarray under numpy 2


@pytest.mark.parametrize("protocol, numpy1_names, globals_written", [
    (2, False, [NATIVE_NUMPY + b"\n_reconstruct", b"_codecs\nencode"]),  # protocol 2 stores bytes via _codecs
    (4, True, [b"numpy.core.multiarray", b"_reconstruct"]),
    (5, False, [b"_frombuffer"]),  # protocol 5 rebuilds arrays from buffers
])
def test_numpy_1_and_2_names_and_protocols(tmp_path, tiny_networks, tiny_io, protocol, numpy1_names, globals_written):
    states = [network_state(n.name, list(n.variables.items()), n.static_kwargs, n.build_func_name)
              for n in tiny_networks.values()]
    path = write_official_pickle(tmp_path / "rewritten.pkl", states, protocol, numpy1_names)
    assert all(name in path.read_bytes() for name in globals_written)
    assert _max_error(load_pggan(path), tiny_io) < 1e-5


FUSED_KWARGS = {"num_channels": 3, "resolution": 16, "label_size": 0, "fmap_base": 128, "fmap_max": 32,
                "latent_size": 24, "fused_scale": True}
FUSED_WIDTHS = [32, 32, 16]  # min(128 / 2**stage, 32) for stages 1, 2, 3


def _fused_pickle(tmp_path, **changes):
    kwargs = {**FUSED_KWARGS, **changes.pop("kwargs", {})}
    variables = random_g_paper_variables(16, FUSED_WIDTHS, 24, fused=True, seed=1)
    variables += changes.pop("extra", [])
    state = network_state("Gs", variables, kwargs, changes.pop("build_func_name", "G_paper"))
    return write_official_pickle(tmp_path / "fused.pkl", [state]), dict(variables)


def test_fused_pickle_equals_the_direct_formula(tmp_path, capsys):
    path, variables = _fused_pickle(tmp_path)
    generator = load_pggan(path)
    assert generator.fused_scale and generator.channels == FUSED_WIDTHS
    z = torch.randn(3, 24, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        out = generator(z)
    reference = official_forward(variables, z)
    assert out.abs().max().item() > 1.0  # a real signal, not a vanishing one
    assert (out.double() - reference).abs().max().item() < 1e-5
    # converted, it is a state dict in the genforce fused layout that loads back to the same generator
    assert bigprior_main(["convert-pggan", str(path), str(tmp_path / "fused.pth"), "--samples", "2"]) == 0
    state = torch.load(tmp_path / "fused.pth", weights_only=True)
    assert state["layer4.weight"].shape == (3, 3, 32, 16) and "layer4.conv.weight" not in state
    with torch.no_grad():
        assert torch.equal(load_pggan(tmp_path / "fused.pth")(z), out)


@pytest.mark.parametrize("changes, message", [
    ({"kwargs": {"label_size": 10}}, "conditional generator .static_kwargs label_size 10."),
    ({"kwargs": {"fmap_max": 16}}, r"variable 4x4/Dense/weight has shape \(24, 512\), expected \(24, 256\)"),
    ({"kwargs": {"latent_size": 512}}, "static_kwargs latent_size 512 but variable 4x4/Dense/weight"),
    ({"kwargs": {"resolution": 32}}, "has no variable ToRGB_lod3/weight .static_kwargs and shapes imply resolution 32"),
    ({"kwargs": {"fused_scale": False}}, "has no variable 8x8/Conv0/weight"),
    ({"kwargs": {"use_wscale": False}}, "static_kwargs use_wscale=False is not supported"),
    ({"extra": [("4x4/Extra/weight", np.zeros(3, np.float32))]}, "unexpected variable 4x4/Extra/weight"),
    ({"build_func_name": "D_paper"}, "built by D_paper, not by the PGGAN generator G_paper"),
])
def test_static_kwargs_are_checked_against_the_variables(tmp_path, changes, message):
    path, _ = _fused_pickle(tmp_path, **changes)
    with pytest.raises(BIGPriorError, match=message):
        load_pggan(path)


def test_convert_pggan_writes_the_converted_layout_reproducibly(tmp_path, tiny_pickle, tiny_io, capsys):
    reference = torch.load(require_shared(VECTORS / "tiny_r32_generator.pth"), weights_only=True)
    for name in ("a", "b"):
        assert bigprior_main(["convert-pggan", str(tiny_pickle), str(tmp_path / f"{name}.pth")]) == 0
    assert "32x32 PGGAN" in capsys.readouterr().out
    assert (tmp_path / "a.pth").read_bytes() == (tmp_path / "b.pth").read_bytes()
    assert (tmp_path / "a_samples.png").read_bytes() == (tmp_path / "b_samples.png").read_bytes()
    state = torch.load(tmp_path / "a.pth", map_location="cpu", weights_only=True)
    assert list(state) == list(reference)  # the converted-checkpoint layout, key for key
    assert all(torch.equal(state[k], reference[k].float()) for k in reference)
    assert _max_error(generator_from_state_dict(state, "a.pth"), tiny_io) < 1e-5
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.pth", "a_samples.png", "b.pth", "b_samples.png"]
    # G on request, and an existing output is never overwritten silently
    assert bigprior_main(["convert-pggan", str(tiny_pickle), str(tmp_path / "a.pth"), "--which", "G"]) == 2
    assert "exists already" in capsys.readouterr().err
    assert bigprior_main(["convert-pggan", str(tiny_pickle), str(tmp_path / "g.pth"), "--which", "G",
                          "--grid", str(tmp_path / "g.png"), "--samples", "3"]) == 0
    assert _max_error(load_pggan(tmp_path / "g.pth"), tiny_io) > 0.1
    assert (tmp_path / "g.png").is_file()
