"""A block of status lines that stays readable: redrawn in place on a terminal, log records printed above it.

Why not ``rich`` or ``tqdm``: the recorder's display is one block of a few lines, redrawn twice a second; what
it needs from a terminal is three escape sequences (cursor up, clear line) and its width. A dependency for that
would be installed on every robot that records, most of them headless. What this module does get right, which a
bare ``print`` loop does not:

* **Lines are cut to the terminal's width** (read at every draw, so a resized window is followed): a line that
  wraps takes two rows, and the next redraw, moving up one row per line, would leave half-erased rows behind.
* **Log records go above the block.** A warning written while the block is on screen would be overwritten by
  the next redraw (and leave a stale copy of the block's first line above it). `capture_logging` routes the
  records of handlers that write to the same terminal through `LiveBlock.write_above`: the block is cleared,
  the record printed, the block drawn again below it. Encoder processes log to the inherited stderr; they log
  only errors, which the recorder also reports itself.
* **Without a terminal** (CI, ``nohup``, a log file) nothing is redrawn: the caller passes a one-line summary
  with every draw, and `LiveBlock` writes it at most every ``interval_s`` seconds.
"""

from __future__ import annotations

import contextlib
import logging
import shutil
import threading
import time
from collections.abc import Iterator
from typing import TextIO

_UP = "\x1b[{}F"  # cursor to the start of the line that many rows up
_CLEAR_LINE = "\x1b[2K"
_CLEAR_BELOW = "\x1b[J"


def _isatty(out: TextIO) -> bool:
    with contextlib.suppress(AttributeError, OSError, ValueError):
        return out.isatty()
    return False


def fit(line: str, width: int) -> str:
    """``line`` cut to ``width`` columns (the last one left free: writing into it wraps on some terminals)."""
    limit = max(1, width - 1)
    return line if len(line) <= limit else line[: max(0, limit - 1)] + "~"


class LiveBlock:
    """Status lines at the bottom of ``out``; see the module docstring. Thread-safe: log records may come from
    any thread."""

    def __init__(self, out: TextIO, interval_s: float = 10.0, interactive: bool | None = None):
        self.out = out
        self.interactive = _isatty(out) if interactive is None else interactive
        #: Without a terminal: the least time between two summary lines.
        self.interval_s = interval_s
        self._lock = threading.RLock()
        self._lines: list[str] = []
        self._rows_on_screen = 0
        self._last_compact = -float("inf")

    def draw(self, lines: list[str], compact: str, force: bool = False) -> None:
        """Show ``lines`` (terminal) or write ``compact`` (no terminal; at most every ``interval_s`` unless
        ``force``)."""
        with self._lock:
            if self.interactive:
                self._lines = list(lines)
                self._write(self._erase() + self._render())
            elif force or time.monotonic() - self._last_compact >= self.interval_s:
                self._last_compact = time.monotonic()
                self._write(compact + "\n")

    def write_above(self, text: str) -> None:
        """Print ``text`` (one or more lines) above the block, which is drawn again below it."""
        with self._lock:
            if not text.endswith("\n"):
                text += "\n"
            if self.interactive:
                self._write(self._erase() + text + self._render())
            else:
                self._write(text)

    def clear(self) -> None:
        """Take the block off the screen (what was printed above it stays)."""
        with self._lock:
            if self.interactive:
                self._write(self._erase())
            self._lines = []

    def release(self) -> None:
        """Leave the block on screen as it is; the next `draw` starts a new block below it (and, without a
        terminal, writes its line at once: something new is being shown)."""
        with self._lock:
            self._lines, self._rows_on_screen = [], 0
            self._last_compact = -float("inf")

    # -- internals ----------------------------------------------------------------------------------------------
    def _erase(self) -> str:
        rows, self._rows_on_screen = self._rows_on_screen, 0
        return (_UP.format(rows) + _CLEAR_BELOW) if rows else ""

    def _render(self) -> str:
        size = shutil.get_terminal_size((100, 24))
        lines = self._lines
        rows = max(2, size.lines - 2)  # a block taller than the window cannot be redrawn in place
        if len(lines) > rows:
            lines = [*lines[: rows - 1], f"  ... {len(lines) - rows + 1} more line(s): a taller window shows them"]
        self._rows_on_screen = len(lines)
        return "".join(f"{_CLEAR_LINE}{fit(line, size.columns)}\n" for line in lines)

    def _write(self, text: str) -> None:
        with contextlib.suppress(OSError, ValueError):  # the terminal may be gone (SIGHUP, a closed pipe)
            self.out.write(text)
            self.out.flush()


class _AboveBlock(logging.Handler):
    """Formats a record as the handler it stands in for would, and prints it above the block."""

    def __init__(self, block: LiveBlock, replaced: logging.Handler):
        super().__init__(replaced.level)
        self.block = block
        self.setFormatter(replaced.formatter)
        for record_filter in replaced.filters:
            self.addFilter(record_filter)

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.block.write_above(self.format(record))
        except Exception:  # logging must never break the recording
            self.handleError(record)


@contextlib.contextmanager
def capture_logging(block: LiveBlock) -> Iterator[None]:
    """While the block is on a terminal, the root logger's handlers that write to a terminal print above it."""
    root = logging.getLogger()
    swapped: list[tuple[logging.Handler, logging.Handler]] = []
    last_resort = logging.lastResort
    if block.interactive:
        for handler in list(root.handlers):
            if _writes_to_terminal(handler):
                replacement = _AboveBlock(block, handler)
                root.removeHandler(handler)
                root.addHandler(replacement)
                swapped.append((handler, replacement))
        if last_resort is not None and _writes_to_terminal(last_resort):  # logging not configured: stderr
            logging.lastResort = _AboveBlock(block, last_resort)
    try:
        yield
    finally:
        for handler, replacement in swapped:
            root.removeHandler(replacement)
            root.addHandler(handler)
        logging.lastResort = last_resort


def _writes_to_terminal(handler: logging.Handler) -> bool:
    stream = getattr(handler, "stream", None)
    return isinstance(handler, logging.StreamHandler) and stream is not None and _isatty(stream)
