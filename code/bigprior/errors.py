"""One exception type for errors a user can cause (bad flag, missing or malformed file).

The command line turns it into one line on stderr and exit code 2; anything else is a bug and keeps
its traceback.
"""

from __future__ import annotations


class BIGPriorError(Exception):
    """A user-facing error whose message names the file or flag at fault and what was expected."""
