"""Loading StyleGAN2 generators (`load_stylegan2`) and the converted file `bigprior convert-stylegan2` writes.

A converted file is a plain dict saved with torch.save and read with `weights_only=True`:
`{format: "bigprior-stylegan2", version: 1, network: "G_ema" | "G", config: {StyleGAN2Config fields},
state_dict: {name: tensor}}`. The state dict has NVlabs' names (`mapping.fc0.weight`, `mapping.w_avg`,
`synthesis.b4.const`, `synthesis.b8.conv0.affine.weight`, ...), so it is also what
`StyleGAN2Generator.state_dict()` gives.
"""

from __future__ import annotations

import dataclasses
import os
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

import torch

from ...errors import BIGPriorError
from ..checkpoint import STYLEGAN2, STYLEGAN2_FORMAT, GeneratorFile, check_state_dict, identify_generator_file
from .network import StyleGAN2Config, StyleGAN2Generator
from .official import NETWORK_CHOICES, read_stylegan2_pickle

CONVERTED_VERSION = 1


def build_stylegan2(config: StyleGAN2Config, state: Mapping[str, torch.Tensor], source: str) -> StyleGAN2Generator:
    """The generator `config` describes with the weights of `state` (checked key by key, never partial),
    in eval mode with gradients off (inversion optimises codes, not weights)."""
    config.check(source)
    generator = StyleGAN2Generator(config)
    check_state_dict(generator, state, source)
    generator.load_state_dict({key: value.float() for key, value in state.items()})
    return generator.eval().requires_grad_(False)


def converted_content(generator: StyleGAN2Generator, network: str) -> dict[str, Any]:
    """What a converted file holds: the format tag, the config and the state dict (plain tensors)."""
    config = dataclasses.asdict(generator.config)
    config["resample_filter"] = list(config["resample_filter"])
    state = OrderedDict((key, value.detach().clone()) for key, value in generator.state_dict().items())
    return {"format": STYLEGAN2_FORMAT, "version": CONVERTED_VERSION, "network": network, "config": config,
            "state_dict": state}


def _from_converted(content: Mapping[str, Any], source: str, which: str) -> StyleGAN2Generator:
    if content.get("version") != CONVERTED_VERSION:
        raise BIGPriorError(f"{source}: converted StyleGAN2 file version {content.get('version')!r}; this code reads "
                            f"version {CONVERTED_VERSION}")
    if content.get("network") != which:
        raise BIGPriorError(f"{source}: holds {content.get('network')} only, not {which}")
    config, state = content.get("config"), content.get("state_dict")
    if not isinstance(config, Mapping) or not isinstance(state, Mapping):
        raise BIGPriorError(f"{source}: converted StyleGAN2 file without a config or state_dict dict")
    fields = {field.name for field in dataclasses.fields(StyleGAN2Config)}
    missing, unknown = sorted(fields - config.keys()), sorted(config.keys() - fields)
    if missing or unknown:
        raise BIGPriorError(f"{source}: config " + (f"lacks {missing[0]}" if missing else f"has unknown setting {unknown[0]}"))
    taps = config["resample_filter"]
    config = StyleGAN2Config(**{**config, "resample_filter": tuple(taps) if isinstance(taps, (list, tuple)) else taps})
    return build_stylegan2(config, state, source)


def stylegan2_from_file(file: GeneratorFile, which: str = "G_ema", class_index: int | None = None) -> StyleGAN2Generator:
    """The StyleGAN2 generator of an identified file (`checkpoint.identify_generator_file`)."""
    if which not in NETWORK_CHOICES:
        raise BIGPriorError(f"which={which!r}: expected one of {', '.join(NETWORK_CHOICES)}")
    file.require(STYLEGAN2)
    if file.content is not None:
        generator = _from_converted(file.content, str(file.path), which)
    else:
        config, state = read_stylegan2_pickle(file.path, which)
        generator = build_stylegan2(config, state, f"{file.path}: {which}")
    try:
        generator.set_class_index(class_index)
    except BIGPriorError as exc:
        raise BIGPriorError(f"{file.path}: {exc}") from None
    return generator


def load_stylegan2(path: str | os.PathLike, which: str = "G_ema", class_index: int | None = None) -> StyleGAN2Generator:
    """Load a StyleGAN2(-ADA) generator from an official network pickle or a converted file.

    - NVlabs' network pickles (`ffhq.pkl`, `network-snapshot-*.pkl`), read by a restricted unpickler that
      runs nothing from the file (`stylegan2_pickle.py`); `which` picks `G_ema` (the moving average, the
      published generator) or `G` (the trained one);
    - converted files written by `bigprior convert-stylegan2` (torch.load with weights_only=True).
    Conditional generators (c_dim > 0) draw class `class_index` (NVlabs' one-hot c) unless a c is
    given to `mapping`. A PGGAN file is an error that says so (`load_generator` takes either family)."""
    return stylegan2_from_file(identify_generator_file(path), which, class_index)
