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
again) and when it failed. Only the main thread finishes, aborts or
reports; the encoding thread only encodes.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable
from pathlib import Path

import numpy as np

from workers.backlog import BacklogBudget, FrameBacklog, frame_bytes
from workers.encode import EpisodeEncoder, EpisodeResult


class EncodingEpisode:
    """The frames of one episode on their way into ``encoder``; see the module docstring."""

    def __init__(self, encoder: EpisodeEncoder, budget: BacklogBudget, wake_fd: int):
        self.encoder = encoder
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

    def finish(self, total_frames: int) -> EpisodeResult:
        """Once `idle`: pad to ``total_frames`` with repeats, flush the codec and close the file."""
        self._stop_thread()
        try:
            return self.encoder.finish(total_frames=total_frames)
        finally:
            self.backlog.discard()

    def close(self, delete: bool = True) -> None:
        """Stop without finishing (the frame being encoded completes first); ``delete`` the partial file."""
        self._stop_thread()
        self.encoder.abort(delete=delete)
        self.backlog.discard()

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
