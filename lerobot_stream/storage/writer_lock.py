"""One writer per dataset: an exclusive ``flock`` on ``meta/.writer.lock`` while a recorder writes.

``recover`` (and ``resume``, which runs it) deletes what it proves to be an unsaved episode's remains -
which, on a dataset that is being recorded, is the live episode. So a recorder holds this lock from the
moment its writer is built until ``finalize``, and recovery refuses, with the holder's PID, while anyone
holds it. The kernel drops the lock when its holder dies, however it dies, so a stale lock of a killed
recorder is taken over by the next one without any cleanup.

Three details make it hold in practice:

* **Forked children do not hold it.** A ``flock`` belongs to the open file, which ``fork`` shares: a data
  loader worker or helper forked while recording would keep the dataset locked after the recorder finished
  or died. Every lock this process holds is closed in a forked child (``os.register_at_fork``) - closing the
  child's copy does not unlock the parent's. (``subprocess`` children never see it: the descriptor is
  close-on-exec.)
* **The file is removed on release**, so a finalized dataset carries no lock file. Removing a lock file races
  with a process that opened it just before: that process would lock a file nobody else can find. So
  `acquire` checks, once it holds the lock, that the path still names the file it locked, and tries again if
  not.
* A dataset on a read-only filesystem cannot be locked (nor written); `LockUnavailable` says so, and callers
  that only read decide what that means.
"""

from __future__ import annotations

import errno
import os
import weakref
from pathlib import Path

from lerobot_stream.errors import DatasetLocked, LockUnavailable

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX: no locking
    fcntl = None  # type: ignore[assignment]

LOCK_PATH = "meta/.writer.lock"
_ATTEMPTS = 20


_held: weakref.WeakSet[WriterLock] = weakref.WeakSet()


def _forget_locks_in_child() -> None:
    for lock in list(_held):
        lock._drop_inherited()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_locks_in_child)


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
        """Take the lock for ``purpose`` (e.g. "recording") or raise `DatasetLocked` naming the holder
        (`LockUnavailable` where the lock file cannot be created)."""
        if fcntl is None or self._fd is not None:
            return
        for _ in range(_ATTEMPTS):
            fd = self._open()
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "unknown"
                os.close(fd)
                raise DatasetLocked(
                    f"{self.root} is being written by process {holder} (its writer lock {LOCK_PATH} is held); "
                    f"stop that recorder (or let it finish) before {purpose}."
                ) from None
            if self._still_named(fd):
                break
            os.close(fd)  # its holder released it and removed the file meanwhile: lock the new one
        else:
            raise DatasetLocked(f"{self.root}: the writer lock {LOCK_PATH} keeps changing; is a recorder looping?")
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd
        _held.add(self)

    def _open(self) -> int:
        flags = os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0) | os.O_CLOEXEC
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            return os.open(self.path, flags, 0o666)
        except OSError as exc:
            if exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
                raise LockUnavailable(
                    exc.errno, f"cannot create the writer lock {self.path} ({os.strerror(exc.errno)})"
                ) from exc
            raise

    def _still_named(self, fd: int) -> bool:
        try:
            on_disk = os.stat(self.path, follow_symlinks=False)
        except FileNotFoundError:
            return False
        held = os.fstat(fd)
        return (on_disk.st_dev, on_disk.st_ino) == (held.st_dev, held.st_ino)

    def release(self) -> None:
        """Remove the lock file (while still holding the lock, see the module docstring) and unlock."""
        if self._fd is None:
            return
        try:
            if self._still_named(self._fd):
                os.unlink(self.path)
        except OSError:
            pass  # the lock is released all the same; a stale file is harmless
        finally:
            os.close(self._fd)  # closing drops the flock
            self._fd = None
            _held.discard(self)

    def _drop_inherited(self) -> None:
        """In a forked child: close this process's copy without unlocking the parent's lock."""
        if self._fd is not None:
            try:
                os.close(self._fd)
            finally:
                self._fd = None
