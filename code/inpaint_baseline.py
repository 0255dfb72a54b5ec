"""OpenCV's classical inpainting baselines (a thin wrapper over `bigprior.baselines.inpainting`)."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from bigprior.baselines.inpainting import main  # noqa: E402
from bigprior.commandline import run_cli  # noqa: E402

if __name__ == "__main__":
    sys.exit(run_cli(main))
