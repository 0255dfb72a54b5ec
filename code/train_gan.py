"""Train the project's PGGAN generator (a thin wrapper over `bigprior.gan.cli`; also `bigprior train-gan`)."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from bigprior.gan.cli import main  # noqa: E402
from bigprior.commandline import run_cli  # noqa: E402

if __name__ == "__main__":
    sys.exit(run_cli(main))
