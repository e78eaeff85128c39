"""Runs in the encoder process: its command and frame loop (`EncoderWorker`), started by `workers.process_main`.

The loop answers the recorder's commands (`workers.protocol`), takes frames from the ring as fast as they are
published into each episode's pipeline (`workers.episode_pipeline`: backlog and encoding thread), completes the
episodes in order and streams progress back. When the recorder goes away - end-of-file or a broken pipe on any of
its pipes - it finishes every episode it still holds for salvage (`EncoderWorker._finish_for_salvage`).
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import time
import traceback
from multiprocessing.connection import Connection, wait

from shm import RingConsumer, SharedMemorySpaceError
from workers.backlog import MemoryAccount
from workers.encode import EpisodeEncoder
from workers.episode_pipeline import EncodingEpisode
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
)
from workers.scheduling import demote_all_threads

logger = logging.getLogger("workers.worker")

PROGRESS_INTERVAL_S = 0.5
#: How long a cancel/finish waits for frames that the recorder says it published.
_DRAIN_TIMEOUT_S = 10.0


def _return_freed_memory() -> None:
    """Hand memory the codec freed back to the OS between episodes.

    glibc keeps freed blocks in per-thread arenas; with a fresh encoder (and its threads) every episode, a
    long session would otherwise grow by the encoder's working set per episode.
    """
    with contextlib.suppress(AttributeError, OSError):  # not glibc (macOS, musl): nothing to do
        ctypes.CDLL(None).malloc_trim(0)


class _Episode:
    """An episode's bookkeeping against the recorder's commands; its frames go through `pipeline`."""

    def __init__(self, number: int, pipeline: EncodingEpisode):
        self.number = number
        self.pipeline = pipeline
        self.received = 0
        self.reported_frames = -1
        self.finish: FinishEpisode | None = None
        self.error: EpisodeFailed | None = None

    def all_frames_received(self) -> bool:
        return self.finish is not None and self.received >= self.finish.frames_published

    def ready_to_complete(self) -> bool:
        """Every published frame received and - unless the episode failed - its MP4 closed."""
        return self.all_frames_received() and (self.error is not None or self.pipeline.finished)

    def can_take_frame(self) -> bool:
        """A failed episode only gives frames back; a live one takes them while its backlog has room."""
        return self.error is not None or self.pipeline.can_take_frame()


class _RecorderGone(Exception):
    """The recorder closed its end of a pipe: it exited or was killed."""


class EncoderWorker:
    """The command/frame loop of one encoder process.

    ``episodes`` holds the episodes this process still has work for, oldest first: those the recorder has
    finished (it may already be recording the next) while their backlogs are encoded, then the one being
    recorded. Only the oldest live one encodes (`workers.episode_pipeline`); they complete in order.
    """

    def __init__(self, config: Configure, commands: Connection, events: Connection, ring: RingConsumer):
        self.config = config
        self.camera = config.camera
        self.commands = commands
        self.events = events
        self.ring = ring
        self.episodes: list[_Episode] = []
        #: The converted frames in memory over all episodes' backlogs, against one budget.
        self._memory = MemoryAccount()
        #: The encoding threads' wake-up pipe (`workers.episode_pipeline`): read end waited on, write end theirs.
        self._wake_read, self._wake_write = os.pipe()
        os.set_blocking(self._wake_write, False)
        self._last_progress = 0.0
        #: Why the current ring is unusable (it could not be reserved), until a new ring is attached.
        self._ring_error: BaseException | None = None

    # -- plumbing ---------------------------------------------------------------------------------------
    def _send(self, event: object) -> None:
        try:
            self.events.send(event)
        except (BrokenPipeError, EOFError, OSError) as exc:
            raise _RecorderGone from exc

    def _demote(self) -> None:
        demote_all_threads(self.config.priority)

    def _episode(self, number: int) -> _Episode | None:
        return next((episode for episode in self.episodes if episode.number == number), None)

    # -- main loop --------------------------------------------------------------------------------------
    def run(self) -> None:
        try:
            self._loop()
        except _RecorderGone:
            logger.info("camera %s: recorder went away; closing", self.camera)
            self._finish_for_salvage()
        finally:
            self.ring.close()

    def _finish_for_salvage(self) -> None:
        """The recorder died. This process outlives it and still holds frames - in its ring (the mapping stays
        valid after the recorder is gone) and in its episodes' backlogs: encode every one of them and close each
        MP4 properly, so that salvage (`lerobot_stream.recovery.salvage`, which waits for this process) finds
        them. A process killed too (a container stopped, the OOM killer) loses only what it held in memory: its
        fragmented MP4 still plays to its last complete fragment, and recovery encodes what its backlog had spilled
        to disk (`lerobot_stream.recorder.video_prefix`)."""
        try:
            while True:
                handoff = self.ring.receive(timeout=0)  # EOFError once the published frames are read
                if handoff is None:
                    break
                episode = self._episode(handoff.batch)
                if episode is not None and episode.error is None and episode.pipeline.error is None:
                    episode.received += 1
                    # Room is not waited for: the ring holds a second of frames at most.
                    episode.pipeline.add(handoff.seq, self.ring.view(handoff.slot), release=lambda: None)
        except (EOFError, OSError):
            pass
        except Exception as exc:
            logger.error("camera %s: %s while taking the last frames", self.camera, exc)
        for episode in self.episodes:
            self._finish_one_for_salvage(episode)
        self.episodes = []

    def _finish_one_for_salvage(self, episode: _Episode) -> None:
        pipeline = episode.pipeline
        try:
            if episode.error is None and pipeline.error is None:
                # The recorder's count of timesteps, if it finished the episode and every frame arrived.
                total = episode.finish.frames_fed if episode.all_frames_received() else None
                result = pipeline.finish(total_frames=total)
                logger.info("camera %s: %d frame(s) kept for salvage in %s", self.camera, result.frames, result.path)
                return
        except Exception as exc:
            logger.error("camera %s: could not finish the episode for salvage: %s", self.camera, exc)
        pipeline.close(delete=False)  # keep what was encoded: a fragmented MP4 plays to its last fragment

    def _settle(self) -> bool:
        """Report a failed encoding thread, complete the oldest episode when it is done, let the oldest live
        episode encode. True if something was reported (the loop looks again before waiting)."""
        for episode in self.episodes:
            if episode.error is None and episode.pipeline.error is not None:
                self._fail(episode, episode.pipeline.error)
                return True
            if episode.error is None and episode.all_frames_received() and not episode.pipeline.ending:
                episode.pipeline.end(total_frames=episode.finish.frames_fed)
        if self.episodes and self.episodes[0].ready_to_complete():
            self._complete_episode(self.episodes[0])
            return True
        live = next((episode for episode in self.episodes if episode.error is None), None)
        if live is not None:
            live.pipeline.open()
        return False

    def _loop(self) -> None:
        """Commands first, then frames waiting in the ring (taken as fast as they come, while the backlogs have
        room); the encoding threads encode meanwhile. Sleep until there is something to do."""
        ready_pipe = self.ring.ready_connection
        while True:
            if self._settle():
                continue
            if self.commands.poll():
                if not self._handle_command(self._receive_command()):
                    return
                continue
            taking = all(episode.can_take_frame() for episode in self.episodes if not episode.all_frames_received())
            sources = [self.commands, self._wake_read, *([ready_pipe] if taking else [])]
            readable = wait(sources, timeout=PROGRESS_INTERVAL_S)
            if self._wake_read in readable:
                os.read(self._wake_read, 4096)  # an encoding thread emptied its backlog, made room or failed
            if ready_pipe in readable and self.commands not in readable:
                self._on_frame()
            self._maybe_send_progress()

    def _receive_command(self) -> object:
        try:
            return self.commands.recv()
        except (EOFError, OSError) as exc:
            raise _RecorderGone from exc

    def _receive_frame(self, timeout: float | None):
        try:
            return self.ring.receive(timeout)
        except (EOFError, OSError) as exc:
            raise _RecorderGone from exc

    # -- commands ---------------------------------------------------------------------------------------
    def _handle_command(self, command: object) -> bool:
        """Apply one command; False means shut down."""
        if isinstance(command, AttachRing):
            try:
                self._ring_error = None
                self.ring.attach(command.spec, reserve=command.reserve)
            except SharedMemorySpaceError as exc:
                # Frames cannot be read from this ring: the episode being recorded fails, naming the cause.
                self._ring_error = exc
                if self.episodes and self.episodes[-1].finish is None:
                    self._fail(self.episodes[-1], exc)
            except FileNotFoundError:
                # The recorder replaced this ring (a new frame size or dtype) before we got to it; the
                # AttachRing for its successor is already in the pipe. Frames never refer to a replaced ring.
                logger.debug("camera %s: ring %s was replaced before attaching", self.camera, command.spec.segment_name)
        elif isinstance(command, StartEpisode):
            self._start_episode(command)
        elif isinstance(command, FinishEpisode):
            episode = self._episode(command.episode)
            if episode is not None and episode.finish is None:
                episode.finish = command
            else:
                self._send(EpisodeFailed(command.episode, f"camera {self.camera}: no such episode to finish"))
        elif isinstance(command, CancelEpisode):
            self._cancel(command)
        elif isinstance(command, Shutdown):
            # An episode the recorder ended but never collected (a writer dropped without finalize) is a saved
            # episode: finish it for salvage, as if the recorder had died. One it did not end is abandoned.
            for episode in self.episodes:
                if episode.finish is not None:
                    self._finish_one_for_salvage(episode)
                else:
                    episode.pipeline.close()
            self.episodes = []
            return False
        else:
            logger.warning("camera %s: ignoring unknown command %r", self.camera, command)
        return True

    def _start_episode(self, command: StartEpisode) -> None:
        if self.episodes and self.episodes[-1].finish is None:  # the recorder never does this; be safe anyway
            self.episodes.pop().pipeline.close()
        encoder = EpisodeEncoder(
            command.path, command.settings, fragmented=command.fragmented, on_codec_open=self._demote
        )
        # Gated while an earlier episode is still encoding (`_settle` opens it).
        pipeline = EncodingEpisode(encoder, command.backlog, self._wake_write, self._memory, gated=bool(self.episodes))
        episode = _Episode(command.episode, pipeline)
        self.episodes.append(episode)
        self._last_progress = time.monotonic()
        if self._ring_error is not None:
            self._fail(episode, self._ring_error)

    def _cancel(self, command: CancelEpisode) -> None:
        episode = self._episode(command.episode)
        if episode is not None:
            episode.pipeline.close()
            # Give back every slot the recorder published for this episode before acknowledging, so the
            # recorder's ring is whole again when it starts the next episode. Frames of an earlier episode still
            # in the ring before them go to their episode as usual.
            deadline = time.monotonic() + _DRAIN_TIMEOUT_S
            while episode.received < command.frames_published and time.monotonic() < deadline:
                handoff = self._receive_frame(timeout=max(0.0, deadline - time.monotonic()))
                if handoff is not None:
                    self._take(handoff, cancelled=episode)
            self.episodes.remove(episode)
            _return_freed_memory()
        self._send(EpisodeCancelled(command.episode))

    # -- frames -----------------------------------------------------------------------------------------
    def _on_frame(self) -> None:
        handoff = self._receive_frame(timeout=0)
        if handoff is not None:
            self._take(handoff)

    def _take(self, handoff, cancelled: _Episode | None = None) -> None:
        """Give the frame to its episode's pipeline, or its slot straight back (no such episode, a failed or
        ``cancelled`` one).

        Giving a slot back writes to the recorder. If the recorder died after this frame was published, that
        write fails: the recorder is gone, and the episode is not at fault - it keeps the frame (already
        converted) and is finished for salvage (`_RecorderGone`), never failed (failing deletes its MP4: a CI
        run lost an episode's camera that way)."""
        episode = self._episode(handoff.batch)
        if episode is not None:
            episode.received += 1
        gone: list[BaseException] = []

        def give_back() -> None:
            try:
                self.ring.release(handoff.slot)
            except (EOFError, OSError) as exc:
                gone.append(exc)

        if episode is None or episode.error is not None or episode is cancelled:
            give_back()
        else:
            try:
                episode.pipeline.add(handoff.seq, self.ring.view(handoff.slot), give_back)
            except Exception as exc:
                self._fail(episode, exc)
        if gone:
            raise _RecorderGone from gone[0]

    def _fail(self, episode: _Episode, exc: BaseException) -> None:
        message = f"camera {self.camera}: {type(exc).__name__}: {exc}"
        logger.error("%s", message)
        details = "".join(traceback.format_exception(exc))
        episode.error = EpisodeFailed(episode.number, message, details)
        episode.pipeline.close()
        self._send(episode.error)

    def _complete_episode(self, episode: _Episode) -> None:
        self.episodes.remove(episode)
        if episode.error is not None:
            self._send(episode.error)
            return
        try:
            result = episode.pipeline.result()
        except Exception as exc:
            self._fail(episode, exc)
            return
        finally:
            _return_freed_memory()  # also while the next episode runs: its frames are in other blocks
        self._send(EpisodeFinished(episode.number, result))

    def _maybe_send_progress(self) -> None:
        now = time.monotonic()
        if now - self._last_progress < PROGRESS_INTERVAL_S:
            return
        self._last_progress = now
        for episode in self.episodes:
            if episode.error is None:
                self._send_progress(episode)

    def _send_progress(self, episode: _Episode) -> None:
        encoder = episode.pipeline.encoder
        frames, size, on_disk = episode.pipeline.counts()
        mark = (encoder.frames_written, frames)
        if mark == episode.reported_frames:
            return  # nothing new: do not fill the pipe while the recorder is not feeding (and not reading)
        episode.reported_frames = mark
        histograms, _ = encoder.stats.snapshot()
        self._send(
            Progress(
                episode.number,
                encoder.frames_written,
                encoder.frames_repeated,
                histograms,
                encoder.health.flags(),
                backlog_frames=frames,
                backlog_bytes=size,
                backlog_disk_bytes=on_disk,
            )
        )
