"""One episode inside a camera's encoder process: frames taken from the ring, a backlog, and an encoding thread.

The process's main thread answers commands and takes frames from the ring as fast as they are published: it
counts each into the statistics and health checks, converts it to the codec's format, gives the ring slot back
and queues the converted frame (`workers.backlog`). A second thread takes frames from that backlog and encodes
them. Two threads because an encode call can take a long time - a slow preset, a codec's look-ahead filling
up, a scene that is expensive - and while one runs on the main thread the ring is not drained: frames the ring
cannot hold are dropped. The codecs release the GIL while they encode (a Python thread spinning beside an x264
encode keeps 100 % of its rate: `benchmarks.microbench` ``gil``,
benchmarks/results/2026-12-06-xeon-2vcpu-microbench-pyav18.txt), so the main thread keeps draining meanwhile.

Episodes queue: after the recorder has finished an episode (it may already record the next), the process still
encodes what that episode's backlog holds. Each episode has its own encoder, backlog and thread, but only the
oldest unfinished one encodes: a later episode is created *gated* - its frames are taken, converted and queued
as usual, and its thread starts encoding when the main thread `open`s it, once every earlier episode is done. So
one codec runs at a time per camera, and the episodes' backlogs share one memory budget (`MemoryAccount`).

The encoding thread reports through a wake-up pipe the main thread waits on: when it made room in a full
backlog (the ring can be drained again), when it has closed the episode's MP4 after `EncodingEpisode.end` (the
slow part of finishing: flushing a codec's look-ahead) and when it failed. Only the main thread reports or
aborts; the encoding thread encodes and closes the file.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from collections.abc import Callable
from pathlib import Path

import numpy as np

from workers.backlog import BacklogBudget, FrameBacklog, MemoryAccount, frame_bytes, spill_path_for
from workers.encode import EpisodeEncoder, EpisodeResult
from workers.encoding_lock import hold_encoding_lock

logger = logging.getLogger(__name__)


class EncodingEpisode:
    """The frames of one episode on their way into ``encoder``; see the module docstring."""

    def __init__(
        self,
        encoder: EpisodeEncoder,
        budget: BacklogBudget,
        wake_fd: int,
        account: MemoryAccount | None = None,
        gated: bool = False,
    ):
        self.encoder = encoder
        self._busy = hold_encoding_lock(Path(encoder.path).parent)
        self.backlog = FrameBacklog(budget, spill_path_for(encoder.path), account, encoder.settings)
        self._wake_fd = wake_fd
        self._lock = threading.Condition()
        #: Not encoding yet: an earlier episode of this process still is (see the module docstring).
        self._gated = gated
        self._stopping = False
        self._waiting_for_room = False
        #: `end` was called: no more frames; the MP4 gets ``_total_frames`` frames (None: as many as came).
        self.ending = False
        self._total_frames: int | None = None
        #: The finished MP4, once the encoding thread has closed it.
        self._result: EpisodeResult | None = None
        #: What stopped the encoding thread, for the main thread to report.
        self.error: BaseException | None = None
        self._frame_bytes = 0
        self._thread = threading.Thread(target=self._run, name="lerobot_stream-encode", daemon=True)
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

    def open(self) -> None:
        """Let the encoding thread start (every earlier episode is done). Idempotent."""
        with self._lock:
            self._gated = False
            self._lock.notify()

    def end(self, total_frames: int | None) -> None:
        """No more frames will come: once the backlog is encoded, the encoding thread pads the video to
        ``total_frames`` with repeats (None: none), flushes the codec and closes the file - slow with a codec's
        look-ahead, so not on the main thread, which meanwhile drains the ring for the next episode."""
        with self._lock:
            self.ending, self._total_frames = True, total_frames
            self._lock.notify()

    @property
    def finished(self) -> bool:
        """The MP4 is closed (`result` has it) or the encoding thread failed (`error`)."""
        with self._lock:
            return self._result is not None or self.error is not None

    def counts(self) -> tuple[int, int, int]:
        """(frames, bytes, bytes on disk) waiting in the backlog."""
        with self._lock:
            return len(self.backlog), self.backlog.memory_bytes + self.backlog.disk_bytes, self.backlog.disk_bytes

    def result(self) -> EpisodeResult:
        """Once `finished`: the episode's MP4 and counts (or the encoding thread's error, raised); frees what the
        episode held."""
        self._thread.join()
        self.backlog.discard()
        self._release_lock()
        if self.error is not None:
            raise self.error
        return self._result

    def finish(self, total_frames: int | None) -> EpisodeResult:
        """`open`, `end` and wait for the encoding thread: the episode's MP4, every queued frame in it."""
        self.open()
        self.end(total_frames)
        return self.result()

    def close(self, delete: bool = True) -> None:
        """Stop without finishing (the frame being encoded completes first); ``delete`` the partial file."""
        with self._lock:
            self._stopping = True
            self._lock.notify()
        if self._thread is not threading.current_thread():
            self._thread.join()
        if self._result is None:
            self.encoder.abort(delete=delete)
        self.backlog.discard()
        self._release_lock()

    def _release_lock(self) -> None:
        """Once only: a descriptor closed twice could close whatever file took its number meanwhile."""
        fd, self._busy = self._busy, None
        if fd is not None:
            with contextlib.suppress(OSError):
                os.close(fd)

    # -- encoding thread --------------------------------------------------------------------------------------
    def _run(self) -> None:
        try:
            if self._encode_frames():
                result = self.encoder.finish(total_frames=self._total_frames)
                with self._lock:
                    self._result = result
        except BaseException as exc:
            with self._lock:
                self.error = exc
        self._wake()

    def _encode_frames(self) -> bool:
        """Encode queued frames until the episode has ended and its backlog is empty (True) or `close` stops it
        (False)."""
        while True:
            with self._lock:
                while not self._stopping and (self._gated or (not self.backlog and not self.ending)):
                    self._lock.wait()
                if self._stopping:
                    return False
                if not self.backlog:
                    return True
                item = self.backlog.pop()
            self.encoder.encode_prepared(*item)
            with self._lock:
                wake = self._waiting_for_room
                self._waiting_for_room = False
            if wake:
                self._wake()

    def _wake(self) -> None:
        with contextlib.suppress(BlockingIOError, OSError):  # a full pipe already wakes the main thread
            os.write(self._wake_fd, b"!")
