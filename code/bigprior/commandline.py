"""The command-line helpers every command shares: the paper's True/False flags, the runtime and
workspace flags, a parsed invocation with its workspace and device, and `run_cli`, which turns an error
a user can act on into one line and an exit code.

It sits above the experiment contract (`--root` resolves a workspace) and the runtime (`--device`)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from .errors import BIGPriorError
from .experiment import workspace_root
from .runtime import resolve_device

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


def add_resume_flag(parser: argparse.ArgumentParser, unit: str = "epoch") -> None:
    parser.add_argument("--resume", type=str, default=None,
                        help=f"run folder to continue from its last complete {unit} (relative to the workspace, or absolute)")


@dataclass(frozen=True)
class Invocation:
    """A parsed command line with its workspace and device."""

    args: argparse.Namespace
    root: Path
    device: torch.device

    def resume_folder(self) -> Path | None:
        """`--resume` joined with the workspace root (an absolute path replaces it); None without it."""
        return self.root / self.args.resume if self.args.resume else None


def parse_invocation(parser: argparse.ArgumentParser, argv: Sequence[str] | None) -> Invocation:
    """Parse the flags of a command with `--root` and `--device`, resolving both."""
    args = parser.parse_args(argv)
    return Invocation(args, workspace_root(args.root), resolve_device(args.device))


OUT_OF_MEMORY_HINT = ("lower --batch_size (restore: --tile), or run with --device cpu; "
                      "what was finished is kept and a rerun resumes")


def run_cli(main: Callable[[Sequence[str] | None], object], argv: Sequence[str] | None = None) -> int:
    """Run a command's `main`, turning an error a user can act on into one line on stderr and exit
    code 2: a BIGPriorError, the GPU running out of memory, an operating-system error (the file named).
    Ctrl-C exits with 130 (writes are atomic: no partial file is left, and long runs resume)."""
    try:
        main(argv)
    except BIGPriorError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except torch.cuda.OutOfMemoryError:
        print(f"error: out of GPU memory; {OUT_OF_MEMORY_HINT}", file=sys.stderr)
        return 2
    except OSError as exc:
        names = " -> ".join(str(name) for name in (exc.filename, exc.filename2) if name)
        print(f"error: {names or 'input/output'}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted (finished work is kept; rerun the command to resume)", file=sys.stderr)
        return 130
    return 0
