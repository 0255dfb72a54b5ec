"""The paper's denoising inversion command line (a thin wrapper over `bigprior.inversion.cli`)."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bigprior.inversion.cli import script_main  # noqa: E402
from bigprior.commandline import run_cli  # noqa: E402

if __name__ == "__main__":
    sys.exit(run_cli(script_main("denoising")))
