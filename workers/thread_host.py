"""The in-process host of the encode core: one thread per camera fed by a ``queue.Queue``.

This is LeRobot's original design, kept for API compatibility (``_CameraEncoderThread``), for users who
cannot start subprocesses, and as the baseline the benchmarks compare against. It runs exactly the same
encode core as the encoder processes (`workers.encode.EpisodeEncoder`).

Queue items: a frame (numpy HWC/CHW, uint8 or float in [0, 1], PIL image) takes the next index; an
`IndexedFrame` carries its index, so the core can fill frames the producer dropped; ``None`` or
`EndOfEpisode` ends the episode (the latter pads trailing drops up to its frame total).
"""

from __future__ import annotations

import logging
import queue
import threading
from pathlib import Path
from typing import Any, NamedTuple

from workers.codecs import EncoderSettings
from workers.encode import EpisodeEncoder, EpisodeResult
from workers.frames import to_depth_map, to_hwc_uint8

logger = logging.getLogger(__name__)

#: How often a waiting encoder thread looks at its stop event.
_STOP_POLL_S = 0.05


class IndexedFrame(NamedTuple):
    index: int
    frame: Any


class EndOfEpisode(NamedTuple):
    total_frames: int


class CameraEncoderThread(threading.Thread):
    """Encodes one camera's episode from ``frame_queue`` into ``video_path`` with ``settings``.

    On success puts ``("ok", stats)`` into ``result_queue`` (RGB: per channel, 0-255 scale; depth: the
    recorded unit), on failure ``("error", message)``; the full `EpisodeResult` is also kept in
    ``self.result``. Setting ``stop_event`` stops it within ~50 ms, queued frames or not. (LeRobot's
    ``_CameraEncoderThread`` constructor, both versions, is `lerobot_stream.compat.camera_encoder_thread`.)
    """

    def __init__(
        self,
        video_path: str | Path,
        settings: EncoderSettings,
        frame_queue: queue.Queue,
        result_queue: queue.Queue,
        stop_event: threading.Event,
        encoder_threads: int | None = None,
        fragmented: bool = False,
        camera: str | None = None,
    ):
        super().__init__(daemon=True, name=f"encoder-{Path(video_path).stem}")
        self.video_path = Path(video_path)
        self.settings = settings
        self.fps = settings.fps
        self.frame_queue = frame_queue
        self.result_queue = result_queue
        self.stop_event = stop_event
        #: The caller's value, unchanged (None = let the library choose a bound).
        self.encoder_threads = encoder_threads
        self.is_depth = settings.is_depth
        self.fragmented = fragmented
        self.camera = camera or self.video_path.stem
        self.result: EpisodeResult | None = None
        self.error: str | None = None
        #: The running encode core, for progress displays (None before the thread starts).
        self.encoder: EpisodeEncoder | None = None

    def _next_item(self) -> Any:
        """The next queue item, or raise `_Stopped` once the stop event is set."""
        while True:
            if self.stop_event.is_set():
                raise _Stopped
            try:
                return self.frame_queue.get(timeout=_STOP_POLL_S)
            except queue.Empty:
                continue

    def run(self) -> None:
        encoder = self.encoder = EpisodeEncoder(self.video_path, self.settings, fragmented=self.fragmented)
        next_index = 0
        try:
            while True:
                item = self._next_item()
                if item is None:
                    total = None
                    break
                if isinstance(item, EndOfEpisode):
                    total = item.total_frames
                    break
                index, frame = (item.index, item.frame) if isinstance(item, IndexedFrame) else (next_index, item)
                pixels = to_depth_map(frame, self.camera) if self.is_depth else to_hwc_uint8(frame, self.camera)
                encoder.add(index, pixels)
                next_index = index + 1
            self.result = encoder.finish(total_frames=total)
            self.result_queue.put(("ok", self.result.stats))
        except _Stopped:
            encoder.abort(delete=False)
            self.result_queue.put(("ok", encoder.stats.statistics()))
        except Exception as exc:
            self.error = f"{type(exc).__name__}: {exc}"
            logger.error("Encoder thread for %s failed: %s", self.camera, self.error)
            encoder.abort()
            self.result_queue.put(("error", self.error))


class _Stopped(Exception):
    """The stop event was set."""
