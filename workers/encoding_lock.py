"""Who may still write an episode's folder: the lock that makes salvage wait for a dead recorder's encoders.

An encoder process outlives a recorder that died: it encodes the frames its ring and backlog hold and closes
the MP4 (`workers.encoder_loop`). Salvage must read those MP4s only once that is over. The process therefore
holds a ``flock`` on a lock file in the episode's folder while it may write there (`hold_encoding_lock`), and
salvage takes the same lock (`wait_for_encoders`).

A lock taken by the process alone leaves a gap: between the recorder sending "start an episode" and the process
reading it - seconds, while a new process still imports PyAV on a busy machine - nobody holds the lock, and a
salvage run then read (and removed) the folder while that process was about to write its whole episode there.
So the *recorder* creates the lock file when it makes the folder and writes in it the PID of the process that
will encode it (`claim_episode_folder`), and salvage also waits while the named process lives, holding the lock
or not. Why not wait for the lock to be taken: a process that never started would keep salvage waiting for
nothing; a PID answers at once.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import time
from pathlib import Path

import psutil

logger = logging.getLogger(__name__)

#: Held (``flock``) in the episode's folder while its encoder process may still write the episode's MP4 - also
#: after the recorder died, while the process encodes the frames it holds. Salvage waits for it
#: (`wait_for_encoders`).
ENCODING_LOCK = ".encoding.lock"


def claim_episode_folder(folder: Path, pid: int) -> None:
    """Name process ``pid`` in ``folder``'s lock file as the one that will encode the episode there (recorder
    side, before the process is told to start). A folder that cannot be written is reported when the process
    opens its MP4 there; nothing to do here."""
    with contextlib.suppress(OSError):
        fd = os.open(folder / ENCODING_LOCK, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o666)
        try:
            os.pwrite(fd, str(pid).encode(), 0)
        finally:
            os.close(fd)


def hold_encoding_lock(folder: Path) -> int | None:
    """Lock the episode folder for this process and write its PID in the lock file (for `wait_for_encoders`)."""
    try:
        fd = os.open(folder / ENCODING_LOCK, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o666)
    except OSError:
        return None  # the folder is gone (a cancelled episode): nothing to protect
    fcntl.flock(fd, fcntl.LOCK_EX)
    with contextlib.suppress(OSError):
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
    return fd


def _lock_process(lock_path: Path) -> psutil.Process | None:
    """The process whose PID the lock file holds, if that PID is in use (it may since name another process)."""
    with contextlib.suppress(OSError, ValueError, psutil.Error):
        return psutil.Process(int(lock_path.read_text().strip()))
    return None


def _named_process(lock_path: Path) -> psutil.Process | None:
    """The live process the lock file names, if it can still write the folder: not this process (a thread
    encoder of this very process is done by now), not a zombie, and started before the file was written (a PID
    reused by an unrelated process since then is not it)."""
    process = _lock_process(lock_path)
    with contextlib.suppress(OSError, psutil.Error):
        if process is None or process.pid == os.getpid() or process.status() == psutil.STATUS_ZOMBIE:
            return None
        if process.create_time() <= lock_path.stat().st_mtime + 1.0:
            return process
    return None


def _progress(lock_path: Path) -> tuple[int, float]:
    """Signs that the process named in ``lock_path`` is working: the size of the folder's MP4s, and its CPU
    time (a codec filling its look-ahead, or a process whose episode waits behind another, writes nothing for
    a long while; on a slow board, tens of seconds)."""
    size = sum(p.stat().st_size for p in lock_path.parent.glob("*.mp4"))
    cpu = 0.0
    process = _lock_process(lock_path)
    with contextlib.suppress(psutil.Error):
        if process is not None:
            times = process.cpu_times()
            cpu = times.user + times.system
    return size, cpu


def _still_held(lock_path: Path, lock) -> bool:
    """Does an encoder process still hold the folder, or will it (it lives and the lock file names it)?"""
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    if _named_process(lock_path) is None:
        return False
    fcntl.flock(lock, fcntl.LOCK_UN)  # it has not taken the lock yet, or works on a later episode now
    return True


def wait_for_encoders(staging: Path, stall_s: float = 60.0) -> list[str]:
    """Wait until no encoder process holds, or is about to hold, an episode folder under ``staging``: a
    recorder that died left its encoders encoding the frames they held, into files salvage is about to read.
    Gives up on a folder whose process has made no progress (`_progress`) for ``stall_s``, or used CPU without
    its MP4 growing for ten times that (a process spinning is not encoding); returns the folders still held
    then. Returns holding the lock of none of them."""
    held: list[str] = []
    for lock_path in sorted(Path(staging).rglob(ENCODING_LOCK)):
        with contextlib.suppress(OSError), open(lock_path) as lock:
            last, last_change = None, time.monotonic()
            last_growth = last_change
            while _still_held(lock_path, lock):
                if last is None:
                    logger.warning(
                        "waiting for an encoder process of the recorder that died to finish the frames it held (%s)",
                        lock_path.parent,
                    )
                progress, now = _progress(lock_path), time.monotonic()
                if last is not None and progress[0] != last[0]:
                    last_growth = now
                if progress != last:
                    last, last_change = progress, now
                if now - last_change > stall_s or now - last_growth > 10 * stall_s:
                    held.append(str(lock_path.parent))
                    break
                time.sleep(0.2)
    return held
