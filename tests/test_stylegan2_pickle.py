"""StyleGAN2-ADA network pickles read safely, the converted file, convert-stylegan2 and the family checks."""

from __future__ import annotations

import os
import pickle
import sys
import types
from collections import OrderedDict
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import STYLEGAN2, VECTORS, require_shared

from bigprior.cli import main as bigprior_main
from bigprior.errors import BIGPriorError
from bigprior.generators import PGGANGenerator, StyleGAN2Config, StyleGAN2Generator, load_generator, load_pggan, load_stylegan2

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def official() -> Path:
    return require_shared(STYLEGAN2 / "tiny_r32_official.pkl")


@pytest.fixture(scope="module")
def io() -> dict:
    return torch.load(require_shared(STYLEGAN2 / "tiny_r32_io.pt"), map_location="cpu", weights_only=True)


def _images(generator, z: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return generator(z)


# ---------------------------------------------------------------------------------------------
# pickles in NVlabs' persistent-class layout, written here without NVlabs' code


def _reconstruct_persistent_obj(meta):  # only its name is pickled; nothing calls it
    raise AssertionError("never called")


class EasyDict(dict):
    """Pickled as dnnlib.util.EasyDict, the dict NVlabs' train.py passes its kwargs in."""


class Persistent:
    """Pickled as `torch_utils.persistence._reconstruct_persistent_obj(meta)`, as NVlabs' classes are."""

    def __init__(self, class_name: str, state: dict) -> None:
        self.class_name, self.state = class_name, state

    def __reduce__(self):
        meta = {"type": "class", "version": 6, "module_src": "open('pickle_ran_code.txt', 'w')\n",
                "class_name": self.class_name, "state": self.state}
        return _reconstruct_persistent_obj, (meta,)


@pytest.fixture
def nvlabs_names(monkeypatch):
    """Makes the pickler write the helpers above under NVlabs' module names."""
    for module, name, obj in (("torch_utils.persistence", "_reconstruct_persistent_obj", _reconstruct_persistent_obj),
                              ("dnnlib.util", "EasyDict", EasyDict)):
        package, _, child = module.partition(".")
        fake_package, fake = types.ModuleType(package), types.ModuleType(module)
        setattr(fake, name, obj)
        setattr(fake_package, child, fake)
        monkeypatch.setattr(obj, "__module__", module)
        monkeypatch.setitem(sys.modules, package, fake_package)
        monkeypatch.setitem(sys.modules, module, fake)


def _module_state(module: torch.nn.Module, extra: dict | None = None) -> Persistent:
    state = {"training": False, "_parameters": OrderedDict(module._parameters), "_buffers": OrderedDict(module._buffers),
             "_non_persistent_buffers_set": set(), "act_gain": np.float64(np.sqrt(2)),
             "_modules": OrderedDict((k, _module_state(v)) for k, v in module._modules.items()), **(extra or {})}
    return Persistent(type(module).__name__, state)


def write_network_pickle(path: Path, generator: StyleGAN2Generator, init_kwargs: dict, **entries) -> Path:
    """A network pickle with `generator` as G and G_ema, its tree pickled like NVlabs' modules."""
    attributes = {"z_dim": generator.z_dim, "c_dim": generator.c_dim, "w_dim": generator.w_dim,
                  "img_resolution": generator.resolution, "img_channels": 3, "num_ws": generator.num_ws}
    root = _module_state(generator, {**attributes, "_init_args": (), "_init_kwargs": init_kwargs})
    root.class_name = "Generator"
    content = {"G": root, "D": None, "G_ema": root, "augment_pipe": None, "training_set_kwargs": None, **entries}
    path.write_bytes(pickle.dumps(content, protocol=4))
    return path


def _conditional(seed: int = 0) -> tuple[StyleGAN2Generator, dict]:
    torch.manual_seed(seed)
    kwargs = {"z_dim": 8, "c_dim": 4, "w_dim": 8, "img_resolution": 8, "img_channels": 3,
              "mapping_kwargs": EasyDict(num_layers=2, w_avg_beta=0.995),
              "synthesis_kwargs": EasyDict(channel_base=64, channel_max=8, num_fp16_res=1, conv_clamp=256,
                                           architecture="skip")}
    config = StyleGAN2Config(z_dim=8, c_dim=4, w_dim=8, resolution=8, mapping_layers=2, channel_base=64,
                             channel_max=8, conv_clamp=256)
    return StyleGAN2Generator(config).eval(), kwargs


# ---------------------------------------------------------------------------------------------


def test_official_pickle_converts_to_identical_bytes_and_outputs(tmp_path, official, io, capsys):
    for name in ("a", "b"):
        assert bigprior_main(["convert-stylegan2", str(official), str(tmp_path / f"{name}.pth"), "--samples", "4"]) == 0
    assert "32x32 StyleGAN2, z 64, w 64 x 8" in capsys.readouterr().out
    assert (tmp_path / "a.pth").read_bytes() == (tmp_path / "b.pth").read_bytes()
    assert (tmp_path / "a_samples.png").read_bytes() == (tmp_path / "b_samples.png").read_bytes()
    content = torch.load(tmp_path / "a.pth", weights_only=True)
    assert content["format"] == "bigprior-stylegan2" and content["config"]["channel_base"] == 1024
    assert list(content["state_dict"]) == list(io["state_dict"])
    converted, original = load_stylegan2(tmp_path / "a.pth"), load_stylegan2(official)
    assert torch.equal(_images(converted, io["z"]), _images(original, io["z"]))
    assert (_images(converted, io["z"]) - io["img_psi1"]).abs().max() < 1e-4
    assert isinstance(load_generator(tmp_path / "a.pth"), StyleGAN2Generator)
    with pytest.raises(BIGPriorError, match="a.pth: holds G_ema only, not G"):
        load_stylegan2(tmp_path / "a.pth", which="G")
    assert bigprior_main(["convert-stylegan2", str(official), str(tmp_path / "a.pth")]) == 2
    assert "exists already" in capsys.readouterr().err


def test_g_is_the_trained_generator(official, io):
    trained = load_stylegan2(official, which="G")
    assert (_images(trained, io["z"]) - io["img_psi1"]).abs().max() > 0.1
    with pytest.raises(BIGPriorError, match="which='D': expected one of G_ema, G"):
        load_stylegan2(official, which="D")


def test_code_running_pickle_is_refused_and_runs_nothing(tmp_path, monkeypatch, capsys):
    malicious = require_shared(STYLEGAN2 / "malicious_official.pkl")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(BIGPriorError, match="malicious_official.pkl: G_ema: no constructor arguments"):
        load_stylegan2(malicious)
    assert bigprior_main(["convert-stylegan2", str(malicious), "out.pth"]) == 2
    assert capsys.readouterr().err.count("\n") == 1
    assert list(tmp_path.iterdir()) == []  # neither pickle_ran_code.txt nor any output


class OpenFile:
    """A global that is not allowed (open, pickled as io.open): if it ran, ran.txt would appear."""

    def __reduce__(self):
        return open, ("ran.txt", "w")


class StorageOfOpenFile:
    """`torch.storage._load_from_bytes` on bytes whose own pickle calls builtins.open."""

    def __reduce__(self):
        buffer = __import__("io").BytesIO()
        torch.save(OpenFile(), buffer, _use_new_zipfile_serialization=False)  # writes the call, runs nothing
        return torch.storage._load_from_bytes, (buffer.getvalue(),)


def test_other_globals_are_refused_by_name(tmp_path, monkeypatch, nvlabs_names):
    generator, kwargs = _conditional()
    monkeypatch.chdir(tmp_path)
    path = write_network_pickle(tmp_path / "open.pkl", generator, kwargs, extra=OpenFile())
    with pytest.raises(BIGPriorError, match=r"open.pkl: refused to load: the pickle asks for io.open, which is "
                                            "not allowed .a StyleGAN2-ADA network pickle needs only"):
        load_stylegan2(path)
    path = write_network_pickle(tmp_path / "bytes.pkl", generator, kwargs, extra=StorageOfOpenFile())
    with pytest.raises(BIGPriorError, match="bytes.pkl: not a readable StyleGAN2 network pickle.*Weights only load"):
        load_stylegan2(path)
    assert not (tmp_path / "ran.txt").exists() and not (tmp_path / "pickle_ran_code.txt").exists()


def test_conditional_pickle_with_easydict_kwargs_and_numpy_values(tmp_path, nvlabs_names, capsys):
    generator, kwargs = _conditional()
    path = write_network_pickle(tmp_path / "cond.pkl", generator, kwargs)
    assert b"dnnlib.util" in path.read_bytes() and b"multiarray" in path.read_bytes()
    z = torch.randn(3, 8)
    loaded = load_stylegan2(path)
    with pytest.raises(BIGPriorError, match=r"conditional generator \(c_dim 4\): give a class"):
        loaded(z)
    generator.set_class_index(2)
    assert torch.equal(_images(load_stylegan2(path, class_index=2), z), _images(generator, z))
    with pytest.raises(BIGPriorError, match=r"cond.pkl: class_index 4: expected 0\.\.3 \(c_dim 4\)"):
        load_generator(path, class_index=4)
    assert bigprior_main(["convert-stylegan2", str(path), str(tmp_path / "cond.pth")]) == 2
    assert "--class_index: " in capsys.readouterr().err and not (tmp_path / "cond.pth").exists()
    assert bigprior_main(["convert-stylegan2", str(path), str(tmp_path / "cond.pth"), "--class_index", "2",
                          "--samples", "2"]) == 0
    assert torch.equal(_images(load_generator(tmp_path / "cond.pth", class_index=2), z), _images(generator, z))


def test_stylegan3_codes_stylegan2_generator_with_synthesis_arguments_at_the_top(tmp_path, nvlabs_names):
    generator, kwargs = _conditional()
    kwargs.update(kwargs.pop("synthesis_kwargs"), fused_modconv_default="inference_only")  # stylegan3's layout
    path = write_network_pickle(tmp_path / "sg3code.pkl", generator, kwargs)
    generator.set_class_index(1)
    z = torch.randn(2, 8)
    assert torch.equal(_images(load_stylegan2(path, class_index=1), z), _images(generator, z))


@pytest.mark.parametrize("change, message", [
    ({"synthesis_kwargs": {"architecture": "resnet"}}, "synthesis_kwargs architecture='resnet' is not supported"),
    ({"mapping_kwargs": {"activation": "relu"}}, "mapping_kwargs activation='relu' is not supported"),
    ({"synthesis_kwargs": {"conv_kernel": 1}}, "synthesis_kwargs has conv_kernel=1, not an argument of a StyleGAN2-ADA"),
    ({"magnitude_ema_beta": 0.99}, "the Generator's arguments has magnitude_ema_beta=0.99, not an argument of a "
                                   r"StyleGAN2-ADA generator \(a StyleGAN3"),
    ({"w_dim": 16}, "attribute w_dim=8, but the constructor arguments give 16"),
    ({"synthesis_kwargs": {"channel_max": 16}}, r"key synthesis.b4.const has shape \(8, 4, 4\), expected \(16, 4, 4\)"),
])
def test_constructor_arguments_are_checked(tmp_path, nvlabs_names, change, message):
    generator, kwargs = _conditional()
    for key, value in change.items():
        kwargs[key] = {**kwargs[key], **value} if isinstance(value, dict) else value
    with pytest.raises(BIGPriorError, match=message):
        load_stylegan2(write_network_pickle(tmp_path / "bad.pkl", generator, kwargs), class_index=0)


def test_damaged_and_foreign_files(tmp_path, official):
    data = official.read_bytes()
    for cut in (len(data) // 2, 200):
        (tmp_path / "cut.pkl").write_bytes(data[:cut])
        with pytest.raises(BIGPriorError, match="cut.pkl: not a readable StyleGAN2 network pickle, truncated or damaged"):
            load_stylegan2(tmp_path / "cut.pkl")
    (tmp_path / "list.pkl").write_bytes(pickle.dumps([1, 2]))
    with pytest.raises(BIGPriorError, match="list.pkl: expected a pickled dict of networks .* got a list"):
        load_stylegan2(tmp_path / "list.pkl")
    with pytest.raises(BIGPriorError, match="list.pkl: not a readable network pickle; expected a PGGAN or StyleGAN2"):
        load_generator(tmp_path / "list.pkl")
    (tmp_path / "posix.pkl").write_bytes(pickle.dumps(os.getcwd))
    with pytest.raises(BIGPriorError, match=r"posix.pkl: a pickle whose first global is posix.getcwd; expected"):
        load_generator(tmp_path / "posix.pkl")
    with pytest.raises(BIGPriorError, match="missing.pkl: generator weights not found"):
        load_generator(tmp_path / "missing.pkl")


def test_each_family_loader_names_the_other_family(tmp_path, official):
    pggan_pickle = require_shared(VECTORS / "tiny_r32_official_tf.pkl")
    pggan_pth = require_shared(VECTORS / "tiny_r32_generator.pth")
    for path, kind in ((pggan_pickle, "an official PGGAN TensorFlow pickle"), (pggan_pth, "a PyTorch PGGAN checkpoint")):
        with pytest.raises(BIGPriorError, match=f"{path.name}: {kind}, not a StyleGAN2 generator; load it with load_pggan"):
            load_stylegan2(path)
        assert isinstance(load_generator(path), PGGANGenerator)
    with pytest.raises(BIGPriorError, match="tiny_r32_official.pkl: a StyleGAN2-ADA network pickle, not a PGGAN "
                                            "generator; load it with load_stylegan2"):
        load_pggan(official)
    converted = tmp_path / "sg2.pth"
    assert bigprior_main(["convert-stylegan2", str(official), str(converted), "--samples", "1"]) == 0
    with pytest.raises(BIGPriorError, match=r"sg2.pth: a converted StyleGAN2 file \(bigprior convert-stylegan2\), not a "
                                            "PGGAN generator"):
        load_pggan(converted)
    with pytest.raises(BIGPriorError, match="class_index 0, but PGGAN generators are unconditional"):
        load_generator(pggan_pth, class_index=0)
    tf_stylegan2 = tmp_path / "stylegan2-ffhq-config-f.pkl"
    tf_stylegan2.write_bytes(b"\x80\x02cdnnlib.tflib.network\nNetwork\nq\x00.")
    with pytest.raises(BIGPriorError, match="an official StyleGAN/StyleGAN2 TensorFlow pickle, which is not supported"):
        load_generator(tf_stylegan2)
