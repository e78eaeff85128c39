"""Run a command in a pseudo-terminal of a given size and see the screen a person would see (``pyte`` renders
the escape sequences), for the tests of the live display."""

from __future__ import annotations

import fcntl
import os
import pty
import select
import struct
import subprocess
import termios
import time
from dataclasses import dataclass

import pyte


@dataclass
class TerminalRun:
    returncode: int
    #: Everything the command wrote, escape sequences included.
    raw: str
    #: The screen at the end, one string per row (right-trimmed), and every row that scrolled off above it.
    screen: list[str]
    history: list[str]

    @property
    def all_rows(self) -> list[str]:
        return [row for row in self.history + self.screen if row]


def run_in_terminal(command: list[str], env: dict[str, str], columns: int = 80, rows: int = 24, timeout: float = 120):
    """Run ``command`` with stdin, stdout and stderr on a ``columns`` x ``rows`` pseudo-terminal."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))
    process = subprocess.Popen(command, stdin=slave, stdout=slave, stderr=slave, env=env, start_new_session=True)
    os.close(slave)
    chunks: list[bytes] = []
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.2)
            if ready:
                try:
                    data = os.read(master, 65536)
                except OSError:  # EIO: every writer has closed the terminal
                    break
                if not data:
                    break
                chunks.append(data)
            elif process.poll() is not None:
                continue  # drain what is left, then EIO ends the loop
        else:
            raise TimeoutError(f"{command} did not finish in {timeout} s")
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(10)
        os.close(master)
    raw = b"".join(chunks).decode(errors="replace")
    screen = pyte.HistoryScreen(columns, rows, history=10000)
    pyte.Stream(screen).feed(raw)  # the terminal already turned each "\n" into "\r\n"
    history = ["".join(line[x].data for x in range(columns)).rstrip() for line in screen.history.top]
    return TerminalRun(process.returncode, raw, [row.rstrip() for row in screen.display], history)
