"""The two ways to host the per-camera encoders behind one interface.

* `ProcessBackend` (default): one long-lived encoder process per camera (`workers.camera_worker.CameraWorker`)
  fed through a shared-memory ring.
* `ThreadBackend`: LeRobot's design, one encoder thread per camera per episode fed through a
  ``queue.Queue`` (`workers.thread_host`); the benchmark baseline.

Both take validated frames with their index and never block the caller on the encoder: ``feed`` returns
False when the camera's buffer is full and the frame is dropped (the encoder repeats the previous frame
in its place).
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
from pathlib import Path
from typing import Protocol

import numpy as np

from shm import RingProducer, check_shm_space
from workers.camera_worker import CameraWorker, LiveStatus
from workers.codecs import EncoderSettings
from workers.encode import EpisodeResult
from workers.errors import CameraEncoderError, WorkerDied
from workers.frames import Layout, SlotFormat, copy_frame, slot_format
from workers.thread_host import CameraEncoderThread, EndOfEpisode, IndexedFrame

logger = logging.getLogger(__name__)


class EncoderBackend(Protocol):
    """What `lerobot_stream`'s `StreamingVideoEncoder` needs from a backend."""

    def start(
        self,
        episode: int,
        paths: dict[str, Path],
        settings: dict[str, EncoderSettings],
        slots: dict[str, SlotFormat | None],
    ) -> None: ...
    def warm_up(self, cameras: list[str], slots: dict[str, SlotFormat | None]) -> None: ...
    def handle(self, camera: str) -> object: ...
    def failure(self, camera: str) -> str | None: ...
    def prepare(self, camera: str, slot: SlotFormat) -> None: ...
    def feed(self, camera: str, index: int, array: np.ndarray, layout: Layout) -> bool: ...
    def finish(
        self, frames_fed: dict[str, int], frames_published: dict[str, int], timeout: float
    ) -> dict[str, EpisodeResult | CameraEncoderError]: ...
    def cancel(self, frames_published: dict[str, int]) -> None: ...
    def live_status(self, camera: str) -> LiveStatus: ...
    def ring_fill(self, camera: str) -> tuple[int, int]: ...
    def close(self) -> None: ...


class ProcessBackend:
    """Encoder processes that live across episodes, one per camera, each with its own frame ring."""

    def __init__(
        self,
        capacity: int,
        encoder_threads: int | None,
        *,
        priority: str = "idle",
        fragmented: bool = True,
        start_timeout: float = 60.0,
    ):
        self.capacity = capacity
        self.encoder_threads = encoder_threads
        self.priority = priority
        self.fragmented = fragmented
        self.start_timeout = start_timeout
        self.workers: dict[str, CameraWorker] = {}
        self._active: list[str] = []

    def _spawn_missing(self, cameras: list[str], wait: bool) -> None:
        for camera in cameras:
            worker = self.workers.get(camera)
            if worker is not None and not worker.alive:
                logger.warning(
                    "Restarting the encoder process for camera '%s' (%s)",
                    camera,
                    worker.failure or "it is no longer running",
                )
                worker.close()
                worker = None
            if worker is None:
                self.workers[camera] = CameraWorker(
                    camera, capacity=self.capacity, encoder_threads=self.encoder_threads, priority=self.priority
                )
        if wait:
            for camera in cameras:  # started in parallel above, awaited here
                self.workers[camera].wait_ready(self.start_timeout)

    def warm_up(self, cameras: list[str], slots: dict[str, SlotFormat | None], in_loop: bool = False) -> None:
        """Have a live worker and (where the frame size is known) a fitting ring for every camera.

        Waits until the workers have started and the rings are pre-faulted, unless ``in_loop``: then it
        starts what is missing without waiting (`start`: LeRobot calls it inside its first ``add_frame``).
        """
        self._spawn_missing(cameras, wait=not in_loop)
        needed = [(c, slot) for c, slot in slots.items() if slot is not None and not self._ring_fits(c, slot)]
        if needed:
            total = sum(RingProducer.nbytes(self.capacity, *slot) for _, slot in needed)
            check_shm_space(total, f"The frame rings of {len(needed)} camera(s) ({self.capacity} frames each)")
            for camera, slot in needed:
                self.workers[camera].ensure_ring(slot, in_loop=in_loop)

    def start(
        self,
        episode: int,
        paths: dict[str, Path],
        settings: dict[str, EncoderSettings],
        slots: dict[str, SlotFormat | None],
    ) -> None:
        cameras = list(paths)
        # No waiting: a new worker imports PyAV while the first frames already queue in its ring.
        self.warm_up(cameras, slots, in_loop=True)
        for camera in cameras:
            self.workers[camera].start_episode(episode, paths[camera], settings[camera], self.fragmented)
        self._active = cameras

    def _ring_fits(self, camera: str, slot: SlotFormat) -> bool:
        spec = self.workers[camera].ring.spec
        return spec is not None and (spec.slot_shape, spec.dtype) == slot

    def handle(self, camera: str) -> CameraWorker:
        return self.workers[camera]

    def failure(self, camera: str) -> str | None:
        worker = self.workers[camera]
        worker.poll_events()
        return worker.failure

    def prepare(self, camera: str, slot: SlotFormat) -> None:
        self.workers[camera].ensure_ring(slot, in_loop=True)  # on the camera's first frame

    def feed(self, camera: str, index: int, array: np.ndarray, layout: Layout) -> bool:
        worker = self.workers[camera]
        return worker.offer(worker.episode, index, array, layout)

    def finish(
        self, frames_fed: dict[str, int], frames_published: dict[str, int], timeout: float
    ) -> dict[str, EpisodeResult | CameraEncoderError]:
        for camera in self._active:
            self.workers[camera].finish(frames_fed[camera], frames_published[camera])
        outcomes: dict[str, EpisodeResult | CameraEncoderError] = {}
        for camera in self._active:
            try:
                outcomes[camera] = self.workers[camera].collect(timeout)
            except CameraEncoderError as exc:
                outcomes[camera] = exc
        self._active = []
        return outcomes

    def cancel(self, frames_published: dict[str, int]) -> None:
        for camera in self._active:
            self.workers[camera].cancel(frames_published.get(camera, 0))
        self._active = []

    def live_status(self, camera: str) -> LiveStatus:
        worker = self.workers[camera]
        worker.poll_events()
        return worker.status

    def ring_fill(self, camera: str) -> tuple[int, int]:
        """(frames in flight, ring capacity) for a camera."""
        ring = self.workers[camera].ring
        return ring.fill_level(), ring.capacity

    def close(self) -> None:
        for worker in self.workers.values():
            worker.close()
        self.workers.clear()
        self._active = []


class _ThreadCamera:
    """One camera's encoder thread for one episode."""

    def __init__(
        self,
        camera: str,
        path: Path,
        settings: EncoderSettings,
        capacity: int,
        encoder_threads: int | None,
        fragmented: bool,
    ):
        self.camera = camera
        self.frames: queue.Queue = queue.Queue(maxsize=capacity)
        self.results: queue.Queue = queue.Queue(maxsize=1)
        self.stop = threading.Event()
        self.thread = CameraEncoderThread(
            path,
            settings.fps,
            frame_queue=self.frames,
            result_queue=self.results,
            stop_event=self.stop,
            encoder_threads=encoder_threads,
            settings=settings,
            fragmented=fragmented,
            camera=camera,
        )
        self.thread.start()

    @property
    def failure(self) -> str | None:
        if self.thread.error is not None:
            return f"Encoder thread for {self.camera} crashed: {self.thread.error}"
        if not self.thread.is_alive() and self.thread.result is None:
            return f"Encoder thread for {self.camera} is not alive"
        return None

    def offer(self, index: int, array: np.ndarray, layout: Layout) -> bool:
        shape, dtype = slot_format(array, layout)
        copy = np.empty(shape, dtype=dtype)
        copy_frame(copy, array, layout)
        try:
            self.frames.put_nowait(IndexedFrame(index, copy))
        except queue.Full:
            return False
        return True

    def finish(self, frames_fed: int, timeout: float) -> EpisodeResult:
        failure = self.failure
        if failure is None:
            try:
                self.frames.put(EndOfEpisode(frames_fed), timeout=timeout)
            except queue.Full:
                failure = f"Encoder thread for {self.camera} did not drain its queue within {timeout:.0f} s"
        self.thread.join(timeout if failure is None else 1.0)
        if self.thread.is_alive():
            self.stop.set()
            raise CameraEncoderError(
                self.camera, failure or f"Encoder thread for {self.camera} did not finish within {timeout:.0f} s"
            )
        if self.thread.result is None:
            raise CameraEncoderError(self.camera, self.failure or failure or f"Encoder thread for {self.camera} failed")
        return self.thread.result

    def cancel(self, timeout: float = 5.0) -> None:
        self.stop.set()
        self.thread.join(timeout)
        with contextlib.suppress(queue.Empty):
            while True:
                self.frames.get_nowait()


class ThreadBackend:
    """In-process encoder threads, created per episode (LeRobot's design)."""

    def __init__(self, capacity: int, encoder_threads: int | None, *, fragmented: bool = True):
        self.capacity = capacity
        self.encoder_threads = encoder_threads
        self.fragmented = fragmented
        self.cameras: dict[str, _ThreadCamera] = {}

    def warm_up(self, cameras: list[str], slots: dict[str, SlotFormat | None]) -> None:
        pass  # threads are created per episode

    def start(
        self,
        episode: int,
        paths: dict[str, Path],
        settings: dict[str, EncoderSettings],
        slots: dict[str, SlotFormat | None],
    ) -> None:
        self.cameras = {
            camera: _ThreadCamera(
                camera, paths[camera], settings[camera], self.capacity, self.encoder_threads, self.fragmented
            )
            for camera in paths
        }

    def handle(self, camera: str) -> CameraEncoderThread:
        return self.cameras[camera].thread

    def failure(self, camera: str) -> str | None:
        return self.cameras[camera].failure

    def prepare(self, camera: str, slot: SlotFormat) -> None:
        pass

    def feed(self, camera: str, index: int, array: np.ndarray, layout: Layout) -> bool:
        return self.cameras[camera].offer(index, array, layout)

    def finish(
        self, frames_fed: dict[str, int], frames_published: dict[str, int], timeout: float
    ) -> dict[str, EpisodeResult | CameraEncoderError]:
        outcomes: dict[str, EpisodeResult | CameraEncoderError] = {}
        for camera, entry in self.cameras.items():
            try:
                outcomes[camera] = entry.finish(frames_fed[camera], timeout)
            except CameraEncoderError as exc:
                outcomes[camera] = exc
        self.cameras = {}
        return outcomes

    def cancel(self, frames_published: dict[str, int]) -> None:
        for entry in self.cameras.values():
            entry.cancel()
        self.cameras = {}

    def live_status(self, camera: str) -> LiveStatus:
        encoder = self.cameras[camera].thread.encoder
        if encoder is None:
            return LiveStatus()
        histograms = None if encoder.settings.is_depth else encoder.stats.histograms.copy()
        return LiveStatus(encoder.frames_written, encoder.frames_repeated, histograms, encoder.health.flags())

    def ring_fill(self, camera: str) -> tuple[int, int]:
        entry = self.cameras[camera]
        return entry.frames.qsize(), self.capacity

    def close(self) -> None:
        self.cancel({})


__all__ = ["EncoderBackend", "ProcessBackend", "ThreadBackend", "WorkerDied"]
