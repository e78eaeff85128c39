"""`EncoderService`: the streaming encoder - one encoder per camera, a process (or a thread) fed through a
shared-memory ring - behind LeRobot's streaming-encoder methods. LeRobot's class, ``StreamingVideoEncoder``
with both of LeRobot's constructors, is `lerobot_stream.datasets.video_utils.StreamingVideoEncoder` over it.

What differs from LeRobot's thread-based class, by design:

* ``feed_frame`` validates the frame (clear ``ValueError``/``KeyError`` in the caller), copies it once
  into the camera's shared-memory ring and returns; it never waits for the encoder.
* A frame that finds the ring full is dropped *and* its place in the video is filled by repeating the
  previous frame, so every MP4 has exactly one frame per ``feed_frame`` call. ``_dropped_frames[key]``
  counts them and ``finish_episode`` logs one summary line.
* Encoder processes start once (at the first ``start_episode`` of a camera, or at ``warm_up``) and are
  reused; a process that dies is reported by the next call naming the camera and the cause, and replaced
  at the next ``start_episode``. ``start_episode`` does not wait for a new process to be running: it
  starts at idle priority (before its interpreter does) while the first frames already queue in its ring,
  so LeRobot's call sequence - ``start_episode`` inside the first ``add_frame``, no ``warm_up`` - does not
  stall the loop. A ring whose frame size is first seen in the loop is created in microseconds and its
  memory reserved by the encoder process (`shm.prefault`).
* Statistics are exact and computed in floating point; ``count`` is a number of frames.

``backend="thread"`` selects LeRobot's design (one in-process encoder thread per camera) with the same
behaviour otherwise.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import logging
import os
import weakref
from pathlib import Path
from typing import Any

import numpy as np

from lerobot_stream.configs.video import depth_encoder_defaults, rgb_encoder_defaults
from shm import check_owner, in_owner
from workers.backlog import NO_BACKLOG, BacklogBudget, backlog_budget
from workers.channel import CameraChannel, CameraStatus, prepare_channels
from workers.codecs import EncoderSettings, resolve_settings
from workers.encode import EpisodeResult
from workers.errors import EncodingFailed
from workers.finishing import FinishingEpisode
from workers.frames import SlotFormat, slot_from_shape
from workers.process_channel import ProcessChannel
from workers.scheduling import PRIORITIES
from workers.stop_policy import FINISH_STALL_S
from workers.thread_channel import ThreadChannel

logger = logging.getLogger(__name__)

BACKENDS = ("process", "thread")

_live_encoders: weakref.WeakSet[EncoderService] = weakref.WeakSet()


def _check_positive_int(name: str, value: Any, allow_none: bool = False) -> None:
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive integer{' or None' if allow_none else ''}, got {value!r}")


@atexit.register
def _close_live_encoders() -> None:
    for encoder in list(_live_encoders):
        with contextlib.suppress(Exception):
            encoder.close()


def _slot_hint(
    key: str, depth: bool, frame_shapes: dict[str, tuple[int, ...]] | None, depth_dtypes: dict[str, Any] | None
) -> SlotFormat | None:
    shape = (frame_shapes or {}).get(key)
    if shape is None:
        return None
    return slot_from_shape(key, shape, depth, (depth_dtypes or {}).get(key, np.uint16))


class EncoderService:
    """Encodes camera frames to MP4 while an episode is being recorded.

    ``rgb_encoder``/``depth_encoder`` are encoder config objects (`lerobot_stream.configs.video`, or LeRobot's
    own; None: LeRobot's defaults); depth cameras are named in ``start_episode(..., depth_video_keys=[...])``.
    ``queue_maxsize`` is each camera's ring (frames), ``encoder_threads`` each encoder's thread bound (None: see
    ``bound_threads``). Also:

    * ``backend``: ``"process"`` (default) or ``"thread"``;
    * ``worker_priority``: scheduling of the encoder processes, ``"idle"`` (default), ``"batch"`` or
      ``"normal"`` (see `workers.scheduling`);
    * ``fragmented``: write episode files as fragmented MP4 so a crash leaves a playable prefix
      (default True);
    * ``finish_timeout_s``: how long ``finish_episode`` waits for a camera whose encoder makes no progress
      (default 120 s; an encoder working through its backlog is waited for as long as it encodes);
    * ``bound_threads``: with ``encoder_threads=None``, give each encoder ``cores // streams`` threads
      (default True); False leaves the codec's own default, every core per encoder, as LeRobot does;
    * ``backlog_memory_mb``/``backlog_disk_reserve_mb``: `set_backlog_budget`.
    """

    def __init__(
        self,
        fps: int,
        rgb_encoder: Any = None,
        depth_encoder: Any = None,
        queue_maxsize: int = 30,
        encoder_threads: int | None = None,
        *,
        backend: str = "process",
        worker_priority: str = "idle",
        fragmented: bool = True,
        finish_timeout_s: float = FINISH_STALL_S,
        bound_threads: bool = True,
        backlog_memory_mb: float | None = None,
        backlog_disk_reserve_mb: float | None = None,
    ):
        self._closed = True  # until fully constructed, so __del__ has nothing to do
        self._owner_pid = os.getpid()  # a forked child must not use or tear down these encoder processes
        _check_positive_int("fps", fps)
        _check_positive_int("queue_maxsize", queue_maxsize)
        _check_positive_int("encoder_threads", encoder_threads, allow_none=True)
        if backend not in BACKENDS:
            raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
        if worker_priority not in PRIORITIES:
            raise ValueError(f"worker_priority must be one of {PRIORITIES}, got {worker_priority!r}")
        self.fps = int(fps)
        self._rgb_encoder = rgb_encoder if rgb_encoder is not None else rgb_encoder_defaults()
        self._depth_encoder = depth_encoder if depth_encoder is not None else depth_encoder_defaults()
        self.queue_maxsize = int(queue_maxsize)
        #: What the caller passed (None stays None; the effective bound is in `settings_for`).
        self.encoder_threads = self._encoder_threads = encoder_threads
        self.backend = backend
        self.finish_timeout_s = finish_timeout_s
        self.bound_threads = bound_threads
        self.set_backlog_budget(backlog_memory_mb, backlog_disk_reserve_mb)
        #: The budget of each camera in the current (or last) episode.
        self.backlog_budget: BacklogBudget = NO_BACKLOG

        # One channel per camera ever recorded: a process channel keeps its encoder across episodes.
        if backend == "process":
            self._new_channel = functools.partial(ProcessChannel, priority=worker_priority, fragmented=fragmented)
        else:
            self._new_channel = functools.partial(ThreadChannel, fragmented=fragmented)
        self._channels: dict[str, CameraChannel] = {}
        #: The cameras of the current (or last) episode.
        self._episode_keys: list[str] = []
        #: The results of the last finished episode, by camera (what `finish_results` returned).
        self.last_results: dict[str, EpisodeResult] = {}
        #: The last episode ended (`end_episode`), collected or not.
        self._last_finished: FinishingEpisode | None = None
        self._episode_number = 0
        self._episode_active = False
        self._closed = False
        _live_encoders.add(self)

    def set_backlog_budget(self, memory_mb: float | None, disk_reserve_mb: float | None) -> None:
        """What the encoder processes may hold back while they are behind, from the next episode on
        (`workers.backlog`): ``memory_mb`` of converted frames in memory for all cameras together, then frames on
        disk while it keeps ``disk_reserve_mb`` free (``inf``: never spill); None: the defaults."""
        for name, value in (("backlog_memory_mb", memory_mb), ("backlog_disk_reserve_mb", disk_reserve_mb)):
            if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0):
                raise ValueError(f"{name} must be a number of MB >= 0 (or None for the default), got {value!r}")
        self.backlog_memory_mb, self.backlog_disk_reserve_mb = memory_mb, disk_reserve_mb

    def _check_usable(self) -> None:
        check_owner(self._owner_pid, "streaming encoder")
        if self._closed:
            raise RuntimeError("This streaming encoder is closed; create a new one.")

    # -- settings -------------------------------------------------------------------------------------------
    def config_for(self, video_key: str) -> Any:
        """The encoder config of a camera of the current episode (the depth config for depth cameras)."""
        channel = self._channels.get(video_key)
        depth = channel is not None and channel.depth and video_key in self._episode_keys
        return self._depth_encoder if depth else self._rgb_encoder

    def settings_for(self, video_key: str, num_streams: int | None = None) -> EncoderSettings:
        """How ``video_key`` is encoded, with the thread bound resolved for ``num_streams`` streams
        (default: the current episode's)."""
        streams = num_streams or max(1, len(self._episode_keys))
        return self._settings(self.config_for(video_key), streams)

    def _settings(self, config: Any, streams: int) -> EncoderSettings:
        return resolve_settings(config, self.fps, self.encoder_threads, streams, self.bound_threads)

    @property
    def encoder_settings(self) -> EncoderSettings:
        """The RGB cameras' settings for the current (or next single-camera) episode."""
        return self._settings(self._rgb_encoder, max(1, len(self._episode_keys)))

    def warm_up(
        self,
        video_keys: list[str],
        frame_shapes: dict[str, tuple[int, ...]] | None = None,
        depth_video_keys: list[str] | None = None,
        depth_dtypes: dict[str, Any] | None = None,
    ) -> None:
        """Start the cameras' encoder processes (and allocate their rings) before the first episode, so
        that the first ``start_episode`` costs what every other one does. Optional."""
        self._check_usable()
        depth = set(depth_video_keys or ()) & set(video_keys)
        slots = [_slot_hint(key, key in depth, frame_shapes, depth_dtypes) for key in video_keys]
        prepare_channels([self._channel(key) for key in video_keys], slots, wait=True)

    def _channel(self, key: str) -> CameraChannel:
        if key not in self._channels:
            self._channels[key] = self._new_channel(key, self.queue_maxsize, self.encoder_threads)
        return self._channels[key]

    # -- episode lifecycle ----------------------------------------------------------------------------------
    def start_episode(
        self,
        video_keys: list[str],
        temp_dir: Path,
        depth_video_keys: list[str] | None = None,
        *,
        frame_shapes: dict[str, tuple[int, ...]] | None = None,
        depth_dtypes: dict[str, Any] | None = None,
    ) -> None:
        """Begin an episode for ``video_keys``; each camera's MP4 goes in a new directory under ``temp_dir``.

        ``depth_video_keys`` names the depth cameras (keys not in ``video_keys`` are ignored, as in
        LeRobot). Optional hints let the frame rings be allocated - and ``/dev/shm`` be checked - now
        rather than on each camera's first frame: ``frame_shapes`` (``key -> (H, W, 3)``/``(3, H, W)``, for
        depth ``(H, W)``/``(H, W, 1)``) and ``depth_dtypes`` (``key -> uint16 | float32``; default uint16).
        """
        self._check_usable()
        keys = list(video_keys)
        if not keys or not all(isinstance(k, str) and k for k in keys) or len(set(keys)) != len(keys):
            raise ValueError(f"video_keys must be a non-empty list of distinct camera names, got {video_keys!r}")
        if self._episode_active:
            self.cancel_episode()
        depth = set(depth_video_keys or ()) & set(keys)
        slots = [_slot_hint(key, key in depth, frame_shapes, depth_dtypes) for key in keys]
        channels = [self._channel(key) for key in keys]
        temp_dir = Path(temp_dir)
        temp_dir.mkdir(parents=True, exist_ok=True)
        # No waiting: a new encoder process imports PyAV while the first frames already queue in its ring.
        prepare_channels(channels, slots, wait=False)
        self._episode_number += 1
        self._episode_keys = []
        started: list[CameraChannel] = []
        budget = backlog_budget(len(keys), temp_dir, self.backlog_memory_mb, self.backlog_disk_reserve_mb)
        self.backlog_budget = budget
        try:
            for channel, slot in zip(channels, slots, strict=True):
                config = self._depth_encoder if channel.camera in depth else self._rgb_encoder
                settings = self._settings(config, len(keys))
                channel.start(self._episode_number, temp_dir, settings, config, slot, budget)
                started.append(channel)
        except BaseException:
            for channel in started:
                channel.cancel()
            raise
        self._episode_keys = keys
        self._episode_active = True

    def feed_frame(self, video_key: str, image: Any) -> None:
        """Hand one frame to ``video_key``'s encoder: validate, copy once, never wait for the encoder.

        Safe to call from several threads at once, for different cameras or the same one (as LeRobot's
        ``queue.Queue`` design is); ``start_episode``/``finish_episode``/``cancel_episode`` must not overlap it.
        A frame that finds the camera's buffer full is dropped and counted (`dropped_frames`).
        """
        check_owner(self._owner_pid, "streaming encoder")
        if not self._episode_active:
            raise RuntimeError("No active episode. Call start_episode() first.")
        channel = self._channels.get(video_key)
        if channel is None or not channel.active:  # a camera of an earlier episode is inactive
            raise KeyError(f"Unknown camera key {video_key!r}: this episode records {sorted(self._episode_keys)}")
        channel.offer(image)

    def _episode_channels(self) -> dict[str, CameraChannel]:
        return {key: self._channels[key] for key in self._episode_keys}

    # LeRobot's private names, read by its tests and tools: the episode's per-camera encoders (``_threads``,
    # each with ``video_encoder`` and ``encoder_threads``), their files and their dropped-frame counts.
    @property
    def _threads(self) -> dict[str, CameraChannel]:
        return self._episode_channels() if self._episode_active else {}

    @property
    def _video_paths(self) -> dict[str, Path]:
        return {key: channel.path for key, channel in self._episode_channels().items() if channel.path is not None}

    @property
    def _dropped_frames(self) -> dict[str, int]:
        return {key: channel.frames_dropped for key, channel in self._episode_channels().items()}

    def end_episode(self) -> FinishingEpisode:
        """End the episode without waiting for its videos: every camera is told the episode is over, and the
        next ``start_episode`` may follow at once while an encoder that is behind still encodes this one's
        backlog. Collect the videos with the returned handle's ``results()``. The thread backend (LeRobot's
        design) finishes the episode here, before returning."""
        check_owner(self._owner_pid, "streaming encoder")
        if not self._episode_active:
            raise RuntimeError("No active episode to finish.")
        channels = self._episode_channels()
        empty = [key for key, channel in channels.items() if channel.frames_fed == 0]
        if empty:
            self.cancel_episode()
            raise RuntimeError(f"No frames were fed for camera(s) {empty} in this episode; nothing to finish.")
        self._episode_active = False
        tickets = [(channel, channel.request_finish()) for channel in channels.values()]  # every camera at once
        dropped = {key: channel.frames_dropped for key, channel in channels.items()}
        finishing = FinishingEpisode(self._episode_number, tickets, dropped, self.finish_timeout_s, self.backend)
        self._last_finished = finishing
        if self.backend == "thread":
            with contextlib.suppress(EncodingFailed):  # raised again by results()
                finishing.results()
        return finishing

    def finish_results(self) -> dict[str, EpisodeResult]:
        """Complete every camera's MP4 and return its full result: path, frame and repeat counts, statistics.

        Raises `EncodingFailed` (a ``RuntimeError``) if a camera failed; the episode is over either way.
        """
        finishing = self.end_episode()
        try:
            results = finishing.results()
        except EncodingFailed:
            self.last_results = {}
            finishing.remove_files(failed_only=True)  # the caller owns the files of the cameras that finished
            raise
        self.last_results = results
        return results

    def finish_episode(self) -> dict[str, tuple[Path, dict | None]]:
        """LeRobot's call: complete every camera's MP4 and return ``{key: (mp4 path, stats)}`` (`finish_results`
        has the frame and repeat counts too).

        Stats hold per-channel ``min, max, mean, std, q01..q99`` in the 0-255 scale and ``count`` (frames).
        Raises `EncodingFailed` (a ``RuntimeError``) if a camera failed; the episode is over either way.
        """
        return {key: (result.path, result.stats) for key, result in self.finish_results().items()}

    def remove_episode_files(self) -> None:
        """Delete the last ended episode's temporary MP4s (and the folders this encoder made for them), once the
        caller has copied them where they belong. Not during an episode."""
        if self._episode_active:
            raise RuntimeError("remove_episode_files() during an episode; finish or cancel it first")
        if self._last_finished is not None:
            self._last_finished.remove_files()

    @property
    def dropped_frames(self) -> dict[str, int]:
        """Frames of the current (or last) episode that found the camera's buffer full, by camera; each one is
        in the video as a repeat of the frame before it (LeRobot's name for it: ``_dropped_frames``)."""
        return self._dropped_frames

    def cancel_episode(self) -> None:
        """Abandon the current episode and delete its partial files; ready for the next ``start_episode``."""
        check_owner(self._owner_pid, "streaming encoder")
        if not self._episode_active:
            return
        self._episode_active = False
        errors = []
        for channel in self._episode_channels().values():
            try:
                channel.cancel()
            except Exception as exc:  # the other cameras are cancelled all the same
                errors.append(exc)
        if errors:
            raise errors[0]

    # -- monitoring -----------------------------------------------------------------------------------------
    def status(self) -> dict[str, CameraStatus]:
        """What each camera of the current episode is doing right now - for a rig operator's display.

        Includes ``health``: what looks wrong with the camera (``frozen``, ``black``, ``saturated``,
        ``exposure jump``; see `workers.health`), checked by the encoder on every frame. The process backend
        also logs each flag once per episode as a warning naming the camera.
        """
        return {key: channel.status() for key, channel in self._threads.items()}

    def encoding_status(self) -> dict[str, CameraStatus]:
        """Every camera this encoder has recorded, between episodes too: what its encoder still holds of the
        episodes it has ended (``backlog_*``), and the rate it encodes at."""
        return {key: channel.status() for key, channel in self._channels.items()}

    def worker_pids(self) -> dict[str, int]:
        """PIDs of the encoder processes (process backend; empty for threads)."""
        pids = {key: channel.pid for key, channel in self._channels.items()}
        return {key: pid for key, pid in pids.items() if pid is not None}

    # -- teardown -------------------------------------------------------------------------------------------
    def close(self) -> None:
        """Cancel any unfinished episode, stop the encoders and free every resource. Idempotent.

        In another process than the one that created the encoder (a forked child) this does nothing: the
        encoder processes, rings and files are the parent's.
        """
        if self._closed or not in_owner(self._owner_pid):
            return
        self._closed = True
        try:
            self.cancel_episode()
        finally:
            for channel in self._channels.values():
                with contextlib.suppress(Exception):  # one camera's failure must not leak the others
                    channel.close()  # kept: its counters still describe the last episode
            _live_encoders.discard(self)

    def __enter__(self) -> EncoderService:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self.close()

    def __del__(self) -> None:
        with contextlib.suppress(Exception):
            self.close()
