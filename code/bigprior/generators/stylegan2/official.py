"""StyleGAN2-ADA network pickles (`network-snapshot-*.pkl`, `ffhq.pkl`, ...), read without NVlabs' code
and without running anything from the file.

Such a pickle is a dict (G, D, G_ema, augment_pipe, training_set_kwargs). Every network in it is a
*persistent class* object, pickled as a call of `torch_utils.persistence._reconstruct_persistent_obj(meta)`
with `meta = {type: 'class', version, module_src, class_name, state}`: NVlabs' loader imports and runs
`module_src` (the Python source of the module that defined the class) to rebuild it. Here that global
becomes `PersistentObject`, a record of the class name and the pickled `__dict__`; `module_src` is
dropped unread. The other globals allowed (`stylegan2_globals`) are torch's tensor and parameter
rebuilders behind checks, a storage reader that replaces `torch.storage._load_from_bytes` (which calls
an unrestricted `torch.load` on the embedded bytes) with `torch.load(..., weights_only=True)`,
`collections.OrderedDict`, `dnnlib.util.EasyDict` (as a plain dict) and numpy's scalars, arrays and
dtypes. Anything else is refused, naming it.

From the chosen network (`G_ema` by default) come the constructor arguments (`_init_kwargs`, checked
against the attributes z_dim, c_dim, w_dim, img_resolution, img_channels, num_ws) and the parameters
and buffers of the module tree, under their state-dict names.
"""

from __future__ import annotations

import io
import os
from collections import OrderedDict
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ...errors import BIGPriorError
from ..safe_pickle import load_restricted, numpy_globals
from .network import StyleGAN2Config

PERSISTENCE_GLOBAL = ("torch_utils.persistence", "_reconstruct_persistent_obj")
PERSISTENCE_VERSIONS = (6,)  # stylegan2-ada-pytorch and stylegan3 write version 6
STYLEGAN2_NEEDS = ("a StyleGAN2-ADA network pickle needs only torch_utils.persistence._reconstruct_persistent_obj, "
                   "torch tensors, dicts and numpy values")
NETWORK_CHOICES = ("G_ema", "G")  # the moving-average generator (the published one) or the trained one

# Generator(z_dim, c_dim, w_dim, img_resolution, img_channels, mapping_kwargs, synthesis_kwargs) of
# stylegan2-ada-pytorch; stylegan3's StyleGAN2 Generator takes **synthesis_kwargs instead of the last one
GENERATOR_ARGS = ("z_dim", "c_dim", "w_dim", "img_resolution", "img_channels", "mapping_kwargs", "synthesis_kwargs")
MAPPING_ARGS = {"num_layers": "mapping_layers", "lr_multiplier": "mapping_lr_multiplier",
                "embed_features": "embed_features", "layer_features": "layer_features"}
SYNTHESIS_ARGS = {name: name for name in ("channel_base", "channel_max", "conv_clamp", "use_noise", "kernel_size",
                                          "resample_filter")}
REQUIRED_VALUES = {"activation": "lrelu", "architecture": "skip"}  # other values need layers not written here
SPEED_ONLY = ("num_fp16_res", "fp16_channels_last", "channels_last", "fused_modconv_default", "w_avg_beta")


class PersistentObject:
    """A persistent-class object of a network pickle, as data: its class name and pickled `__dict__`."""

    __slots__ = ("class_name", "state")

    def __init__(self, class_name: str, state: dict) -> None:
        self.class_name, self.state = class_name, state


def _refuse(source: str, what: str) -> BIGPriorError:
    return BIGPriorError(f"{source}: refused to load: {what}")


def stylegan2_globals(source: str) -> dict[tuple[str, str], Any]:
    """The globals a StyleGAN2-ADA network pickle may name, each a checked stand-in; fresh per load."""

    def reconstruct(meta: Any) -> PersistentObject:
        if not (isinstance(meta, dict) and meta.get("type") == "class" and isinstance(meta.get("class_name"), str)
                and isinstance(meta.get("state"), dict)):
            raise _refuse(source, "a persistent object's meta is not {type: 'class', class_name, state}")
        if meta.get("version") not in PERSISTENCE_VERSIONS:
            raise _refuse(source, f"persistent object version {meta.get('version')!r}; known: {PERSISTENCE_VERSIONS}")
        return PersistentObject(meta["class_name"], meta["state"])

    def load_storage(data: Any) -> torch.storage.TypedStorage:
        if not isinstance(data, (bytes, bytearray)):
            raise _refuse(source, f"a tensor storage given as {type(data).__name__}, not bytes")
        storage = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
        if not isinstance(storage, (torch.storage.TypedStorage, torch.UntypedStorage)):
            raise _refuse(source, f"embedded tensor bytes hold a {type(storage).__name__}, not a storage")
        return storage

    def rebuild_tensor(storage: Any, offset: int, size: tuple, stride: tuple, requires_grad: bool,
                       hooks: Any, metadata: Any = None) -> torch.Tensor:
        if not isinstance(storage, (torch.storage.TypedStorage, torch.UntypedStorage)) or hooks or metadata:
            raise _refuse(source, "a tensor without a storage, or with backward hooks or metadata")
        return torch._utils._rebuild_tensor_v2(storage, int(offset), tuple(size), tuple(stride), False, OrderedDict())

    def rebuild_parameter(data: Any, requires_grad: bool, hooks: Any) -> torch.Tensor:
        if not isinstance(data, torch.Tensor) or hooks:
            raise _refuse(source, "a parameter that is not a tensor, or with backward hooks")
        return data

    easy_dict = type("EasyDict", (dict,), {})  # NVlabs' attribute-access dict: its items are all it holds
    return {PERSISTENCE_GLOBAL: reconstruct, ("torch.storage", "_load_from_bytes"): load_storage,
            ("torch._utils", "_rebuild_tensor_v2"): rebuild_tensor,
            ("torch._utils", "_rebuild_parameter"): rebuild_parameter,
            ("collections", "OrderedDict"): OrderedDict, ("dnnlib.util", "EasyDict"): easy_dict,
            ("dnnlib", "EasyDict"): easy_dict, **numpy_globals()}


# ---------------------------------------------------------------------------------------------
# constructor arguments


def _plain(value: Any) -> Any:
    """numpy scalars as Python numbers (pickles store some settings as numpy values)."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _translate(kwargs: Any, names: Mapping[str, str], where: str, what: str) -> dict[str, Any]:
    """NVlabs' keyword arguments of one constructor -> StyleGAN2Config fields; refuses the unknown ones."""
    if not isinstance(kwargs, Mapping):
        raise BIGPriorError(f"{where}: {what} is a {type(kwargs).__name__}, expected a dict")
    fields = {}
    for key, value in kwargs.items():
        value = _plain(value)
        if key in names:
            fields[names[key]] = tuple(value) if key == "resample_filter" else value
        elif key in REQUIRED_VALUES:
            if value != REQUIRED_VALUES[key]:
                raise BIGPriorError(f"{where}: {what} {key}={value!r} is not supported (only {REQUIRED_VALUES[key]!r})")
        elif key not in SPEED_ONLY:
            raise BIGPriorError(f"{where}: {what} has {key}={value!r}, not an argument of a StyleGAN2-ADA "
                                "generator (a StyleGAN3 or other network?)")
    return fields


def config_from_state(state: Mapping[str, Any], where: str) -> StyleGAN2Config:
    """The generator's constructor arguments (`_init_args`, `_init_kwargs`) as a checked config."""
    args, kwargs = state.get("_init_args"), state.get("_init_kwargs")
    if not isinstance(args, (tuple, list)) or not isinstance(kwargs, Mapping):
        raise BIGPriorError(f"{where}: no constructor arguments (_init_args, _init_kwargs); not a StyleGAN2-ADA "
                            "generator")
    if len(args) > len(GENERATOR_ARGS):
        raise BIGPriorError(f"{where}: {len(args)} positional constructor arguments; a Generator takes at most "
                            f"{len(GENERATOR_ARGS)}")
    given = {**dict(zip(GENERATOR_ARGS, args)), **kwargs}
    missing = [key for key in GENERATOR_ARGS[:5] if key not in given]
    if missing:
        raise BIGPriorError(f"{where}: constructor argument {missing[0]} is missing")
    fields = {"resolution" if key == "img_resolution" else key: _plain(given[key]) for key in GENERATOR_ARGS[:5]}
    fields.update(_translate(given.get("mapping_kwargs", {}), MAPPING_ARGS, where, "mapping_kwargs"))
    fields.update(_translate(given.get("synthesis_kwargs", {}), SYNTHESIS_ARGS, where, "synthesis_kwargs"))
    # the StyleGAN2 Generator of NVlabs' stylegan3 code takes the synthesis arguments as **kwargs
    others = {key: value for key, value in given.items() if key not in GENERATOR_ARGS}
    fields.update(_translate(others, SYNTHESIS_ARGS, where, "the Generator's arguments"))
    config = StyleGAN2Config(**fields)
    config.check(where)
    attributes = {**{key: fields["resolution" if key == "img_resolution" else key] for key in GENERATOR_ARGS[:5]},
                  "num_ws": config.num_ws}
    for key, value in attributes.items():  # what the constructor set must agree with its arguments
        if key in state and _plain(state[key]) != value:
            raise BIGPriorError(f"{where}: attribute {key}={state[key]!r}, but the constructor arguments give {value!r}")
    return config


# ---------------------------------------------------------------------------------------------
# weights


def _collect(obj: PersistentObject, prefix: str, where: str, out: dict[str, torch.Tensor]) -> None:
    """The parameters and persistent buffers of a module tree, under their state-dict names."""
    state = obj.state
    groups = [state.get(name) for name in ("_parameters", "_buffers", "_modules")]
    if not all(isinstance(group, Mapping) for group in groups):
        raise BIGPriorError(f"{where}: {prefix or 'the network'} ({obj.class_name}) is not a torch module "
                            "(no _parameters, _buffers and _modules)")
    parameters, buffers, modules = groups
    skipped = state.get("_non_persistent_buffers_set") or set()
    tensors = [*parameters.items(), *((k, v) for k, v in buffers.items() if k not in skipped)]
    for name, value in tensors:
        if value is None:
            continue
        if not isinstance(value, torch.Tensor) or not value.is_floating_point():
            raise BIGPriorError(f"{where}: {prefix}{name} is a {type(value).__name__}, expected a float tensor")
        out[prefix + name] = value.float()
    for name, child in modules.items():
        if child is None:
            continue
        if not isinstance(child, PersistentObject):
            raise BIGPriorError(f"{where}: submodule {prefix}{name} is a {type(child).__name__}, expected a network")
        _collect(child, f"{prefix}{name}.", where, out)


def read_stylegan2_pickle(path: str | os.PathLike, which: str = "G_ema") -> tuple[StyleGAN2Config, dict[str, torch.Tensor]]:
    """The config and state dict of network `which` (G_ema or G) of a StyleGAN2-ADA network pickle."""
    path = Path(path)
    content = load_restricted(path, stylegan2_globals(str(path)), STYLEGAN2_NEEDS, "StyleGAN2 network pickle")
    if not isinstance(content, Mapping) or not any(isinstance(v, PersistentObject) for v in content.values()):
        raise BIGPriorError(f"{path}: expected a pickled dict of networks (G, D, G_ema, ...), got a "
                            f"{type(content).__name__}")
    network = content.get(which)
    if not isinstance(network, PersistentObject):
        names = ", ".join(str(k) for k, v in content.items() if isinstance(v, PersistentObject))
        raise BIGPriorError(f"{path}: no network named {which} (the pickle has {names})")
    where = f"{path}: {which}"
    if network.class_name != "Generator":
        raise BIGPriorError(f"{where} is a {network.class_name}, not a Generator")
    config = config_from_state(network.state, where)
    state: dict[str, torch.Tensor] = OrderedDict()
    _collect(network, "", where, state)
    return config, state
