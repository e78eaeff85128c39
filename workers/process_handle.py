"""Runs in the recorder: the handle of one camera's encoder process (`CameraWorker`), its pipes and its ring.

Workers are started as fresh, isolated interpreters running `workers.process_main` with inherited pipe
descriptors (`workers.spawn`: at their low priority from the first instruction), not with
``multiprocessing.Process``: like the ``spawn`` method they share nothing with the recorder but what is passed to
them, and unlike it they never re-import the user's ``__main__`` (a recording script without an ``if __name__ ==
"__main__"`` guard would otherwise start recording again inside every worker). They lead process groups of their
own, in the recorder's session (`workers.spawn` says why), so a terminal's Ctrl-C reaches only the recorder, which
then finishes or cancels the episode itself.

A worker lives across episodes: starting an episode is one small message, not a process spawn.
"""

from __future__ import annotations

import contextlib
import logging
import os
import subprocess
import threading
import time
import weakref
from multiprocessing.connection import Connection, wait
from pathlib import Path

import numpy as np

from shm import RingProducer, ring_pipes
from shm.readiness import ReadinessProbe
from workers.backlog import NO_BACKLOG, BacklogBudget
from workers.channel import LiveStatus
from workers.codecs import EncoderSettings
from workers.encode import EpisodeResult
from workers.encoding_lock import claim_episode_folder
from workers.errors import CameraEncoderError, WorkerDied
from workers.frames import Layout, SlotFormat, copy_frame
from workers.health import HINTS as HEALTH_HINTS
from workers.protocol import (
    AttachRing,
    CancelEpisode,
    Configure,
    EpisodeCancelled,
    EpisodeFailed,
    EpisodeFinished,
    FinishEpisode,
    Progress,
    Shutdown,
    StartEpisode,
    WorkerReady,
)
from workers.spawn import BackgroundSpawn, describe_exit, encoder_process_command
from workers.stop_policy import CANCEL_ACK_S, EXIT_STATUS_S, KILL_REAP_S, SHUTDOWN_S

logger = logging.getLogger(__name__)

#: The shortest interval the encode rate is measured over (progress reports come about twice a second).
_RATE_INTERVAL_S = 0.25


#: The handles in this process, for `_close_pipes_in_forked_child`.
_handles: weakref.WeakSet[CameraWorker] = weakref.WeakSet()


def _close_pipes_in_forked_child() -> None:
    """A child forked by the recorder (a data-loader worker, a helper) must not keep the recorder's ends of its
    encoder processes' pipes: an encoder process learns that its recorder died from end-of-file on them, and
    would otherwise wait for the child - and salvage of the episodes it holds with it. Closing the child's copies
    leaves the recorder's own untouched."""
    for handle in list(_handles):
        handle.close_inherited_pipes()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_close_pipes_in_forked_child)


class CameraWorker:
    """Handle of one camera's encoder process, its command/event pipes and its frame ring."""

    def __init__(
        self,
        camera: str,
        *,
        capacity: int,
        priority: str = "idle",
        log_level: int | None = None,
    ):
        self.camera = camera
        self.capacity = capacity
        self.status = LiveStatus()
        #: Why the current episode cannot complete on this camera (worker error or death), if it cannot.
        self.failure: str | None = None
        self._lost = False
        self._episode: int | None = None
        #: How each episode ended (finished, failed, cancelled), until collected.
        self._outcomes: dict[int, object] = {}
        #: Episodes finished by the recorder whose outcome is awaited.
        self._finishing: set[int] = set()
        #: The last `Progress` of the episode being recorded and of each finishing one.
        self._progress: dict[int, Progress] = {}
        #: Frames encoded in episodes already completed, for the encode rate across episodes.
        self._encoded_before = 0
        #: Events are read by the recording thread (non-blocking) and by whichever thread awaits an outcome.
        self._events_lock = threading.Lock()
        self._ready = False
        self._health_warned: set[str] = set()
        #: (time, frames encoded) of the last progress report, for `LiveStatus.encode_fps`.
        self._rate_mark: tuple[float, int] | None = None

        command_read, command_write = os.pipe()
        event_read, event_write = os.pipe()
        producer_pipes, consumer_pipes = ring_pipes()
        child_fds = [command_read, event_write, consumer_pipes.ready.fileno(), consumer_pipes.freed.fileno()]
        env = dict(os.environ)
        env.setdefault("SVT_LOG", "0")
        command = encoder_process_command(child_fds)
        # Not awaited: the process starts while the caller goes on (commands wait in the pipe meanwhile).
        close_after = [command_read, event_write, consumer_pipes.ready, consumer_pipes.freed]
        #: Episode folders whose lock file does not name the process yet: it was still being started.
        self._unclaimed: list[Path] = []
        self._spawn = BackgroundSpawn(
            command, child_fds, env, priority, close_after=close_after, on_started=self._claim_folders
        )
        self._commands = Connection(command_write, readable=False)
        self._events = Connection(event_read, writable=False)
        self._events_ready = ReadinessProbe(self._events)
        self.ring = RingProducer(producer_pipes, label=f"camera '{camera}' frame ring")
        level = log_level if log_level is not None else logging.getLogger("workers").getEffectiveLevel()
        self._send(Configure(camera=camera, priority=priority, log_level=level))
        _handles.add(self)

    def close_inherited_pipes(self) -> None:
        """In a forked child: close its copies of this handle's pipe ends (`_close_pipes_in_forked_child`). The
        child cannot use the handle afterwards - it must not anyway (`shm.check_owner`)."""
        for end in (self._commands, self._events):
            with contextlib.suppress(OSError):
                end.close()
        with contextlib.suppress(OSError):
            self.ring.close_pipes()

    @property
    def episode(self) -> int | None:
        """The episode this worker is recording, if any."""
        return self._episode

    # -- liveness -----------------------------------------------------------------------------------------
    @property
    def process(self) -> subprocess.Popen | None:
        """The encoder process (waits for a start still in progress); None if it could not be started."""
        try:
            return self._spawn.result()
        except Exception:  # the cause is in self._spawn.error
            return None

    @property
    def pid(self) -> int | None:
        process = self.process
        return process.pid if process is not None else None

    @property
    def alive(self) -> bool:
        if self._lost:
            return False
        if not self._spawn.done:
            return True  # still starting
        process = self.process
        return process is not None and process.poll() is None

    def _mark_lost(self) -> None:
        if self._lost:
            return
        self._lost = True
        process = self.process
        if process is None:
            cause = f"Encoder process for camera '{self.camera}' could not be started: {self._spawn.error}"
        else:
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=EXIT_STATUS_S)
            cause = (
                f"Encoder process for camera '{self.camera}' (pid {process.pid}) died: {describe_exit(process.poll())}"
            )
        logger.error("%s", cause)
        if self.failure is None:
            self.failure = cause

    def _send(self, command: object) -> None:
        if self._lost:
            return
        try:
            self._commands.send(command)
        except (BrokenPipeError, OSError):
            self._mark_lost()

    # -- events -------------------------------------------------------------------------------------------
    def poll_events(self, block: bool = False) -> None:
        """Take in whatever the worker has sent (non-blocking); notices a dead worker. Without ``block`` it
        returns at once if another thread is reading the events right now."""
        if self._lost or not self._events_lock.acquire(blocking=block):
            return
        try:
            while self._events_ready():
                self._on_event(self._events.recv())
        except (EOFError, OSError):
            self._mark_lost()
        finally:
            self._events_lock.release()

    def _encode_rate(self, frames_encoded: int) -> float | None:
        """Frames per second encoded (over every episode of the process), measured over at least
        `_RATE_INTERVAL_S` and smoothed over a few such intervals."""
        now, last = time.monotonic(), self.status.encode_fps
        previous = self._rate_mark
        if previous is None or frames_encoded < previous[1]:
            self._rate_mark = (now, frames_encoded)
            return last
        if now - previous[0] < _RATE_INTERVAL_S:
            return last
        self._rate_mark = (now, frames_encoded)
        rate = (frames_encoded - previous[1]) / (now - previous[0])
        return rate if last is None else 0.5 * last + 0.5 * rate

    def _on_event(self, event: object) -> None:
        if isinstance(event, Progress):
            if event.episode == self._episode or event.episode in self._finishing:
                self._progress[event.episode] = event
                self._update_status()
            if event.episode == self._episode:
                for flag in set(event.health) - self._health_warned:
                    self._health_warned.add(flag)
                    logger.warning("camera %s looks broken: %s (%s)", self.camera, flag, HEALTH_HINTS[flag])
        elif isinstance(event, (EpisodeFailed, EpisodeFinished, EpisodeCancelled)):
            if event.episode == self._episode or event.episode in self._finishing:
                self._outcomes[event.episode] = event
            if isinstance(event, EpisodeFailed):
                if event.episode == self._episode:
                    self.failure = event.message
                logger.debug("camera %s worker traceback:\n%s", self.camera, event.traceback)
            progress = self._progress.pop(event.episode, None)
            if progress is not None:
                self._encoded_before += progress.frames_encoded
                self._update_status()
        elif isinstance(event, WorkerReady):
            self._ready = True

    def _update_status(self) -> None:
        """`status` from the latest reports on the episode being recorded and on the episodes still encoding
        before it: the backlog is theirs together, and so is the encode rate."""
        reports = list(self._progress.values())
        current = self._progress.get(self._episode) if self._episode is not None else None
        encoded = self._encoded_before + sum(p.frames_encoded for p in reports)
        self.status = LiveStatus(
            current.frames_encoded if current else 0,
            current.frames_repeated if current else 0,
            current.histograms if current else None,
            current.health if current else (),
            sum(p.backlog_frames for p in reports),
            sum(p.backlog_bytes for p in reports),
            sum(p.backlog_disk_bytes for p in reports),
            self._encode_rate(encoded),
        )

    def wait_ready(self, timeout: float) -> None:
        """Block until the worker has started (imports done), or raise `WorkerDied`."""
        deadline = time.monotonic() + timeout
        while not self._ready:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or self._lost:
                break
            wait([self._events], timeout=min(remaining, 0.2))
            self.poll_events(block=True)
        if not self._ready:
            if not self._lost:
                self.kill()
            raise WorkerDied(
                self.camera,
                self.failure or f"Encoder process for camera '{self.camera}' did not start within {timeout:.0f} s",
                self.pid,
            )

    def _await_outcome(self, episode: int, timeout: float, while_encoding: bool = False) -> object | None:
        """How ``episode`` ended, or None after ``timeout`` s - counted from the last frame encoded when
        ``while_encoding``: an encoder working through a backlog (`workers.backlog`) may need far longer than
        any fixed time, and is only given up on when it stops making progress. Safe beside a thread that polls
        the events (its reading is waited for; what it read is in ``_outcomes``)."""
        deadline = time.monotonic() + timeout
        encoded = self._encoded_total()
        while episode not in self._outcomes and not self._lost:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            wait([self._events], timeout=min(remaining, 0.2))  # short: another thread may take the event
            self.poll_events(block=True)
            if while_encoding and self._encoded_total() > encoded:
                encoded, deadline = self._encoded_total(), time.monotonic() + timeout
        return self._outcomes.pop(episode, None)

    def _encoded_total(self) -> int:
        return self._encoded_before + sum(p.frames_encoded for p in self._progress.values())

    # -- episodes -----------------------------------------------------------------------------------------
    def start_episode(
        self,
        episode: int,
        path: Path,
        settings: EncoderSettings,
        fragmented: bool = True,
        backlog: BacklogBudget = NO_BACKLOG,
    ) -> None:
        """Begin ``episode``; earlier episodes may still be encoding (`finish` did not wait for them)."""
        self._episode = episode
        self.failure = None
        self._health_warned = set()  # each health flag is logged once per episode
        self._update_status()
        self._unclaimed.append(Path(path).parent)
        if self._spawn.process is not None:  # else the spawning thread claims it as soon as the process exists
            self._claim_folders(self._spawn.process)
        self._send(StartEpisode(episode, str(path), settings, fragmented, backlog))

    def _claim_folders(self, process: subprocess.Popen) -> None:
        """Name ``process`` in the lock file of the episode folders it will encode (`workers.encoding_lock`).
        Called by the recording thread and by the spawning thread: ``list.pop`` hands each folder to one."""
        while self._unclaimed:
            with contextlib.suppress(IndexError):
                claim_episode_folder(self._unclaimed.pop(), process.pid)

    def ensure_ring(self, slot: SlotFormat, in_loop: bool = False) -> None:
        """Allocate the ring for frames stored as ``slot`` (no-op if it already fits). Between frames only.

        ``in_loop``: the recording loop may be running - allocate in microseconds and let the worker reserve
        the memory at its idle priority (`shm.prefault`).
        """
        shape, dtype = slot
        if self.ring.spec is not None and (self.ring.spec.slot_shape, self.ring.spec.dtype) == (shape, dtype):
            return
        spec = self.ring.allocate(self.capacity, shape, dtype, prefault=not in_loop)
        self._send(AttachRing(spec, reserve=in_loop))

    def offer(self, episode: int, index: int, array: np.ndarray, layout: Layout) -> bool:
        """Copy one frame into the ring and hand it to the worker; False if the ring is full (dropped)."""
        slot = self.ring.try_acquire()
        if slot is None:
            return False
        try:
            copy_frame(self.ring.slot(slot), array, layout)
        except BaseException:
            self.ring.give_back(slot)
            raise
        self.ring.publish(slot, episode, index)
        return True

    def finish(self, frames_fed: int, frames_published: int) -> int:
        """Ask the worker to complete the episode being recorded and return its number, for `collect`. The
        next episode may start at once: the worker encodes what this one still holds first."""
        episode = self._episode
        self._send(FinishEpisode(episode, frames_fed, frames_published))
        self._finishing.add(episode)
        self._episode = None
        return episode

    def collect(self, episode: int, timeout: float) -> EpisodeResult:
        """The finished ``episode``'s result, or raise `CameraEncoderError` naming the camera and the cause."""
        try:
            outcome = self._await_outcome(episode, timeout, while_encoding=True)
        finally:
            self._finishing.discard(episode)
        if isinstance(outcome, EpisodeFinished):
            return outcome.result
        if isinstance(outcome, EpisodeFailed):
            raise CameraEncoderError(self.camera, outcome.message, self.pid)
        if outcome is None and not self._lost:
            pid = self.pid
            self.kill()
            raise CameraEncoderError(
                self.camera,
                f"Encoder process for camera '{self.camera}' encoded nothing for {timeout:.0f} s while finishing the "
                "episode; it was stopped",
                pid,
            )
        raise WorkerDied(self.camera, self.failure or f"Encoder process for camera '{self.camera}' died", self.pid)

    def cancel(self, frames_published: int, timeout: float = CANCEL_ACK_S) -> None:
        """Abandon the episode being recorded; the worker deletes its partial file and returns every ring slot."""
        episode = self._episode
        if episode is None:
            return
        self._send(CancelEpisode(episode, frames_published))
        outcome = self._await_outcome(episode, timeout)
        if outcome is None and not self._lost:
            logger.warning(
                "camera %s: encoder did not acknowledge the cancel within %.0f s; stopping it", self.camera, timeout
            )
            self.kill()
        self._progress.pop(episode, None)
        self._episode = None

    # -- shutdown -----------------------------------------------------------------------------------------
    def kill(self) -> None:
        process = self.process
        if process is not None:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=KILL_REAP_S)
        self._mark_lost()

    def close(self, timeout: float = SHUTDOWN_S) -> None:
        """Stop the process and free the ring and pipes. Idempotent."""
        process = self.process
        if process is not None and process.returncode is None:
            self._send(Shutdown())
            try:
                process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                logger.warning("camera %s: encoder process did not exit; killing it", self.camera)
                self.kill()
        self._lost = True
        self.ring.close()
        for conn in (self._commands, self._events):
            conn.close()
