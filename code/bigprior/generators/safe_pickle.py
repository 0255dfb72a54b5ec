"""Reading network pickles without running them: one restricted unpickler, one allow-list per format.

A pickle is a small program: every global it names is imported and may be called while it loads,
which is how the official network pickles (PGGAN's TensorFlow ones, StyleGAN2-ADA's PyTorch ones) run
the Python source they carry. `RestrictedUnpickler` resolves a global only through the table it is
given and refuses every other one, naming it, before anything is imported. Each format builds its
table per load (`official.pggan_globals`, `stylegan2_pickle.stylegan2_globals`), so nothing a pickle
does to the objects it is handed (BUILD on a global) outlives the load. numpy's array, scalar and
dtype constructors, which both formats need, are in `numpy_globals`.

`first_global` only walks the opcodes up to the first global, building nothing: it tells the
formats apart before a reader is chosen.
"""

from __future__ import annotations

import importlib
import os
import pickle
import pickletools
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import BIGPriorError

NUMPY_PACKAGES = ("numpy._core", "numpy.core")  # numpy 2 names first; numpy 1 pickles use numpy.core


def _numpy_attr(submodule: str, name: str) -> Any:
    """numpy's own reconstruction function, wherever this numpy version keeps it."""
    for package in NUMPY_PACKAGES:
        try:
            return getattr(importlib.import_module(f"{package}.{submodule}"), name)
        except (ImportError, AttributeError):
            continue
    raise ImportError(f"numpy has no {submodule}.{name}")


def numpy_globals() -> dict[tuple[str, str], Any]:
    """numpy arrays, scalars and dtypes, under their numpy 1 and numpy 2 names."""
    reconstruct = _numpy_attr("multiarray", "_reconstruct")
    scalar = _numpy_attr("multiarray", "scalar")
    frombuffer = _numpy_attr("numeric", "_frombuffer")

    def array_from_buffer(*args: Any) -> np.ndarray:  # protocol-5 arrays
        return frombuffer(*args)

    allowed: dict[tuple[str, str], Any] = {("numpy", "ndarray"): np.ndarray, ("numpy", "dtype"): np.dtype}
    for package in NUMPY_PACKAGES:
        allowed[(f"{package}.multiarray", "_reconstruct")] = reconstruct
        allowed[(f"{package}.multiarray", "scalar")] = scalar
        allowed[(f"{package}.numeric", "_frombuffer")] = array_from_buffer
    return allowed


class RestrictedUnpickler(pickle.Unpickler):
    """Resolves only the globals in `allowed`; any other one is a one-line error naming it and the file.

    `needs` says what the format needs, for the error (e.g. "an official PGGAN pickle needs only
    tfutil.Network and numpy arrays")."""

    def __init__(self, file: Any, source: str, allowed: Mapping[tuple[str, str], Any], needs: str) -> None:
        super().__init__(file)
        self.source, self.allowed, self.needs = source, allowed, needs

    def find_class(self, module: str, name: str) -> Any:
        try:
            return self.allowed[(module, name)]
        except KeyError:
            raise BIGPriorError(
                f"{self.source}: refused to load: the pickle asks for {module}.{name}, which is not allowed "
                f"({self.needs}; this file may try to run code)"
            ) from None


def load_restricted(path: Path, allowed: Mapping[tuple[str, str], Any], needs: str, kind: str) -> Any:
    """The object pickled in `path`, read by a RestrictedUnpickler; a damaged file names `kind`."""
    try:
        with open(path, "rb") as f:
            return RestrictedUnpickler(f, str(path), allowed, needs).load()
    except BIGPriorError:
        raise
    except Exception as exc:  # a damaged pickle fails in many ways (EOFError, UnpicklingError, TypeError, ...)
        raise BIGPriorError(
            f"{path}: not a readable {kind}, truncated or damaged ({exc.__class__.__name__}: {exc}); "
            "expected an official .pkl or a PyTorch .pth"
        ) from exc


def first_global(path: str | os.PathLike) -> tuple[str, str] | None:
    """(module, name) of the first global a pickle names, or None (no global, or not a readable pickle).

    Only opcodes are decoded (pickletools); no object is built and nothing is imported."""
    pushed: list[Any] = []  # what each opcode pushed: its string, or None for anything else
    memo: dict[Any, Any] = {}
    try:
        with open(path, "rb") as f:
            for opcode, arg, _ in pickletools.genops(f):
                kind = opcode.name
                if kind == "GLOBAL":
                    module, _, name = str(arg).partition(" ")
                    return module, name
                if kind == "STACK_GLOBAL":
                    return (pushed[-2], pushed[-1]) if len(pushed) >= 2 and None not in pushed[-2:] else None
                if kind == "MEMOIZE":
                    memo[len(memo)] = pushed[-1] if pushed else None
                elif kind in ("PUT", "BINPUT", "LONG_BINPUT"):
                    memo[arg] = pushed[-1] if pushed else None
                elif kind in ("GET", "BINGET", "LONG_BINGET"):
                    pushed.append(memo.get(arg))
                elif kind != "FRAME":
                    pushed.append(arg if kind in ("SHORT_BINUNICODE", "BINUNICODE", "UNICODE", "BINUNICODE8") else None)
    except Exception:  # not a pickle, or cut short: the format's reader says what is wrong
        return None
    return None
