"""One writer per dataset: an exclusive ``flock`` on ``meta/.writer.lock`` while a recorder writes.

``recover`` (and ``resume``, which runs it) deletes what it proves to be an unsaved episode's remains -
which, on a dataset that is being recorded, is the live episode. So a recorder holds this lock from the
moment its writer is built until ``finalize``, and recovery refuses, with the holder's PID, while anyone
holds it. The kernel drops the lock when its holder dies, however it dies, so a stale lock of a killed
recorder is taken over by the next one without any cleanup. (The file stays; only the lock matters.)
"""

from __future__ import annotations

import os
from pathlib import Path

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX: no locking
    fcntl = None  # type: ignore[assignment]

LOCK_PATH = "meta/.writer.lock"


class DatasetLocked(RuntimeError):
    """Another live process is writing this dataset."""


class WriterLock:
    """The dataset's writer lock, held by this process between `acquire` and `release`."""

    def __init__(self, root: str | Path):
        self.root = Path(root)
        self.path = self.root / LOCK_PATH
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self, purpose: str) -> None:
        """Take the lock for ``purpose`` (e.g. "recording") or raise `DatasetLocked` naming the holder."""
        if fcntl is None or self._fd is not None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0) | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise DatasetLocked(
                f"{self.root} is being written by process {holder} (its writer lock {LOCK_PATH} is held); "
                f"stop that recorder (or let it finish) before {purpose}."
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing drops the flock
            self._fd = None
