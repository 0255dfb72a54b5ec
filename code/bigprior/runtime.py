"""Process-level helpers shared by every command: device choice, seeding, flag parsing, CLI exits."""

from __future__ import annotations

import argparse
import random
import sys
from collections.abc import Callable, Sequence

import numpy as np
import torch

from .errors import BIGPriorError


def resolve_device(name: str = "auto") -> torch.device:
    """`auto` picks CUDA when present, else CPU; `cpu`/`cuda`/`cuda:N` are taken as given."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError as exc:
        raise BIGPriorError(f"--device: expected auto, cpu or cuda[:N], got {name!r}") from exc
    if device.type == "cuda" and not torch.cuda.is_available():
        raise BIGPriorError("--device cuda: no CUDA device is available on this machine (use --device cpu)")
    return device


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (all devices) for runs that are repeatable given a seed."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def str2bool(value: str | bool) -> bool:
    """argparse type for the paper's `--flag True/False` options (plain `type=bool` takes "False" as True)."""
    if isinstance(value, bool):
        return value
    lowered = value.strip().lower()
    if lowered in {"true", "t", "yes", "y", "1"}:
        return True
    if lowered in {"false", "f", "no", "n", "0"}:
        return False
    raise argparse.ArgumentTypeError(f"expected True or False, got {value!r}")


def add_runtime_flags(parser: argparse.ArgumentParser, seed_default: int = 0) -> None:
    """The flags every long-running command shares."""
    parser.add_argument("--device", default="auto", help="auto (CUDA when present), cpu, cuda or cuda:N")
    parser.add_argument("--seed", type=int, default=seed_default, help="random seed (results are repeatable given it)")


def add_root_flag(parser: argparse.ArgumentParser, holds: str = "inter_data/ and net_data/") -> None:
    """The workspace flag of every command that reads or writes an experiment's files."""
    parser.add_argument("--root", type=str, default=None, help=f"workspace holding {holds} (default: $BIGPRIOR_ROOT or .)")


def run_cli(main: Callable[[Sequence[str] | None], object], argv: Sequence[str] | None = None) -> int:
    """Run a command's `main`, turning a BIGPriorError into one line on stderr and exit code 2."""
    try:
        main(argv)
    except BIGPriorError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return 0
