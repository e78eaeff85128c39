"""`StreamingVideoEncoder`: LeRobot's streaming-encoder API on top of per-camera encoder processes.

Re-exported by `lerobot_stream.datasets.video_utils`, which is where LeRobot users import it from.

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
import collections
import contextlib
import logging
import os
import shutil
import tempfile
import threading
import time
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from lerobot_stream.configs.video import RGBEncoderConfig, depth_encoder_defaults, rgb_encoder_defaults
from shm import check_owner, in_owner
from workers.backends import EncoderBackend, ProcessBackend, ThreadBackend
from workers.camera_worker import LiveStatus
from workers.codecs import EncoderSettings, thread_bound
from workers.encode import EpisodeResult
from workers.errors import CameraEncoderError
from workers.frames import CHANNELS, SlotFormat, check_depth_frame, check_frame, depth_storage_dtype, slot_format
from workers.scheduling import PRIORITIES

logger = logging.getLogger(__name__)

BACKENDS = ("process", "thread")
#: At most one "queue full" warning per camera per this many seconds.
_DROP_WARNING_INTERVAL_S = 1.0

_live_encoders: weakref.WeakSet[StreamingVideoEncoder] = weakref.WeakSet()
_UNSET: Any = object()  # "not given", for v0.5 keywords whose None is meaningful


@atexit.register
def _close_live_encoders() -> None:
    for encoder in list(_live_encoders):
        with contextlib.suppress(Exception):
            encoder.close()


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


class EncodingFailed(RuntimeError):
    """``finish_episode`` could not complete every camera.

    ``errors`` maps each failed camera to its `CameraEncoderError` (camera, pid, cause), ``failures`` to the
    cause as text; ``results`` holds the cameras that did finish (their files are still on disk, the caller
    owns them).
    """

    def __init__(self, errors: dict[str, CameraEncoderError], results: dict[str, tuple[Path, dict | None]]):
        self.errors = errors
        self.failures = {camera: str(error) for camera, error in errors.items()}
        self.results = results
        failures = self.failures
        detail = "; ".join(f"{camera}: {cause}" for camera, cause in failures.items())
        super().__init__(f"Video encoding failed for {len(failures)} camera(s): {detail}")


def rgb_config_from_keywords(
    vcodec: str | None, pix_fmt: str | None = None, g: Any = _UNSET, crf: Any = _UNSET, preset: Any = _UNSET
) -> RGBEncoderConfig:
    """LeRobot v0.5's keyword settings as a config, validated as v0.5 validated them (codec name only)."""
    from lerobot_stream.datasets import video_utils  # the module attribute, so tests can patch it

    resolved = video_utils.resolve_vcodec(vcodec or "libsvtav1")
    return RGBEncoderConfig.unchecked(
        vcodec=resolved,
        pix_fmt=video_utils.compatible_pix_fmt(resolved, pix_fmt or "yuv420p"),
        g=2 if g is _UNSET else g,
        crf=30 if crf is _UNSET else crf,
        preset=None if preset is _UNSET else preset,
    )


def _check_positive_int(name: str, value: Any, allow_none: bool = False) -> None:
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive integer{' or None' if allow_none else ''}, got {value!r}")


def _mean_levels(histograms: np.ndarray | None) -> tuple[float, ...] | None:
    if histograms is None or not histograms.sum():
        return None
    levels = np.arange(histograms.shape[1])
    return tuple(float((row * levels).sum() / row.sum()) for row in histograms)


class StreamingVideoEncoder:
    """Encodes camera frames to MP4 while an episode is being recorded.

    Constructor, both of LeRobot's:

    * v0.6: ``StreamingVideoEncoder(fps, rgb_encoder=None, depth_encoder=None, queue_maxsize=30,
      encoder_threads=None)`` with encoder config objects (`lerobot_stream.configs.video`, or LeRobot's own
      ``lerobot.configs.video`` objects); depth cameras are named in ``start_episode(...,
      depth_video_keys=[...])``;
    * v0.5: ``StreamingVideoEncoder(fps, vcodec="libsvtav1", pix_fmt="yuv420p", g=2, crf=30, preset=None,
      queue_maxsize=30, encoder_threads=None)``, by keyword or positionally. These settings are not checked
      against FFmpeg here (as in v0.5): a bad one fails the camera's first frame with the codec's message.

    Extra keyword options:

    * ``backend``: ``"process"`` (default) or ``"thread"``;
    * ``worker_priority``: scheduling of the encoder processes, ``"idle"`` (default), ``"batch"`` or
      ``"normal"`` (see `workers.scheduling`);
    * ``fragmented``: write episode files as fragmented MP4 so a crash leaves a playable prefix
      (default True);
    * ``finish_timeout_s``: how long ``finish_episode`` waits for one camera (default 120 s);
    * ``bound_threads``: with ``encoder_threads=None``, give each encoder ``cores // streams`` threads
      (default True); False leaves the codec's own default, every core per encoder, as LeRobot does.
    """

    def __init__(
        self,
        fps: int,
        rgb_encoder: Any = None,
        depth_encoder: Any = None,
        queue_maxsize: int = 30,
        encoder_threads: int | None = None,
        *legacy_positional: Any,
        vcodec: str | None = None,
        pix_fmt: str | None = None,
        g: Any = _UNSET,
        crf: Any = _UNSET,
        preset: Any = _UNSET,
        backend: str = "process",
        worker_priority: str = "idle",
        fragmented: bool = True,
        finish_timeout_s: float = 120.0,
        bound_threads: bool = True,
    ):
        self._closed = True  # until fully constructed, so __del__ has nothing to do
        self._owner_pid = os.getpid()  # a forked child must not use or tear down these encoder processes
        if isinstance(rgb_encoder, str):  # v0.5 positional: vcodec, pix_fmt, g, crf, preset, queue_maxsize, threads
            legacy = (rgb_encoder, depth_encoder, queue_maxsize, encoder_threads, *legacy_positional)
            if len(legacy) > 7:
                raise TypeError(f"StreamingVideoEncoder takes at most 8 positional arguments, got {len(legacy) + 1}")
            names = ("vcodec", "pix_fmt", "g", "crf", "preset", "queue_maxsize", "encoder_threads")
            defaults = {"pix_fmt": "yuv420p", "g": 2, "crf": 30, "preset": None, "queue_maxsize": 30}
            values = {**defaults, **dict(zip(names, legacy, strict=False))}
            vcodec, pix_fmt, g, crf, preset = (values[n] for n in names[:5])
            queue_maxsize, encoder_threads = values["queue_maxsize"], values.get("encoder_threads")
            rgb_encoder = depth_encoder = None
        elif legacy_positional:
            raise TypeError("StreamingVideoEncoder takes at most 5 positional arguments with encoder configs")
        _check_positive_int("fps", fps)
        _check_positive_int("queue_maxsize", queue_maxsize)
        _check_positive_int("encoder_threads", encoder_threads, allow_none=True)
        if backend not in BACKENDS:
            raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
        if worker_priority not in PRIORITIES:
            raise ValueError(f"worker_priority must be one of {PRIORITIES}, got {worker_priority!r}")
        keyword_style = vcodec is not None or pix_fmt is not None or _UNSET not in (g, crf, preset)
        if keyword_style and rgb_encoder is not None:
            raise TypeError("Pass either rgb_encoder (LeRobot v0.6) or vcodec/pix_fmt/g/crf/preset (v0.5), not both")
        if keyword_style:
            rgb_encoder = rgb_config_from_keywords(vcodec, pix_fmt, g, crf, preset)
        self.fps = int(fps)
        self._rgb_encoder = rgb_encoder if rgb_encoder is not None else rgb_encoder_defaults()
        self._depth_encoder = depth_encoder if depth_encoder is not None else depth_encoder_defaults()
        # v0.5's attributes, mirroring the RGB settings.
        self.vcodec = self._rgb_encoder.vcodec
        self.pix_fmt = self._rgb_encoder.pix_fmt
        self.g, self.crf, self.preset = self._rgb_encoder.g, self._rgb_encoder.crf, self._rgb_encoder.preset
        self.queue_maxsize = int(queue_maxsize)
        #: What the caller passed (None stays None; the effective bound is in `settings_for`).
        self.encoder_threads = self._encoder_threads = encoder_threads
        self.backend = backend
        self.finish_timeout_s = finish_timeout_s
        self.bound_threads = bound_threads

        self._backend: EncoderBackend = (
            ProcessBackend(self.queue_maxsize, encoder_threads, priority=worker_priority, fragmented=fragmented)
            if backend == "process"
            else ThreadBackend(self.queue_maxsize, encoder_threads, fragmented=fragmented)
        )
        #: Per-camera encoder handles of the current episode (``.encoder_threads`` is the caller's value,
        #: ``.video_encoder`` the camera's config).
        self._threads: dict[str, Any] = {}
        self._video_paths: dict[str, Path] = {}
        self._depth_keys: set[str] = set()
        self._dropped_frames: dict[str, int] = {}
        self._frames_fed: dict[str, int] = {}
        self._slots: dict[str, SlotFormat | None] = {}
        self._camera_locks: collections.defaultdict[str, threading.Lock] = collections.defaultdict(threading.Lock)
        self._last_drop_warning: dict[str, float] = {}
        #: The results of the last finished episode, by camera (what `finish_results` returned).
        self.last_results: dict[str, EpisodeResult] = {}
        self._episode_number = 0
        self._episode_active = False
        self._closed = False
        _live_encoders.add(self)

    def _check_usable(self) -> None:
        check_owner(self._owner_pid, "StreamingVideoEncoder")
        if self._closed:
            raise RuntimeError("This StreamingVideoEncoder is closed; create a new one.")

    # -- settings -------------------------------------------------------------------------------------------
    def config_for(self, video_key: str) -> Any:
        """The encoder config of a camera of the current episode (the depth config for depth cameras)."""
        return self._depth_encoder if video_key in self._depth_keys else self._rgb_encoder

    def settings_for(self, video_key: str, num_streams: int | None = None) -> EncoderSettings:
        """How ``video_key`` is encoded, with the thread bound resolved for ``num_streams`` streams
        (default: the current episode's)."""
        streams = num_streams or max(1, len(self._video_paths))
        threads = thread_bound(self.encoder_threads, streams, self.bound_threads)
        return EncoderSettings.from_config(self.config_for(video_key), self.fps, threads)

    @property
    def encoder_settings(self) -> EncoderSettings:
        """The RGB cameras' settings for the current (or next single-camera) episode."""
        return EncoderSettings.from_config(self._rgb_encoder, self.fps, self.settings_for("").threads)

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
        slots = {key: self._slot_hint(key, key in depth, frame_shapes, depth_dtypes) for key in video_keys}
        self._backend.warm_up(list(video_keys), slots)

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
        self._depth_keys = set(depth_video_keys or ()) & set(keys)
        slots = {key: self._slot_hint(key, key in self._depth_keys, frame_shapes, depth_dtypes) for key in keys}
        temp_dir = Path(temp_dir)
        temp_dir.mkdir(parents=True, exist_ok=True)
        paths = {}
        try:
            for key in keys:
                directory = Path(tempfile.mkdtemp(dir=temp_dir))
                paths[key] = directory / f"{key.replace('/', '_')}_streaming.mp4"
            settings = {key: self.settings_for(key, len(keys)) for key in keys}
            self._episode_number += 1
            self._backend.start(self._episode_number, paths, settings, slots)
        except BaseException:
            for path in paths.values():
                shutil.rmtree(path.parent, ignore_errors=True)
            raise
        self._video_paths = paths
        self._threads = {key: self._backend.handle(key) for key in keys}
        for key, handle in self._threads.items():
            handle.video_encoder = self.config_for(key)
        self._dropped_frames = dict.fromkeys(keys, 0)
        self._frames_fed = dict.fromkeys(keys, 0)
        self._slots = slots
        self._last_drop_warning = {}
        self._episode_active = True

    @staticmethod
    def _slot_hint(
        key: str,
        depth: bool,
        frame_shapes: dict[str, tuple[int, ...]] | None,
        depth_dtypes: dict[str, Any] | None,
    ) -> SlotFormat | None:
        shape = (frame_shapes or {}).get(key)
        if shape is None:
            return None
        shape = tuple(int(d) for d in shape)
        if depth:
            if len(shape) == 3 and 1 in (shape[0], shape[-1]):
                shape = shape[:2] if shape[-1] == 1 else shape[1:]
            if len(shape) != 2:
                raise ValueError(f"Depth camera '{key}': frame_shapes must be (H, W) or (H, W, 1), got {shape}")
            dtype = np.dtype((depth_dtypes or {}).get(key, np.uint16))
            return shape, depth_storage_dtype(dtype).name
        if len(shape) == 3 and shape[-1] == CHANNELS:
            return (shape[0], shape[1], CHANNELS), "uint8"
        if len(shape) == 3 and shape[0] == CHANNELS:
            return (shape[1], shape[2], CHANNELS), "uint8"
        raise ValueError(f"Camera '{key}': frame_shapes must be (H, W, 3) or (3, H, W), got {shape}")

    def feed_frame(self, video_key: str, image: Any) -> None:
        """Hand one frame to ``video_key``'s encoder: validate, copy once, never wait for the encoder.

        Safe to call from several threads at once, for different cameras or the same one (as LeRobot's
        ``queue.Queue`` design is); ``start_episode``/``finish_episode``/``cancel_episode`` must not overlap it.
        """
        check_owner(self._owner_pid, "StreamingVideoEncoder")
        if not self._episode_active:
            raise RuntimeError("No active episode. Call start_episode() first.")
        if video_key not in self._video_paths:
            raise KeyError(f"Unknown camera key {video_key!r}: this episode records {sorted(self._video_paths)}")
        # One lock per camera: the frame's index, its copy into the ring and its publication happen together,
        # so frames reach the encoder in index order whichever thread feeds them (the ring's pipes and the
        # counters are not safe for concurrent use on their own). Cameras do not wait for each other.
        with self._camera_locks[video_key]:
            failure = self._backend.failure(video_key)
            if failure is not None:
                raise RuntimeError(failure)
            slot = self._slots[video_key]
            index = self._frames_fed[video_key]
            if video_key in self._depth_keys:
                expected_hw = slot[0] if slot is not None else None
                # The dtype hint may be a guess (uint16) until the first frame shows the unit.
                expected_dtype = np.dtype(slot[1]) if slot is not None and index > 0 else None
                array, layout = check_depth_frame(video_key, image, expected_hw, expected_dtype), "hw"
            else:
                array, layout = check_frame(video_key, image, slot[0][:2] if slot is not None else None)
            if slot is None or (index == 0 and slot != slot_format(array, layout)):
                slot = slot_format(array, layout)
                self._backend.prepare(video_key, slot)
                self._slots[video_key] = slot
            self._frames_fed[video_key] = index + 1
            if not self._backend.feed(video_key, index, array, layout):
                self._dropped_frames[video_key] += 1
                self._warn_dropped(video_key)

    def _frames_published(self) -> dict[str, int]:
        """Frames that went through each camera's buffer (the others were dropped) in this episode."""
        return {key: fed - self._dropped_frames[key] for key, fed in self._frames_fed.items()}

    def _warn_dropped(self, video_key: str) -> None:
        now = time.monotonic()
        if now - self._last_drop_warning.get(video_key, -np.inf) < _DROP_WARNING_INTERVAL_S:
            return
        self._last_drop_warning[video_key] = now
        logger.warning(
            "Encoder queue full for %s, dropped %d frame(s) so far this episode (each is filled by repeating "
            "the previous frame). The encoder cannot keep up: use fewer cameras, a faster preset or "
            "vcodec='auto' for hardware encoding, or increase encoder_queue_maxsize.",
            video_key,
            self._dropped_frames[video_key],
        )

    def finish_results(self) -> dict[str, EpisodeResult]:
        """Complete every camera's MP4 and return its full result: path, frame and repeat counts, statistics.

        Raises `EncodingFailed` (a ``RuntimeError``) if a camera failed; the episode is over either way.
        """
        check_owner(self._owner_pid, "StreamingVideoEncoder")
        if not self._episode_active:
            raise RuntimeError("No active episode to finish.")
        empty = [key for key, fed in self._frames_fed.items() if fed == 0]
        if empty:
            self.cancel_episode()
            raise RuntimeError(f"No frames were fed for camera(s) {empty} in this episode; nothing to finish.")
        outcomes = self._backend.finish(self._frames_fed, self._frames_published(), self.finish_timeout_s)
        self._episode_active = False
        results: dict[str, EpisodeResult] = {}
        errors: dict[str, CameraEncoderError] = {}
        for key, outcome in outcomes.items():
            if isinstance(outcome, EpisodeResult):
                results[key] = outcome
            else:
                errors[key] = outcome
                shutil.rmtree(self._video_paths[key].parent, ignore_errors=True)
        self.last_results = results
        self._log_summary(outcomes)
        self._threads = {}
        if errors:
            raise EncodingFailed(errors, {key: (r.path, r.stats) for key, r in results.items()})
        return results

    def finish_episode(self) -> dict[str, tuple[Path, dict | None]]:
        """LeRobot's call: complete every camera's MP4 and return ``{key: (mp4 path, stats)}`` (`finish_results`
        has the frame and repeat counts too).

        Stats hold per-channel ``min, max, mean, std, q01..q99`` in the 0-255 scale and ``count`` (frames).
        Raises `EncodingFailed` (a ``RuntimeError``) if a camera failed; the episode is over either way.
        """
        return {key: (result.path, result.stats) for key, result in self.finish_results().items()}

    def remove_episode_files(self) -> None:
        """Delete the last episode's temporary MP4s (and the folders this encoder made for them), once the
        caller has copied them where they belong. Not during an episode."""
        if self._episode_active:
            raise RuntimeError("remove_episode_files() during an episode; finish or cancel it first")
        for path in self._video_paths.values():
            shutil.rmtree(path.parent, ignore_errors=True)

    @property
    def dropped_frames(self) -> dict[str, int]:
        """Frames of the current (or last) episode that found the camera's buffer full, by camera; each one is
        in the video as a repeat of the frame before it (LeRobot's name for it: ``_dropped_frames``)."""
        return dict(self._dropped_frames)

    def _log_summary(self, outcomes: dict[str, EpisodeResult | Exception]) -> None:
        parts = []
        for key, outcome in outcomes.items():
            if isinstance(outcome, EpisodeResult):
                parts.append(f"{key}: {outcome.frames} frames, {outcome.repeated} repeated")
            else:
                parts.append(f"{key}: FAILED")
        dropped = sum(self._dropped_frames.values())
        level = (
            logging.WARNING
            if dropped or any(not isinstance(o, EpisodeResult) for o in outcomes.values())
            else logging.INFO
        )
        logger.log(level, "Episode %d finished (%s): %s", self._episode_number, self.backend, "; ".join(parts))

    def cancel_episode(self) -> None:
        """Abandon the current episode and delete its partial files; ready for the next ``start_episode``."""
        check_owner(self._owner_pid, "StreamingVideoEncoder")
        if not self._episode_active:
            return
        self._episode_active = False
        try:
            self._backend.cancel(self._frames_published())
        finally:
            for path in self._video_paths.values():
                shutil.rmtree(path.parent, ignore_errors=True)
            self._threads = {}

    # -- monitoring -----------------------------------------------------------------------------------------
    def live_status(self, video_key: str) -> LiveStatus:
        """Frames encoded/repeated so far (and, for processes, running histograms) for one camera."""
        with self._camera_locks[video_key]:
            return self._backend.live_status(video_key)

    def ring_fill(self, video_key: str) -> tuple[int, int]:
        """(frames waiting for the encoder, capacity) for one camera."""
        with self._camera_locks[video_key]:
            return self._backend.ring_fill(video_key)

    def status(self) -> dict[str, CameraStatus]:
        """What each camera of the current episode is doing right now - for a rig operator's display.

        Includes ``health``: what looks wrong with the camera (``frozen``, ``black``, ``saturated``,
        ``exposure jump``; see `workers.health`), checked by the encoder on every frame. The process backend
        also logs each flag once per episode as a warning naming the camera.
        """
        report = {}
        for key in self._video_paths if self._episode_active else ():
            live = self.live_status(key)
            in_flight, capacity = self.ring_fill(key)
            report[key] = CameraStatus(
                frames_fed=self._frames_fed.get(key, 0),
                frames_dropped=self._dropped_frames.get(key, 0),
                frames_encoded=live.frames_encoded,
                frames_repeated=live.frames_repeated,
                buffered=in_flight,
                capacity=capacity,
                health=live.health,
                mean_level=_mean_levels(live.histograms),
            )
        return report

    def worker_pids(self) -> dict[str, int]:
        """PIDs of the encoder processes (process backend; empty for threads)."""
        workers = getattr(self._backend, "workers", {})
        return {key: worker.pid for key, worker in workers.items()}

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
            self._backend.close()
            _live_encoders.discard(self)

    def __enter__(self) -> StreamingVideoEncoder:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self.close()

    def __del__(self) -> None:
        with contextlib.suppress(Exception):
            self.close()
