"""POSIX shared-memory segments with a strict owner, and the cleanup that guarantees none is left behind.

Why not ``multiprocessing.shared_memory.SharedMemory``: before Python 3.13 every process that *attaches*
registers the segment with a resource tracker, which then unlinks it (or warns about a "leak") when that
process exits, although the segment belongs to someone else. Here exactly one process - the recorder -
creates, owns and unlinks each segment; consumers attach read-only and never unlink.

What makes sure nothing stays in ``/dev/shm``:

* ``SharedSegment.close()`` unlinks (idempotent);
* a ``weakref.finalize`` unlinks on garbage collection and at interpreter exit;
* the owner registers each segment with the stdlib resource tracker (a helper process), which unlinks
  it if the owner is killed with SIGKILL;
* the owner holds a shared ``flock`` on the segment for as long as it lives; ``sweep_stale_segments()``
  (run before each allocation) unlinks our segments whose lock nobody holds any more *and* whose owner
  PID (part of the name) is gone. The kernel drops the lock when the owner dies, however it dies; the PID
  check covers the instant between creating a segment and locking it. A segment is therefore only swept
  when both say its owner is dead - safe under PID reuse and when ``/dev/shm`` is shared between PID
  namespaces.
"""

from __future__ import annotations

import errno
import itertools
import logging
import mmap
import os
import secrets
import signal
import stat
import weakref
from pathlib import Path

try:  # POSIX only; the project does not target Windows.
    import _posixshmem
except ImportError as exc:  # pragma: no cover
    raise ImportError("lerobot_stream's shared-memory frame bus needs a POSIX system (Linux, macOS)") from exc

try:
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None  # type: ignore[assignment]

import contextlib
from multiprocessing import resource_tracker

from shm.errors import SharedMemorySpaceError
from shm.ownership import in_owner
from shm.prefault import populate, reserve

logger = logging.getLogger(__name__)

#: Every segment created by this library starts with this prefix (then the owner's PID).
SEGMENT_PREFIX = "lrs_"
#: Linux exposes POSIX shared memory as files here; macOS has no such directory (no sweep, no space check).
SHM_DIR = Path("/dev/shm")
_counter = itertools.count()


def _new_name() -> str:
    # macOS limits names to 31 characters, so keep it short: prefix, pid, a counter and a random tag.
    return f"/{SEGMENT_PREFIX}{os.getpid()}_{next(_counter)}_{secrets.token_hex(3)}"


def shm_free_bytes() -> int | None:
    """Free bytes in ``/dev/shm``, or None where POSIX shared memory is not a visible filesystem."""
    if not SHM_DIR.is_dir():
        return None
    st = os.statvfs(SHM_DIR)
    return st.f_bavail * st.f_frsize


def own_unbacked_bytes() -> int:
    """Bytes of this process's segments that tmpfs has not allocated yet: a ring created inside the recording
    loop is sparse until its consumer reserves it, and every page a frame copy touches meanwhile takes space
    that ``statvfs`` still reports as free."""
    if not SHM_DIR.is_dir():
        return 0
    total = 0
    with contextlib.suppress(OSError):
        for entry in os.scandir(SHM_DIR):
            if entry.name.startswith(f"{SEGMENT_PREFIX}{os.getpid()}_"):
                with contextlib.suppress(OSError):
                    st = entry.stat(follow_symlinks=False)
                    total += max(0, st.st_size - st.st_blocks * 512)
    return total


def check_shm_space(needed_bytes: int, what: str) -> None:
    """Raise `SharedMemorySpaceError` if ``/dev/shm`` cannot hold ``needed_bytes`` more - on top of what this
    process's not-yet-reserved segments will take (`own_unbacked_bytes`).

    Docker gives containers a 64 MB ``/dev/shm`` by default, far too small for many 640x480 cameras, and
    tmpfs reports a full disk as SIGBUS on first write, not as an error - so check up front and say how
    to fix it.
    """
    free = shm_free_bytes()
    if free is None:
        return
    pending = own_unbacked_bytes()
    if needed_bytes + pending <= free:
        return
    others = f" ({pending / 2**20:.1f} MiB of it promised to rings created earlier)" if pending else ""
    raise SharedMemorySpaceError(
        errno.ENOSPC,
        f"{what} needs {needed_bytes / 2**20:.1f} MiB of shared memory but {SHM_DIR} has only "
        f"{(free - pending) / 2**20:.1f} MiB free{others}. Enlarge it (Docker: `docker run --shm-size=1g ...`; "
        f"elsewhere: `mount -o remount,size=1G {SHM_DIR}`) or lower queue_maxsize / the number of cameras.",
    )


def _owner_pid(segment_file_name: str) -> int | None:
    """The owner PID encoded in a segment name such as ``lrs_1234_0_ab12cd``."""
    try:
        return int(segment_file_name[len(SEGMENT_PREFIX) :].split("_", 1)[0])
    except ValueError:
        return None


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _unlink_quietly(name: str) -> None:
    try:
        _posixshmem.shm_unlink(name)
    except FileNotFoundError:
        pass
    except OSError as exc:  # pragma: no cover - permissions changed under us
        logger.warning("Could not unlink shared memory segment %s: %s", name, exc)


def _ensure_tracker() -> None:
    """Start the stdlib resource tracker (if it is not running yet) deaf to SIGHUP.

    It shares the recorder's process group, and a closed ssh session sends SIGHUP to the whole group: a
    recorder killed by it would take the tracker along, and its rings would stay in /dev/shm until the next
    recorder's sweep. The tracker already ignores SIGINT and SIGTERM; the blocked SIGHUP is inherited.
    """
    if not hasattr(signal, "pthread_sigmask") or not hasattr(signal, "SIGHUP"):
        resource_tracker.ensure_running()
        return
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGHUP})
    try:
        resource_tracker.ensure_running()
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def _release_owned(name: str, lock_fd: int, tracked: bool, owner_pid: int) -> None:
    """Finalizer of an owned segment: unlink it, drop the tracker registration and the lock - in the owner
    only: a forked child runs this at its exit too, and must leave its parent's segment alone."""
    if not in_owner(owner_pid):
        with contextlib.suppress(OSError):
            os.close(lock_fd)  # the child's copy of the descriptor; the parent's lock stays
        return
    _unlink_quietly(name)
    if tracked:
        with contextlib.suppress(Exception):  # the tracker may be gone at interpreter exit
            resource_tracker.unregister(name, "shared_memory")
    with contextlib.suppress(OSError):
        os.close(lock_fd)


class SharedSegment:
    """One mapped POSIX shared-memory segment.

    Create it with `SharedSegment.create` (the owner) or `SharedSegment.attach` (a consumer, read-only by
    default). ``buffer`` is the mapping; numpy views into it must be dropped before `close`.
    """

    def __init__(self, name: str, mapping: mmap.mmap, size: int, finalizer: weakref.finalize | None):
        self.name = name
        self.size = size
        self._mmap: mmap.mmap | None = mapping
        self._finalizer = finalizer

    @property
    def owned(self) -> bool:
        return self._finalizer is not None

    @property
    def buffer(self) -> mmap.mmap:
        if self._mmap is None:
            raise ValueError(f"shared memory segment {self.name} is closed")
        return self._mmap

    @classmethod
    def create(cls, size: int, what: str = "shared memory segment", prefault: bool = True) -> SharedSegment:
        """Create a new segment owned by this process, its memory reserved and mapped (`shm.prefault`).

        ``prefault=False`` (for a segment created inside a time-critical loop) skips both: ~0.02 ms instead
        of ~15 ms per 27 MiB; the first write to each page then allocates it, and the consumer reserves the
        rest (`reserve_segment`).
        """
        if size <= 0:
            raise ValueError(f"segment size must be positive, got {size}")
        sweep_stale_segments()
        check_shm_space(size, what)
        name = _new_name()
        fd = _posixshmem.shm_open(name, os.O_CREAT | os.O_EXCL | os.O_RDWR, mode=0o600)
        try:
            os.ftruncate(fd, size)
            if prefault:
                reserve(fd, size, what)
            if fcntl is not None:
                # Held until this process closes the segment or dies; see sweep_stale_segments.
                with contextlib.suppress(OSError):  # filesystems without flock: no sweep protection
                    fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
            mapping = mmap.mmap(fd, size)
            if prefault:
                populate(mapping)
        except BaseException:
            os.close(fd)
            _unlink_quietly(name)
            raise
        tracked = True
        try:
            _ensure_tracker()
            resource_tracker.register(name, "shared_memory")
        except Exception:  # pragma: no cover - the tracker is a safety net, not a requirement
            tracked = False
        segment = cls(name, mapping, size, None)
        segment._finalizer = weakref.finalize(segment, _release_owned, name, fd, tracked, os.getpid())
        return segment

    @staticmethod
    def reserve_segment(name: str, what: str = "shared memory segment") -> None:
        """Allocate every page of an existing segment (`shm.prefault.reserve`) without mapping it.

        For a consumer, off the owner's time-critical thread; never changes the contents.
        """
        fd = _posixshmem.shm_open(name, os.O_RDWR, mode=0o600)
        try:
            reserve(fd, os.fstat(fd).st_size, what)
        finally:
            os.close(fd)

    @classmethod
    def attach(cls, name: str, writable: bool = False) -> SharedSegment:
        """Map an existing segment; an attached segment is never unlinked by this process."""
        fd = _posixshmem.shm_open(name, os.O_RDWR if writable else os.O_RDONLY, mode=0o600)
        try:
            size = os.fstat(fd).st_size
            prot = mmap.PROT_READ | (mmap.PROT_WRITE if writable else 0)
            mapping = mmap.mmap(fd, size, prot=prot)
        finally:
            os.close(fd)
        return cls(name, mapping, size, None)

    def close(self) -> None:
        """Unmap (if no view is still alive) and, for the owner, unlink. Idempotent."""
        if self._mmap is not None:
            try:
                self._mmap.close()
            except BufferError:
                # A numpy view is still alive somewhere; the mapping goes away with it. Unlinking below
                # is what frees /dev/shm.
                logger.debug("segment %s still has live views; leaving the mapping to the GC", self.name)
            self._mmap = None
        if self._finalizer is not None:
            self._finalizer()

    def __repr__(self) -> str:
        role = "owner" if self.owned else "attached"
        return f"SharedSegment({self.name!r}, {self.size} bytes, {role})"


def list_segments() -> list[str]:
    """Names (with the leading slash) of this library's segments visible in ``/dev/shm`` (Linux)."""
    if not SHM_DIR.is_dir():
        return []
    return sorted("/" + p.name for p in SHM_DIR.glob(f"{SEGMENT_PREFIX}*"))


def sweep_stale_segments() -> list[str]:
    """Unlink segments left behind by dead owners; return their names.

    A live owner holds a shared flock on its segment, so a segment we can lock exclusively has no owner
    (see the module docstring for why the PID is checked too). Only Linux lists POSIX shared memory, so
    elsewhere this does nothing.
    """
    if fcntl is None or not SHM_DIR.is_dir():
        return []
    removed = []
    for path in SHM_DIR.glob(f"{SEGMENT_PREFIX}*"):
        pid = _owner_pid(path.name)
        if pid is None or _pid_alive(pid):
            continue
        # Any local user can create files in /dev/shm: open nothing that is not one of our regular files.
        # O_NONBLOCK keeps a FIFO from blocking the open; O_NOFOLLOW refuses symlinks; fstat then checks
        # what was actually opened (no race between a check and the open).
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOFOLLOW", 0))
        except OSError as exc:
            logger.debug("sweep: skipping %s: %s", path, exc)
            continue
        try:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode) or info.st_uid != os.geteuid():
                logger.debug("sweep: skipping %s: not a regular file owned by this user", path)
                continue
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            continue  # its owner is alive
        else:
            _unlink_quietly("/" + path.name)
            removed.append("/" + path.name)
        finally:
            os.close(fd)
    if removed:
        logger.info("Removed %d shared memory segment(s) left by dead recorders: %s", len(removed), removed)
    return removed
