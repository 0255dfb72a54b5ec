"""The official PGGAN TensorFlow pickles, read without TensorFlow and without running their code.

The PGGAN release (https://github.com/tkarras/progressive_growing_of_gans) publishes its generators as
pickles such as `karras2018iclr-lsun-bedroom-256x256.pkl`: a tuple (G, D, Gs) of `tfutil.Network`
objects, each pickled as its state `{'version': 2, 'name', 'static_kwargs', 'build_module_src',
'build_func_name', 'variables': [(name, numpy array), ...]}`. Loading one with `pickle.load` imports
`tfutil` and executes `build_module_src`, and any pickle can run code while it loads. Here the restricted unpickler
(`safe_pickle.py`) resolves only the network class (to a plain record that keeps the state and runs
nothing) and numpy's array, scalar and dtype constructors (under their numpy 1 and numpy 2 names); any
other global is refused, naming it.

The `G_paper` variables are converted to the layout of the converted PyTorch checkpoints, as genforce
converted them: Dense weight (z, C*16) -> `view(z, C, 4, 4).permute(1, 0, 2, 3).flip(2, 3)`; conv
weights (kh, kw, in, out) -> `permute(3, 2, 0, 1)`; fused `Conv0_up` weights (kh, kw, out, in) ->
`permute(0, 1, 3, 2)`; biases and `lod` as they are. `static_kwargs` are checked against the shapes.
"""

from __future__ import annotations

import os
import pickle
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ...errors import BIGPriorError
from ..safe_pickle import load_restricted, numpy_globals

# G_paper's defaults for the settings that fix the channel widths (official networks.py)
G_PAPER_FMAP_DEFAULTS = {"fmap_base": 8192, "fmap_decay": 1.0, "fmap_max": 512}
# settings whose non-default values would need layers this generator does not have
G_PAPER_REQUIRED = {"normalize_latents": True, "use_wscale": True, "use_pixelnorm": True,
                    "use_leakyrelu": True, "pixelnorm_epsilon": 1e-8}


class PickledNetwork:
    """What a pickled `tfutil.Network` becomes here: its state, untouched. No method of it runs."""

    __slots__ = ("state",)

    def __setstate__(self, state: Any) -> None:
        self.state = state


PGGAN_NEEDS = "an official PGGAN pickle needs only tfutil.Network and numpy arrays"


def pggan_globals() -> dict[tuple[str, str], Any]:
    """The globals an official PGGAN pickle may name: a fresh record class per load, numpy, latin-1 bytes."""

    def latin1_bytes(text: str, encoding: str) -> bytes:  # how protocol 2 stores bytes on Python 3
        if encoding not in ("latin1", "latin-1"):
            raise pickle.UnpicklingError(f"_codecs.encode with encoding {encoding!r} is not allowed")
        return text.encode("latin1")

    return {("tfutil", "Network"): type("Network", (PickledNetwork,), {"__slots__": ()}),
            ("_codecs", "encode"): latin1_bytes, **numpy_globals()}


@dataclass(frozen=True)
class OfficialNetwork:
    """One `tfutil.Network` of an official pickle, as data."""

    name: str
    build_func_name: str
    static_kwargs: dict[str, Any]
    variables: dict[str, np.ndarray]


def _network_from_state(state: Any, source: str, position: int) -> OfficialNetwork:
    where = f"{source}: network {position}"
    if not isinstance(state, dict) or not {"name", "static_kwargs", "variables"} <= state.keys():
        raise BIGPriorError(f"{where}: expected a tfutil.Network state dict with name, static_kwargs and variables")
    if state.get("version") != 2:
        raise BIGPriorError(f"{where}: tfutil.Network state version {state.get('version')!r}; only version 2 is supported")
    name, kwargs, pairs = state["name"], state["static_kwargs"], state["variables"]
    if not isinstance(name, str) or not isinstance(kwargs, dict) or not isinstance(pairs, (list, tuple)):
        raise BIGPriorError(f"{where}: malformed state (name, static_kwargs or variables of the wrong type)")
    variables = {}
    for pair in pairs:  # values are numpy arrays, numpy scalars (a 0-d lod) or plain numbers
        if not (isinstance(pair, (list, tuple)) and len(pair) == 2 and isinstance(pair[0], str)
                and isinstance(pair[1], (np.ndarray, np.generic, float, int)) and not isinstance(pair[1], bool)):
            raise BIGPriorError(f"{where} ({name}): a variable is not a (name, numpy array) pair")
        value = np.asarray(pair[1], dtype=np.float32 if isinstance(pair[1], (float, int)) else None)
        if not np.issubdtype(value.dtype, np.floating):
            raise BIGPriorError(f"{where} ({name}): variable {pair[0]} has dtype {value.dtype}, expected float")
        variables[pair[0]] = value
    return OfficialNetwork(name, str(state.get("build_func_name", "")), dict(kwargs), variables)


def read_official_pickle(path: str | os.PathLike) -> list[OfficialNetwork]:
    """The networks of an official pickle (normally G, D, Gs), read with the restricted unpickler."""
    path = Path(path)
    content = load_restricted(path, pggan_globals(), PGGAN_NEEDS, "PGGAN pickle")
    if isinstance(content, PickledNetwork):
        content = (content,)
    if not isinstance(content, (tuple, list)) or not content or not all(isinstance(n, PickledNetwork) for n in content):
        raise BIGPriorError(f"{path}: expected a pickled tuple (G, D, Gs) of tfutil.Network objects, got {_describe(content)}")
    return [_network_from_state(n.state, str(path), i) for i, n in enumerate(content)]


def _describe(obj: Any) -> str:
    if isinstance(obj, (tuple, list)):
        return f"a {type(obj).__name__} of {', '.join(type(o).__name__ for o in obj[:5]) or 'nothing'}"
    return f"a {type(obj).__name__}"


def select_network(networks: list[OfficialNetwork], which: str, source: str) -> OfficialNetwork:
    for network in networks:
        if network.name == which:
            return network
    names = ", ".join(n.name for n in networks)
    raise BIGPriorError(f"{source}: no network named {which} (the pickle has {names})")


# ---------------------------------------------------------------------------------------------
# conversion to the converted-checkpoint layout


def _dense_to_conv(weight: torch.Tensor) -> torch.Tensor:
    z_dim, width = weight.shape[0], weight.shape[1] // 16
    return weight.view(z_dim, width, 4, 4).permute(1, 0, 2, 3).flip(2, 3)


def _conv(weight: torch.Tensor) -> torch.Tensor:
    return weight.permute(3, 2, 0, 1)


def _transposed_conv(weight: torch.Tensor) -> torch.Tensor:
    return weight.permute(0, 1, 3, 2)


def _as_is(value: torch.Tensor) -> torch.Tensor:
    return value


@dataclass(frozen=True)
class _Variable:
    tf_name: str
    key: str  # in the converted layout
    shape: tuple[int, ...]  # as TensorFlow stores it
    convert: Callable[[torch.Tensor], torch.Tensor]


def _generator_variables(network: OfficialNetwork, where: str) -> tuple[list[_Variable], str]:
    """Every variable a G_paper generator with this network's static_kwargs has, and a summary."""
    kwargs, variables = network.static_kwargs, network.variables
    if network.build_func_name != "G_paper":
        raise BIGPriorError(f"{where}: built by {network.build_func_name or 'an unknown function'}, "
                            "not by the PGGAN generator G_paper")
    if kwargs.get("label_size", 0):
        raise BIGPriorError(f"{where}: conditional generator (static_kwargs label_size {kwargs['label_size']}); "
                            "only unconditional generators (label_size 0) are supported")
    for flag, value in G_PAPER_REQUIRED.items():
        if kwargs.get(flag, value) != value:
            raise BIGPriorError(f"{where}: static_kwargs {flag}={kwargs[flag]!r} is not supported (expected {value!r})")
    dense = variables.get("4x4/Dense/weight")
    if dense is None or dense.ndim != 2:
        raise BIGPriorError(f"{where}: no 2-D variable 4x4/Dense/weight (not a PGGAN generator)")
    z_dim = int(dense.shape[0])
    if kwargs.get("latent_size") not in (None, z_dim):
        raise BIGPriorError(f"{where}: static_kwargs latent_size {kwargs['latent_size']} but variable "
                            f"4x4/Dense/weight has shape {dense.shape} (latent size {z_dim})")
    resolution = kwargs.get("resolution")
    if resolution is None:  # from the variable names
        resolution = 4
        while f"{2 * resolution}x{2 * resolution}/Conv1/weight" in variables:
            resolution *= 2
    if not isinstance(resolution, (int, np.integer)):
        raise BIGPriorError(f"{where}: static_kwargs resolution {resolution!r} is not an integer")
    num_blocks = int(resolution).bit_length() - 2
    if resolution < 8 or resolution != 4 * 2 ** (num_blocks - 1):
        raise BIGPriorError(f"{where}: resolution {resolution}; a power of two >= 8 is needed")
    fmap = {k: kwargs.get(k, default) for k, default in G_PAPER_FMAP_DEFAULTS.items()}
    widths = [min(int(fmap["fmap_base"] / 2.0 ** ((b + 1) * fmap["fmap_decay"])), fmap["fmap_max"])
              for b in range(num_blocks)]
    to_rgb = variables.get("ToRGB_lod0/weight")
    image_channels = kwargs.get("num_channels", to_rgb.shape[-1] if to_rgb is not None and to_rgb.ndim == 4 else 3)
    fused = kwargs.get("fused_scale", "8x8/Conv0_up/weight" in variables)
    summary = (f"static_kwargs and shapes imply resolution {resolution}, latent size {z_dim}, widths {widths}, "
               f"{image_channels} image channels, fused_scale {bool(fused)}")

    expected = [_Variable("lod", "lod", (), _as_is)]
    for b, width in enumerate(widths):
        r = 4 * 2**b
        if b == 0:
            first = [_Variable("4x4/Dense/weight", "layer0.conv.weight", (z_dim, 16 * width), _dense_to_conv),
                     _Variable("4x4/Dense/bias", "layer0.wscale.bias", (width,), _as_is)]
            second = "4x4/Conv"
        else:
            if fused:
                weight = _Variable(f"{r}x{r}/Conv0_up/weight", f"layer{2 * b}.weight", (3, 3, width, widths[b - 1]),
                                   _transposed_conv)
            else:
                weight = _Variable(f"{r}x{r}/Conv0/weight", f"layer{2 * b}.conv.weight", (3, 3, widths[b - 1], width),
                                   _conv)
            first = [weight, _Variable(weight.tf_name.replace("/weight", "/bias"), f"layer{2 * b}.wscale.bias",
                                       (width,), _as_is)]
            second = f"{r}x{r}/Conv1"
        rgb = f"ToRGB_lod{num_blocks - 1 - b}"
        expected += first + [
            _Variable(f"{second}/weight", f"layer{2 * b + 1}.conv.weight", (3, 3, width, width), _conv),
            _Variable(f"{second}/bias", f"layer{2 * b + 1}.wscale.bias", (width,), _as_is),
            _Variable(f"{rgb}/weight", f"output{b}.conv.weight", (1, 1, width, image_channels), _conv),
            _Variable(f"{rgb}/bias", f"output{b}.wscale.bias", (image_channels,), _as_is),
        ]
    return expected, summary


def state_dict_from_official(network: OfficialNetwork, source: str) -> dict[str, torch.Tensor]:
    """The converted-layout state dict of an official generator, after checking every variable."""
    where = f"{source}: network {network.name}"
    expected, summary = _generator_variables(network, where)
    state = {}
    for var in expected:
        value = network.variables.get(var.tf_name)
        if value is None:
            raise BIGPriorError(f"{where} has no variable {var.tf_name} ({summary})")
        if value.shape != var.shape:
            raise BIGPriorError(f"{where}: variable {var.tf_name} has shape {value.shape}, expected {var.shape} ({summary})")
        state[var.key] = var.convert(torch.tensor(value, dtype=torch.float32)).contiguous()
    known = {var.tf_name for var in expected}
    for name in network.variables:
        if name not in known:
            raise BIGPriorError(f"{where}: unexpected variable {name} ({summary})")
    return state


def read_official_generator(path: str | os.PathLike, which: str = "Gs") -> dict[str, torch.Tensor]:
    """The converted-layout state dict of network `which` (Gs or G) of an official pickle."""
    network = select_network(read_official_pickle(path), which, str(path))
    return state_dict_from_official(network, str(path))
