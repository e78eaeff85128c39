"""A camera channel whose encoder is a long-lived process fed through a shared-memory ring."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from shm import RingProducer
from workers.backlog import BacklogBudget
from workers.channel import CameraChannel, FinishTicket, LiveStatus
from workers.codecs import EncoderSettings
from workers.encode import EpisodeResult
from workers.errors import WorkerDied
from workers.frames import Layout, SlotFormat
from workers.process_handle import CameraWorker
from workers.stop_policy import START_S

logger = logging.getLogger(__name__)


class ProcessChannel(CameraChannel):
    """One camera's `CameraWorker`: started once (`spawn`), reused across episodes, replaced when it died.

    Nothing here waits for the process unless asked (`wait_ready`): LeRobot starts an episode inside its first
    ``add_frame``, and a new worker imports PyAV at idle priority while the first frames queue in its ring.
    """

    def __init__(
        self,
        camera: str,
        capacity: int,
        encoder_threads: int | None,
        *,
        priority: str = "idle",
        fragmented: bool = True,
        start_timeout: float = START_S,
    ):
        super().__init__(camera, capacity, encoder_threads)
        self.priority = priority
        self.fragmented = fragmented
        self.start_timeout = start_timeout
        self.worker: CameraWorker | None = None

    @property
    def pid(self) -> int | None:
        return self.worker.pid if self.worker is not None else None

    def spawn(self) -> None:
        if self.worker is not None and not self.worker.alive:
            logger.warning(
                "Restarting the encoder process for camera '%s' (%s)",
                self.camera,
                self.worker.failure or "it is no longer running",
            )
            self.worker.close()
            self.worker = None
        if self.worker is None:
            self.worker = CameraWorker(self.camera, capacity=self.capacity, priority=self.priority)

    def wait_ready(self) -> None:
        self._running().wait_ready(self.start_timeout)

    def _running(self) -> CameraWorker:
        if self.worker is None:
            raise WorkerDied(self.camera, f"The encoder process for camera '{self.camera}' was not started")
        return self.worker

    def ring_bytes_needed(self, slot: SlotFormat) -> int:
        spec = self._running().ring.spec
        if spec is not None and (spec.slot_shape, spec.dtype) == slot:
            return 0
        return RingProducer.nbytes(self.capacity, *slot)

    def prepare(self, slot: SlotFormat, in_loop: bool) -> None:
        self._running().ensure_ring(slot, in_loop=in_loop)

    def _begin(self, episode: int, path: Path, settings: EncoderSettings, backlog: BacklogBudget) -> None:
        self.spawn()
        self._running().start_episode(episode, path, settings, self.fragmented, backlog)

    def _failure(self) -> str | None:
        worker = self._running()
        worker.poll_events()
        return worker.failure

    def _publish(self, index: int, array: np.ndarray, layout: Layout) -> bool:
        worker = self._running()
        return worker.offer(worker.episode, index, array, layout)

    def _request_finish(self) -> None:
        self._running().finish(self.frames_fed, self.frames_published)

    def _collect(self, ticket: FinishTicket, timeout: float) -> EpisodeResult:
        return self._running().collect(ticket.episode, timeout)

    def _abandon(self) -> None:
        self._running().cancel(self.frames_published)

    def _live(self) -> LiveStatus:
        worker = self._running()
        worker.poll_events()
        return worker.status

    def _buffered(self) -> int:
        return self._running().ring.fill_level()

    def close(self) -> None:
        if self.worker is not None:
            self.worker.close()
            self.worker = None
