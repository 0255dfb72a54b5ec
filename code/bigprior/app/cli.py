"""`bigprior app`: a local web page over the restore pipeline.

    pip install 'bigprior[app]'
    bigprior app                      # then open http://127.0.0.1:7860
    bigprior app --weights_dir weights/ --device cuda

Upload a photo (or pick a sample), choose the task and the models, draw the holes to inpaint and the
regions to protect from the prior or to give to it, and restore: the page shows the input, the prior,
the result, phi and phi over the result; two sliders steer the prior's share at once without a new
inversion (phi' = min(S phi, C)); the archive holds every file `bigprior restore` writes, the masks and
the command line that writes them again (bit for bit). One restore runs at a time, the others wait in a
queue that shows their place. The server listens on 127.0.0.1 only unless --host says otherwise, and
serves no file outside its own temporary folder, which it removes when it stops.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import shutil
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from ..commandline import add_runtime_flags
from ..errors import BIGPriorError
from ..zoo import add_weights_dir_flag
from .models import find_models
from .session import DISPLAY_SIDE, MAX_PIXELS, AppSettings

LOOPBACK = ("127.0.0.1", "localhost", "::1")
INSTALL_HINT = "pip install 'bigprior[app]'"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bigprior app", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to listen on (default 127.0.0.1: this machine only; another one opens the page "
                             "to the network, without any login)")
    parser.add_argument("--port", type=int, default=7860, help="port (default 7860)")
    parser.add_argument("--max_pixels", type=int, default=MAX_PIXELS,
                        help=f"largest photo accepted, in pixels (default {MAX_PIXELS:,})")
    parser.add_argument("--iterations", type=int, default=None, help="inversion steps (default: the built-in setting)")
    parser.add_argument("--tile", type=int, default=512, help="side of the tiles the fusion runs in (bounds memory)")
    parser.add_argument("--display_side", type=int, default=DISPLAY_SIDE,
                        help=f"the page shows images shrunk to this side (default {DISPLAY_SIDE}; the archive is full size)")
    add_weights_dir_flag(parser)
    add_runtime_flags(parser)
    return parser


def settings_of(args: argparse.Namespace) -> AppSettings:
    """The settings every session shares, checked."""
    if args.max_pixels < 1 or args.display_side < 16:
        raise BIGPriorError("--max_pixels must be at least 1 and --display_side at least 16")
    if not 0 <= args.port < 65536:
        raise BIGPriorError(f"--port must be in 0..65535, got {args.port}")
    return AppSettings(device=args.device, seed=args.seed, iterations=args.iterations, tile=args.tile,
                       weights_dir=args.weights_dir, max_pixels=args.max_pixels, display_side=args.display_side)


def main(argv: Sequence[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    settings = settings_of(args)
    if importlib.util.find_spec("gradio") is None:
        raise BIGPriorError(f"the web page needs gradio, which is not installed: {INSTALL_HINT}")
    if args.host not in LOOPBACK:
        print(f"warning: --host {args.host}: the page is open to every machine that reaches this address, without any "
              "login (anyone there can run restorations on this machine)", file=sys.stderr)
    root = Path(tempfile.mkdtemp(prefix="bigprior-app-"))
    # gradio's own cache (uploads, shown images) inside the server's folder; no usage reports
    os.environ["GRADIO_TEMP_DIR"] = str(root / "gradio")
    os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
    from .server import serve  # gradio is imported here, after its folder is set

    try:
        serve(root, settings, find_models(args.weights_dir), args.host, args.port)
    finally:
        shutil.rmtree(root, ignore_errors=True)
