"""The report command line: the paper's tables and figures (a thin wrapper over `bigprior.report`)."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from bigprior.report import main  # noqa: E402
from bigprior.commandline import run_cli  # noqa: E402

if __name__ == "__main__":
    sys.exit(run_cli(main))
