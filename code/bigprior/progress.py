"""Progress bars that suit where their output goes; every progress bar of the package is made here.

On a terminal, tqdm's live bar (one line redrawn with carriage returns). Anywhere else (a log file, a pipe,
CI, `nohup`), tqdm's carriage returns make one huge line of the log, so a bar there writes whole lines
instead: at most one every `LOG_INTERVAL` seconds (tqdm's `mininterval`; none before the first interval has
passed), and one with the final count when it closes (unless `leave=False`). A bar of a few seconds writes
one line, a long one a line every half minute. `progress_bar` takes tqdm's arguments and returns a tqdm either way (`update`, `write`,
`set_postfix`, iteration... work the same).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable
from typing import IO, Any

from tqdm import tqdm

LOG_INTERVAL = 30.0  # seconds between two lines of a bar that is not on a terminal


def is_terminal(stream: IO[str] | None) -> bool:
    try:
        return bool(stream is not None and stream.isatty())
    except (AttributeError, ValueError):  # a closed or odd stream
        return False


class LogLines(tqdm):
    """A tqdm that writes whole lines (no carriage returns, no cursor moves): at most one per `mininterval`
    seconds (default `LOG_INTERVAL`), the first after one interval, and, unless `leave=False`, the final
    state once when it closes."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("mininterval", LOG_INTERVAL)
        kwargs["position"] = None  # stacked bars are a terminal's feature
        self._last_line, self._last_written, self._forced = "", time.monotonic(), False
        super().__init__(*args, **kwargs)

    def display(self, msg: str | None = None, pos: int | None = None) -> bool:
        line = self.__str__() if msg is None else msg
        due = self._forced or time.monotonic() - self._last_written >= self.mininterval
        if line and line != self._last_line and due:
            self.fp.write(line + "\n")
            getattr(self.fp, "flush", lambda: None)()
            self._last_line, self._last_written = line, time.monotonic()
        return True

    def clear(self, nolock: bool = False) -> None:
        """Nothing to erase: lines stay."""

    def moveto(self, n: int) -> None:
        """No cursor moves in a log."""

    def close(self) -> None:
        if self.disable:
            return
        if self.leave is not False:
            self._ema_dt = lambda: None  # the overall rate in the last line, as tqdm's own close shows it
            self._forced = True
            self.display()
        self.disable = True
        self._decr_instances(self)


def progress_bar(iterable: Iterable | None = None, *, file: IO[str] | None = None, **kwargs: Any) -> tqdm:
    """tqdm(iterable, **kwargs) on stderr (or `file`): a live bar on a terminal, whole lines elsewhere."""
    stream = file if file is not None else sys.stderr
    cls = tqdm if is_terminal(stream) else LogLines
    return cls(iterable, file=stream, **kwargs)
