"""A camera channel whose encoder is an in-process thread fed through a ``queue.Queue`` (LeRobot's design)."""

from __future__ import annotations

import contextlib
import queue
import threading
from pathlib import Path

import numpy as np

from workers.backlog import BacklogBudget
from workers.channel import CameraChannel, FinishTicket, LiveStatus
from workers.codecs import EncoderSettings
from workers.encode import EpisodeResult
from workers.errors import CameraEncoderError
from workers.frames import Layout, copy_frame, slot_format
from workers.thread_host import CameraEncoderThread, EndOfEpisode, IndexedFrame

#: How long ``cancel`` waits for the thread to notice its stop event.
_CANCEL_TIMEOUT_S = 5.0


class ThreadChannel(CameraChannel):
    """One camera's `CameraEncoderThread`, a new one per episode; frames are copied into its queue."""

    def __init__(self, camera: str, capacity: int, encoder_threads: int | None, *, fragmented: bool = True):
        super().__init__(camera, capacity, encoder_threads)
        self.fragmented = fragmented
        self.thread: CameraEncoderThread | None = None
        self._frames: queue.Queue = queue.Queue(maxsize=capacity)
        self._stop = threading.Event()

    def _begin(self, episode: int, path: Path, settings: EncoderSettings, backlog: BacklogBudget) -> None:
        """``backlog`` is not used: the thread host (LeRobot's design, the baseline) has only its queue."""
        self._frames = queue.Queue(maxsize=self.capacity)
        self._stop = threading.Event()
        self.thread = CameraEncoderThread(
            path,
            settings,
            frame_queue=self._frames,
            result_queue=queue.Queue(maxsize=1),
            stop_event=self._stop,
            encoder_threads=self.encoder_threads,
            fragmented=self.fragmented,
            camera=self.camera,
        )
        self.thread.start()

    def _failure(self) -> str | None:
        thread = self.thread
        if thread is None:
            return f"Encoder thread for {self.camera} was not started"
        if thread.error is not None:
            return f"Encoder thread for {self.camera} crashed: {thread.error}"
        if not thread.is_alive() and thread.result is None:
            return f"Encoder thread for {self.camera} is not alive"
        return None

    def _publish(self, index: int, array: np.ndarray, layout: Layout) -> bool:
        shape, dtype = slot_format(array, layout)
        copy = np.empty(shape, dtype=dtype)
        copy_frame(copy, array, layout)
        try:
            self._frames.put_nowait(IndexedFrame(index, copy))
        except queue.Full:
            return False
        return True

    def _collect(self, ticket: FinishTicket, timeout: float) -> EpisodeResult:
        """The episode just finished: the thread host collects each episode before the next starts."""
        thread = self.thread
        assert thread is not None
        failure = self._failure()
        if failure is None:
            try:
                self._frames.put(EndOfEpisode(self.frames_fed), timeout=timeout)
            except queue.Full:
                failure = f"Encoder thread for {self.camera} did not drain its queue within {timeout:.0f} s"
        thread.join(timeout if failure is None else 1.0)
        if thread.is_alive():
            self._stop.set()
            raise CameraEncoderError(
                self.camera, failure or f"Encoder thread for {self.camera} did not finish within {timeout:.0f} s"
            )
        if thread.result is None:
            raise CameraEncoderError(
                self.camera, self._failure() or failure or f"Encoder thread for {self.camera} failed"
            )
        return thread.result

    def _abandon(self) -> None:
        self._stop.set()
        if self.thread is not None:
            self.thread.join(_CANCEL_TIMEOUT_S)
        with contextlib.suppress(queue.Empty):
            while True:
                self._frames.get_nowait()

    def _live(self) -> LiveStatus:
        encoder = self.thread.encoder if self.thread is not None else None
        if encoder is None:
            return LiveStatus()
        histograms = None if encoder.settings.is_depth else encoder.stats.histograms.copy()
        return LiveStatus(encoder.frames_written, encoder.frames_repeated, histograms, encoder.health.flags())

    def _buffered(self) -> int:
        return self._frames.qsize()

    def close(self) -> None:
        self.cancel()
