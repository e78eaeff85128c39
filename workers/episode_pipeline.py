"""One episode inside a camera's encoder process: frames taken from the ring, a backlog, and an encoding thread.

The process's main thread answers commands and takes frames from the ring as fast as they are published: it
counts each into the statistics and health checks, converts it to the codec's format, gives the ring slot back
and queues the converted frame (`workers.backlog`). A second thread takes frames from that backlog and encodes
them. Two threads because an encode call can take a long time - a slow preset, a codec's look-ahead filling
up, a scene that is expensive - and while one runs on the main thread the ring is not drained: frames the ring
cannot hold are dropped. The codecs release the GIL while they encode (measured: a Python thread spinning
beside an x264 encode kept 92 % of its idle rate), so the main thread keeps draining meanwhile.

The encoding thread reports through a wake-up pipe the main thread waits on: when it has emptied the backlog
(an episode waiting to finish may complete), when it made room in a full backlog (the ring can be drained
again) and when it failed. Only the main thread finishes, aborts or reports; the encoding thread only encodes.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from workers.backlog import BacklogBudget, FrameBacklog, frame_bytes
from workers.encode import EpisodeEncoder, EpisodeResult

logger = logging.getLogger(__name__)

#: Held (``flock``) in the episode's folder while its encoder process may still write the episode's MP4 - also
#: after the recorder died, while the process encodes the frames it holds (`workers.worker_main`). Salvage waits
#: for it (`wait_for_encoders`).
ENCODING_LOCK = ".encoding.lock"


def hold_encoding_lock(folder: Path) -> int | None:
    try:
        fd = os.open(folder / ENCODING_LOCK, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o666)
    except OSError:
        return None  # the folder is gone (a cancelled episode): nothing to protect
    fcntl.flock(fd, fcntl.LOCK_EX)
    return fd


def wait_for_encoders(staging: Path, stall_s: float = 60.0) -> list[str]:
    """Wait until no encoder process holds an episode folder under ``staging``: a recorder that died left its
    encoders encoding the frames they held, into files salvage is about to read. Gives up on a folder whose
    MP4 has not grown for ``stall_s``; returns the folders still held then."""
    held: list[str] = []
    for lock_path in sorted(Path(staging).glob(f"*/{ENCODING_LOCK}")):
        with contextlib.suppress(OSError), open(lock_path) as lock:
            last_size, last_change = -1, time.monotonic()
            while True:
                try:
                    fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if last_size < 0:
                        logger.warning(
                            "waiting for an encoder process of the recorder that died to finish the frames it held "
                            "(%s)",
                            lock_path.parent,
                        )
                    size = sum(p.stat().st_size for p in lock_path.parent.glob("*.mp4"))
                    if size != last_size:
                        last_size, last_change = size, time.monotonic()
                    elif time.monotonic() - last_change > stall_s:
                        held.append(str(lock_path.parent))
                        break
                    time.sleep(0.2)
    return held


class EncodingEpisode:
    """The frames of one episode on their way into ``encoder``; see the module docstring."""

    def __init__(self, encoder: EpisodeEncoder, budget: BacklogBudget, wake_fd: int):
        self.encoder = encoder
        self._busy = hold_encoding_lock(Path(encoder.path).parent)
        self.backlog = FrameBacklog(budget, Path(encoder.path).with_suffix(".backlog"))
        self._wake_fd = wake_fd
        self._lock = threading.Condition()
        self._encoding = False
        self._stopping = False
        self._waiting_for_room = False
        #: What stopped the encoding thread, for the main thread to report.
        self.error: BaseException | None = None
        self._frame_bytes = 0
        self._thread = threading.Thread(target=self._encode_frames, name="lerobot_stream-encode", daemon=True)
        self._thread.start()

    # -- main thread ------------------------------------------------------------------------------------------
    def can_take_frame(self) -> bool:
        """Whether the next frame may be taken from the ring now: while the backlog has room - and always
        while it is empty (that frame is encoded next)."""
        with self._lock:
            room = not self.backlog or self.backlog.has_room(self._frame_bytes)
            self._waiting_for_room = not room  # the encoding thread wakes the main thread when it frees some
            return room

    def add(self, index: int, pixels: np.ndarray, release: Callable[[], None]) -> None:
        """Count, check and convert the frame (``release`` gives its ring slot back), then queue it."""
        frame = self.encoder.prepare(index, pixels, release)
        with self._lock:
            self._frame_bytes = frame_bytes(frame)
            self.backlog.push(index, frame)
            self._lock.notify()

    @property
    def idle(self) -> bool:
        """Nothing queued and nothing being encoded."""
        with self._lock:
            return not self.backlog and not self._encoding

    def counts(self) -> tuple[int, int, int]:
        """(frames, bytes, bytes on disk) waiting in the backlog."""
        with self._lock:
            return len(self.backlog), self.backlog.memory_bytes + self.backlog.disk_bytes, self.backlog.disk_bytes

    def drain(self) -> None:
        """Wait until every queued frame is encoded (or the encoding thread failed)."""
        with self._lock:
            while (self.backlog or self._encoding) and self.error is None:
                self._lock.wait(0.1)

    def finish(self, total_frames: int | None) -> EpisodeResult:
        """Once `idle`: pad to ``total_frames`` with repeats (None: none), flush the codec and close the file."""
        self._stop_thread()
        try:
            return self.encoder.finish(total_frames=total_frames)
        finally:
            self.backlog.discard()
            self._release_lock()

    def close(self, delete: bool = True) -> None:
        """Stop without finishing (the frame being encoded completes first); ``delete`` the partial file."""
        self._stop_thread()
        self.encoder.abort(delete=delete)
        self.backlog.discard()
        self._release_lock()

    def _release_lock(self) -> None:
        """Once only: a descriptor closed twice could close whatever file took its number meanwhile."""
        fd, self._busy = self._busy, None
        if fd is not None:
            with contextlib.suppress(OSError):
                os.close(fd)

    def _stop_thread(self) -> None:
        with self._lock:
            self._stopping = True
            self._lock.notify()
        if self._thread is not threading.current_thread():
            self._thread.join()

    # -- encoding thread --------------------------------------------------------------------------------------
    def _encode_frames(self) -> None:
        while True:
            with self._lock:
                while not self.backlog and not self._stopping:
                    self._lock.wait()
                if self._stopping:
                    return
                item = self.backlog.pop()
                self._encoding = True
            try:
                self.encoder.encode_prepared(*item)
            except BaseException as exc:
                with self._lock:
                    self.error, self._encoding = exc, False
                self._wake()
                return
            with self._lock:
                self._encoding = False
                wake = not self.backlog or self._waiting_for_room
                self._waiting_for_room = False
            if wake:
                self._wake()

    def _wake(self) -> None:
        with contextlib.suppress(BlockingIOError, OSError):  # a full pipe already wakes the main thread
            os.write(self._wake_fd, b"!")
