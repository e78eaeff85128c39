"""LeRobot's ``_CameraEncoderThread`` constructor, both versions, over the project's
`workers.thread_host.CameraEncoderThread` (which takes `EncoderSettings` only).

* v0.6: ``(video_path, fps, video_encoder, frame_queue, result_queue, stop_event, encoder_threads=None)``, where
  ``video_encoder`` is an encoder config (ours or LeRobot's; a depth config makes this a depth stream);
* v0.5: ``(video_path, fps, vcodec, pix_fmt, g, crf, preset, frame_queue, result_queue, stop_event,
  encoder_threads=None)``, positionally or by keyword (`lerobot_stream.compat.signatures`).
"""

from __future__ import annotations

import queue
import threading
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from lerobot_stream.compat.signatures import bind_v05, is_codec_name
from workers.codecs import resolve_settings
from workers.thread_host import CameraEncoderThread


class LeRobotCameraEncoderThread(CameraEncoderThread):
    """`CameraEncoderThread` built from LeRobot's arguments, with LeRobot's attributes (``video_encoder``, and
    v0.5's ``vcodec``, ``pix_fmt``, ``g``, ``crf``, ``preset``)."""

    def __init__(
        self,
        video_path: str | Path,
        fps: int,
        video_encoder: Any = None,
        frame_queue: queue.Queue | None = None,
        result_queue: queue.Queue | None = None,
        stop_event: threading.Event | None = None,
        encoder_threads: int | None = None,
        *legacy_positional: Any,
        vcodec: str | None = None,
        pix_fmt: str = "yuv420p",
        g: int | None = 2,
        crf: int | None = 30,
        preset: int | None = None,
    ):
        if is_codec_name(video_encoder):
            given = bind_v05(
                "_CameraEncoderThread",
                (video_encoder, frame_queue, result_queue, stop_event, encoder_threads, *legacy_positional),
            )
            vcodec, pix_fmt = given["vcodec"], given.get("pix_fmt", pix_fmt)
            g, crf, preset = given.get("g", g), given.get("crf", crf), given.get("preset", preset)
            frame_queue, result_queue = given.get("frame_queue"), given.get("result_queue")
            stop_event, encoder_threads = given.get("stop_event"), given.get("encoder_threads")
            video_encoder = None
        if frame_queue is None or result_queue is None or stop_event is None:
            raise TypeError("_CameraEncoderThread needs frame_queue, result_queue and stop_event")
        # v0.5's keywords are read by attribute, like a config.
        keywords = {"vcodec": vcodec or "libsvtav1", "pix_fmt": pix_fmt, "g": g, "crf": crf, "preset": preset}
        config = video_encoder if video_encoder is not None else SimpleNamespace(**keywords)
        settings = resolve_settings(config, fps, encoder_threads)
        super().__init__(video_path, settings, frame_queue, result_queue, stop_event, encoder_threads)
        #: The encoder config this thread was given (LeRobot v0.6), if any.
        self.video_encoder = video_encoder
        self.vcodec, self.pix_fmt = settings.vcodec, settings.pix_fmt
        self.g, self.crf, self.preset = settings.g, settings.crf, settings.preset
