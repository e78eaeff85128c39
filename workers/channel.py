"""A camera channel: one camera's encoding, from ``offer(frame)`` to its `EpisodeResult`.

A channel owns everything about one camera that outlives a single call - its frame counters, the frame format
of its buffer, its episode file and the lifecycle of the encoder that drains it - so that the LeRobot-shaped
facade (`lerobot_stream.recorder.streaming_encoder`) holds one object per camera and no per-camera state.

`CameraChannel` is the common part: validation, counting, dropping and the episode's folder. Two subclasses
host the encoder:

* `workers.process_channel.ProcessChannel` (default): a long-lived encoder process fed through a shared-memory
  ring (`workers.process_handle.CameraWorker`);
* `workers.thread_channel.ThreadChannel`: LeRobot's design, an encoder thread per episode fed through a
  ``queue.Queue`` - the benchmark's baseline.

One episode on a channel: ``start`` -> ``offer`` per frame -> ``request_finish`` then ``collect`` (split so
that every camera of a rig finishes at once, and - on the process host - so that the next episode can start
while this one is still encoding), or ``cancel``. ``close`` stops the encoder for good.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from shm import check_shm_space
from workers.backlog import NO_BACKLOG, BacklogBudget
from workers.codecs import EncoderSettings
from workers.encode import EpisodeResult
from workers.errors import CameraEncoderError
from workers.frames import Layout, SlotFormat, check_depth_frame, check_frame, slot_format

logger = logging.getLogger(__name__)


@dataclass
class LiveStatus:
    """What the recorder knows about one camera's encoding right now (for progress displays)."""

    frames_encoded: int = 0
    frames_repeated: int = 0
    #: Running per-channel histograms of the episode so far (RGB; None for depth), as last streamed.
    histograms: np.ndarray | None = None
    #: What looks wrong with the camera right now (`workers.health`); empty when it looks healthy.
    health: tuple[str, ...] = ()
    #: Frames taken from the ring and not encoded yet (`workers.backlog`), their bytes, and those on disk.
    backlog_frames: int = 0
    backlog_bytes: int = 0
    backlog_disk_bytes: int = 0
    #: Frames encoded per second, measured between the last progress reports (None before two of them).
    encode_fps: float | None = None


@dataclass(frozen=True)
class CameraStatus:
    """One camera of the current episode, as `StreamingVideoEncoder.status` reports it."""

    frames_fed: int
    frames_dropped: int
    frames_encoded: int
    frames_repeated: int
    #: Frames waiting for the encoder, and how many the camera's buffer holds.
    buffered: int
    capacity: int
    #: What looks wrong with the camera (`workers.health.FLAGS`); empty when it looks healthy.
    health: tuple[str, ...] = ()
    #: Mean level of each colour channel over the episode so far (0-255), from the running statistics the
    #: encoder streams back; None for depth maps and before the first report.
    mean_level: tuple[float, ...] | None = None
    #: Frames the encoder process has taken from the buffer but not encoded yet (`workers.backlog`), their size
    #: in MB (of which on disk), and the seconds it needs to encode them at its measured rate (None: not known).
    backlog_frames: int = 0
    backlog_mb: float = 0.0
    backlog_disk_mb: float = 0.0
    backlog_seconds: float | None = None
    #: Frames per second the encoder encodes, over every episode it works on (None: not measured yet).
    encode_fps: float | None = None


@dataclass(frozen=True)
class FinishTicket:
    """A camera's episode that `CameraChannel.request_finish` ended and `CameraChannel.collect` has not
    collected yet: which it was, where its MP4 goes, how many timesteps it has."""

    camera: str
    episode: int
    path: Path
    frames_fed: int


def backlog_seconds(frames: int, encode_fps: float | None) -> float | None:
    """How long the encoder needs for ``frames`` at its measured rate (0 for none; None while unmeasured)."""
    if not frames:
        return 0.0
    return frames / encode_fps if encode_fps else None


def mean_levels(histograms: np.ndarray | None) -> tuple[float, ...] | None:
    """Per-channel mean level from running histograms (None when there are none yet)."""
    if histograms is None or not histograms.sum():
        return None
    levels = np.arange(histograms.shape[1])
    return tuple(float((row * levels).sum() / row.sum()) for row in histograms)


class CameraChannel:
    """One camera: validates and counts its frames, hands them to its encoder, owns its episode folder.

    Subclasses implement the hosting hooks (the ``_`` methods below and the optional preparation steps).
    ``offer`` is safe to call from several threads at once; the episode calls (``start``, ``result``,
    ``cancel``) must not overlap it.
    """

    def __init__(self, camera: str, capacity: int, encoder_threads: int | None):
        self.camera = camera
        #: Frames the camera's buffer holds (LeRobot's ``queue_maxsize``).
        self.capacity = capacity
        #: What the caller passed (None stays None; each episode's settings hold the effective bound).
        self.encoder_threads = encoder_threads
        #: The encoder config of the current episode, as the caller gave it (LeRobot v0.6's attribute).
        self.video_encoder: Any = None
        self.depth = False
        #: The current (or last) episode's number and MP4 (in a folder of its own).
        self.episode = 0
        self.path: Path | None = None
        #: The format of this camera's buffer slots, once known (from a hint or the first frame).
        self.slot: SlotFormat | None = None
        self.frames_fed = 0
        self.frames_dropped = 0
        self.active = False
        # The frame's index, its copy and its publication happen together under this lock, so frames reach
        # the encoder in index order whichever thread feeds them.
        self._lock = threading.Lock()
        self._warned_drop = False
        #: The last frame dropped while none of the episode was published (see `_publish_one_frame`).
        self._unpublished: tuple[int, np.ndarray, Layout] | None = None

    # -- hosting hooks (subclasses) ----------------------------------------------------------------------
    @property
    def pid(self) -> int | None:
        """The encoder process, if the encoder runs in one."""
        return None

    def spawn(self) -> None:
        """Start the encoder if it is not running (without waiting for it)."""

    def wait_ready(self) -> None:
        """Block until the encoder started by `spawn` runs, or raise `CameraEncoderError`."""

    def ring_bytes_needed(self, slot: SlotFormat) -> int:
        """Shared memory that frames of format ``slot`` would newly need (0: none, or already there)."""
        return 0

    def prepare(self, slot: SlotFormat, in_loop: bool) -> None:
        """Make the buffer fit frames of format ``slot``; ``in_loop``: the recording loop may be running."""

    def _begin(self, episode: int, path: Path, settings: EncoderSettings, backlog: BacklogBudget) -> None:
        raise NotImplementedError

    def _failure(self) -> str | None:
        """Why the episode cannot complete on this camera, if it cannot."""
        raise NotImplementedError

    def _publish(self, index: int, array: np.ndarray, layout: Layout) -> bool:
        """Copy the frame into the buffer for the encoder; False if the buffer is full."""
        raise NotImplementedError

    def _request_finish(self) -> None:
        """Ask the encoder to complete the episode (`_collect` waits for it)."""

    def _collect(self, ticket: FinishTicket, timeout: float) -> EpisodeResult:
        raise NotImplementedError

    def _abandon(self) -> None:
        raise NotImplementedError

    def _live(self) -> LiveStatus:
        raise NotImplementedError

    def _buffered(self) -> int:
        raise NotImplementedError

    def close(self) -> None:
        """Stop the encoder and free what it holds. Idempotent."""

    # -- one episode -------------------------------------------------------------------------------------
    @property
    def frames_published(self) -> int:
        """Frames that went through the buffer this episode (the others were dropped)."""
        return self.frames_fed - self.frames_dropped

    def start(
        self,
        episode: int,
        temp_dir: Path,
        settings: EncoderSettings,
        config: Any,
        slot: SlotFormat | None,
        backlog: BacklogBudget = NO_BACKLOG,
    ) -> None:
        """Begin ``episode``: the MP4 goes in a new folder under ``temp_dir``; ``slot`` is the format hint,
        ``backlog`` what the encoder may hold back while it is behind (`workers.backlog`)."""
        folder = Path(tempfile.mkdtemp(dir=temp_dir))
        path = folder / f"{self.camera.replace('/', '_')}_streaming.mp4"
        try:
            self._begin(episode, path, settings, backlog)
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        self.episode, self.path, self.video_encoder, self.depth = episode, path, config, settings.is_depth
        self.slot = slot
        self.frames_fed = self.frames_dropped = 0
        self._warned_drop = False
        self.active = True

    def offer(self, image: Any) -> bool:
        """Validate one frame, copy it once into the buffer and return; False if it was dropped (buffer full).

        Raises ``ValueError`` for a bad frame (naming the camera, what was expected and what was received) and
        `CameraEncoderError` when the encoder has failed - in the caller, before anything is copied.
        """
        with self._lock:
            failure = self._failure()
            if failure is not None:
                raise CameraEncoderError(self.camera, failure, self.pid)
            slot, index = self.slot, self.frames_fed
            if self.depth:
                # The dtype hint may be a guess (uint16) until the first frame shows the unit.
                expected_dtype = np.dtype(slot[1]) if slot is not None and index > 0 else None
                array = check_depth_frame(self.camera, image, slot[0] if slot else None, expected_dtype)
                layout: Layout = "hw"
            else:
                array, layout = check_frame(self.camera, image, slot[0][:2] if slot is not None else None)
            if slot is None or (index == 0 and slot != slot_format(array, layout)):
                self.slot = slot_format(array, layout)
                self.prepare(self.slot, in_loop=True)
            self.frames_fed = index + 1
            if self._publish(index, array, layout):
                return True
            self.frames_dropped += 1
            if self.frames_dropped == self.frames_fed:  # nothing of the episode reached the encoder yet
                self._unpublished = (index, np.array(array, copy=True), layout)
            self._warn_dropped()
            return False

    def _publish_one_frame(self, timeout: float = 5.0) -> None:
        """An episode whose every frame found the buffer full (a burst into an encoder still busy with the last
        episode) would have no picture to repeat: publish its last frame, waiting for room this once - at the
        end of the episode, not in the recording loop - so the video repeats a real frame of the episode."""
        if self._unpublished is None or self.frames_published:
            return
        index, array, layout = self._unpublished
        deadline = time.monotonic() + timeout
        while not self._publish(index, array, layout):
            if time.monotonic() > deadline or self._failure() is not None:
                return
            time.sleep(0.002)
        self.frames_dropped -= 1

    def _warn_dropped(self) -> None:
        """One warning when the camera starts losing frames in an episode - not one per frame or per second: the
        count goes on in `status()`, and the dataset sums it up when the episode is saved."""
        if self._warned_drop:
            return
        self._warned_drop = True
        logger.warning(
            "camera %s: its encoder process is not taking frames as fast as they come (its ring of %d frames is "
            "full: its backlog is full, or the machine is overloaded); for the rest of this episode a frame that "
            "finds the ring full is repeated in the video and counted. Use fewer cameras, a faster preset, "
            "vcodec='auto' (hardware), or a larger backlog_memory_mb.",
            self.camera,
            self.capacity,
        )

    def request_finish(self) -> FinishTicket:
        """Ask the encoder to complete the episode now; `collect` collects it."""
        with self._lock:
            self._publish_one_frame()
            self._unpublished = None
        self.active = False
        ticket = FinishTicket(self.camera, self.episode, self.path, self.frames_fed)
        self._request_finish()
        return ticket

    def collect(self, ticket: FinishTicket, timeout: float) -> EpisodeResult:
        """The finished episode, or raise `CameraEncoderError` (what the encoder wrote is left in place: an
        encoder that died leaves a playable prefix; `remove_episode_folder` deletes it)."""
        return self._collect(ticket, timeout)

    def cancel(self) -> None:
        """Abandon the episode and delete its files."""
        if not self.active:
            return
        self.active = False
        try:
            self._abandon()
        finally:
            self.remove_files()

    def remove_files(self) -> None:
        """Delete the episode's folder (once its MP4 has been copied where it belongs)."""
        remove_episode_folder(self.path)

    def status(self) -> CameraStatus:
        """What the camera is doing right now."""
        with self._lock:
            live, buffered = self._live(), self._buffered()
        return CameraStatus(
            frames_fed=self.frames_fed,
            frames_dropped=self.frames_dropped,
            frames_encoded=live.frames_encoded,
            frames_repeated=live.frames_repeated,
            buffered=buffered,
            capacity=self.capacity,
            health=live.health,
            mean_level=mean_levels(live.histograms),
            backlog_frames=live.backlog_frames,
            backlog_mb=live.backlog_bytes / 1e6,
            backlog_disk_mb=live.backlog_disk_bytes / 1e6,
            backlog_seconds=backlog_seconds(live.backlog_frames, live.encode_fps),
            encode_fps=live.encode_fps,
        )


def remove_episode_folder(path: Path | None) -> None:
    """Delete the folder an episode's MP4 was made in (`CameraChannel.start`), with whatever is in it."""
    if path is not None:
        shutil.rmtree(path.parent, ignore_errors=True)


def prepare_channels(channels: list[CameraChannel], slots: list[SlotFormat | None], wait: bool) -> None:
    """Have every channel's encoder starting (and, with ``wait``, running) and its buffer fit its slot.

    Encoders are all started before any is awaited, so they start in parallel. The shared memory of every
    buffer still to allocate is checked at once, so a rig too big for ``/dev/shm`` fails before any
    recording with one message rather than on its last camera. Without ``wait`` (the recording loop is
    running) nothing here blocks: allocation takes microseconds and the encoders reserve the memory.
    """
    for channel in channels:
        channel.spawn()
    if wait:
        for channel in channels:
            channel.wait_ready()
    needed = [(c, slot) for c, slot in zip(channels, slots, strict=True) if slot and c.ring_bytes_needed(slot)]
    if needed:
        total = sum(channel.ring_bytes_needed(slot) for channel, slot in needed)
        capacity = needed[0][0].capacity
        check_shm_space(total, f"The frame rings of {len(needed)} camera(s) ({capacity} frames each)")
        for channel, slot in needed:
            channel.prepare(slot, in_loop=not wait)
