"""LeRobot's ``lerobot.datasets.video_utils``: its names and signatures, over the project's own parts - the
streaming encoder (`lerobot_stream.recorder.streaming_encoder`), encoding a folder of frames
(`lerobot_stream.recorder.frame_files`), joining and probing MP4s (`lerobot_stream.storage.video_files`) and the
codec policy (`workers.codecs`).

LeRobot users switch by changing the import prefix ``lerobot.`` to ``lerobot_stream.``.
"""

from __future__ import annotations

import logging
from fractions import Fraction
from pathlib import Path
from typing import Any

import av

from lerobot_stream.compat.camera_encoder_thread import LeRobotCameraEncoderThread as _CameraEncoderThread
from lerobot_stream.compat.codec_options import v05_codec_options
from lerobot_stream.compat.encoder_arguments import normalise_arguments
from lerobot_stream.compat.signatures import bind_v05, is_codec_name
from lerobot_stream.configs.video import UNSET, rgb_config_from_keywords, rgb_encoder_defaults
from lerobot_stream.recorder.frame_files import encode_image_folder, read_png, sorted_frame_files
from lerobot_stream.recorder.streaming_encoder import CameraStatus, EncoderService, EncodingFailed
from lerobot_stream.storage.layout import atomic_write
from lerobot_stream.storage.video_files import (
    concatenate_video_files,
    count_video_frames,
    get_video_duration_in_s,
    get_video_info,
    get_video_pixel_channels,
    trim_video_file,
)
from lerobot_stream.utils.import_utils import get_safe_default_video_backend as get_safe_default_codec  # v0.5's name
from workers.codecs import HW_ENCODERS, VALID_VIDEO_CODECS, compatible_pix_fmt, resolve_settings
from workers.encoder_availability import detect_hw_encoders
from workers.encoder_availability import resolve_vcodec as _resolve_vcodec
from workers.media_paths import ffmpeg_path
from workers.scheduling import calling_thread_policy_kept

logger = logging.getLogger(__name__)

__all__ = [
    "HW_ENCODERS",
    "VALID_VIDEO_CODECS",
    "CameraStatus",
    "EncodingFailed",
    "StreamingVideoEncoder",
    "VideoEncodingManager",
    "_CameraEncoderThread",
    "_get_codec_options",
    "compatible_pix_fmt",
    "concatenate_video_files",
    "count_video_frames",
    "detect_available_hw_encoders",
    "encode_image_folder",
    "encode_video_frames",
    "get_safe_default_codec",
    "get_video_duration_in_s",
    "get_video_info",
    "get_video_pixel_channels",
    "read_png",
    "reencode_video",
    "resolve_vcodec",
    "trim_video_file",
]


class StreamingVideoEncoder(EncoderService):
    """LeRobot's streaming encoder: `lerobot_stream.recorder.streaming_encoder.EncoderService` (see there for
    what differs from LeRobot's thread-based class, and for the extra keyword options) with both of LeRobot's
    constructors:

    * v0.6: ``StreamingVideoEncoder(fps, rgb_encoder=None, depth_encoder=None, queue_maxsize=30,
      encoder_threads=None)`` with encoder config objects (ours, or LeRobot's own ``lerobot.configs.video``
      objects);
    * v0.5: ``StreamingVideoEncoder(fps, vcodec="libsvtav1", pix_fmt="yuv420p", g=2, crf=30, preset=None,
      queue_maxsize=30, encoder_threads=None)``, by keyword or positionally. These settings are not checked
      against FFmpeg here (as in v0.5): a bad one fails the camera's first frame with the codec's message.
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
        g: Any = UNSET,
        crf: Any = UNSET,
        preset: Any = UNSET,
        **options: Any,
    ):
        self._closed = True  # until fully constructed, so __del__ has nothing to do
        given = normalise_arguments(
            fps,
            rgb_encoder,
            depth_encoder,
            queue_maxsize,
            encoder_threads,
            legacy_positional,
            vcodec,
            pix_fmt,
            g,
            crf,
            preset,
        )
        super().__init__(
            fps, given.rgb_encoder, given.depth_encoder, given.queue_maxsize, given.encoder_threads, **options
        )
        # v0.5's attributes, mirroring the RGB settings.
        self.vcodec, self.pix_fmt = self._rgb_encoder.vcodec, self._rgb_encoder.pix_fmt
        self.g, self.crf, self.preset = self._rgb_encoder.g, self._rgb_encoder.crf, self._rgb_encoder.preset


def _get_codec_options(
    vcodec: str, g: int | None = 2, crf: int | None = 30, preset: int | None = None
) -> dict[str, str]:
    """FFmpeg options for ``vcodec`` (all strings); see `lerobot_stream.compat.codec_options`."""
    return v05_codec_options(vcodec, g, crf, preset)


def detect_available_hw_encoders() -> list[str]:
    """Hardware encoders that really encode a frame on this machine, in order of preference (cached)."""
    return detect_hw_encoders()


def resolve_vcodec(vcodec: str) -> str:
    """Validate ``vcodec``; ``"auto"`` becomes the first working hardware encoder, else ``"libsvtav1"``."""
    # The detector is looked up in this module at call time: LeRobot's tests patch it here.
    return _resolve_vcodec(vcodec, lambda: detect_available_hw_encoders())


# ---- batch encoding of a folder of frames -----------------------------------------------------------------


def encode_video_frames(
    imgs_dir: Path | str,
    video_path: Path | str,
    fps: int,
    video_encoder: Any = None,
    encoder_threads: int | None = None,
    *legacy_positional: Any,
    vcodec: str | None = None,
    pix_fmt: str = "yuv420p",
    g: int | None = 2,
    crf: int | None = 30,
    fast_decode: int = 0,
    log_level: int | None = None,
    overwrite: bool = False,
    preset: int | None = None,
) -> None:
    """Encode ``imgs_dir/frame-NNNNNN.png`` (or ``.tiff`` depth frames, for a depth config) into
    ``video_path`` with the same core as the streaming path.

    LeRobot v0.6's form: ``(imgs_dir, video_path, fps, video_encoder=None, encoder_threads=None, *,
    overwrite=False)`` with an encoder config; v0.5's: ``vcodec``, ``pix_fmt``, ``g``, ``crf``,
    ``fast_decode``, ``log_level``, ``overwrite``, ``preset``, ``encoder_threads`` (positional after
    ``fps`` or by keyword). ``log_level`` is accepted and unused: FFmpeg's log stays quiet here.
    """
    if is_codec_name(video_encoder):  # v0.5, positionally: the codec name lands where v0.6 has video_encoder
        given = bind_v05("encode_video_frames", (video_encoder, encoder_threads, *legacy_positional))
        vcodec, pix_fmt = given["vcodec"], given.get("pix_fmt") or pix_fmt
        g, crf, fast_decode = given.get("g", g), given.get("crf", crf), given.get("fast_decode", fast_decode)
        overwrite, preset = given.get("overwrite", overwrite), given.get("preset", preset)
        encoder_threads, video_encoder = given.get("encoder_threads"), None
    if video_encoder is None:
        video_encoder = rgb_config_from_keywords(vcodec or "libsvtav1", pix_fmt, g, crf, preset)
        video_encoder.fast_decode = fast_decode
    video_path = Path(video_path)
    if video_path.exists() and not overwrite:
        logger.warning("Video file already exists: %s. Skipping encoding.", video_path)
        return
    settings = resolve_settings(video_encoder, fps, encoder_threads)
    frames = sorted_frame_files(Path(imgs_dir), "tiff" if settings.is_depth else "png")
    if not frames:
        raise FileNotFoundError(f"No images found in {imgs_dir}.")
    encode_image_folder(frames, video_path, settings)
    if not video_path.exists():
        raise OSError(f"Video encoding did not work. File not found: {video_path}.")


def reencode_video(
    input_video_path: Path | str,
    output_video_path: Path | str,
    video_encoder: Any = None,
    encoder_threads: int | None = None,
    log_level: int | None = None,
    overwrite: bool = False,
    start_time_s: float | None = None,
    end_time_s: float | None = None,
) -> None:
    """Re-encode a video with ``video_encoder`` (default: the RGB defaults), optionally keeping only the
    frames presented in ``[start_time_s, end_time_s)`` (re-timed to start at 0). Frames keep their pixel
    format family: a depth video stays 12-bit codes. Written aside and renamed, so a failure leaves nothing."""
    if (start_time_s is not None and start_time_s < 0) or (end_time_s is not None and end_time_s < 0):
        raise ValueError(f"Trim times must be non-negative, got start={start_time_s}, end={end_time_s}.")
    if start_time_s is not None and end_time_s is not None and end_time_s <= start_time_s:
        raise ValueError(f"end_time_s ({end_time_s}) must be greater than start_time_s ({start_time_s}).")
    output_video_path = Path(output_video_path)
    if output_video_path.exists() and not overwrite:
        logger.warning("Video file already exists: %s. Skipping re-encode.", output_video_path)
        return
    if video_encoder is None:
        video_encoder = rgb_encoder_defaults()
    settings = resolve_settings(video_encoder, 1, encoder_threads)
    output_video_path.parent.mkdir(parents=True, exist_ok=True)

    def write(temp: Path) -> None:
        with av.open(ffmpeg_path(input_video_path)) as source:
            if not source.streams.video:
                raise ValueError(f"No video stream in {input_video_path}")
            in_stream = source.streams.video[0]
            rate = in_stream.base_rate
            with av.open(ffmpeg_path(temp), "w", format="mp4", options={"movflags": "faststart"}) as out:
                stream = out.add_stream(settings.vcodec, rate=rate, options=settings.stream_options())
                stream.width, stream.height, stream.pix_fmt = in_stream.width, in_stream.height, settings.pix_fmt
                index = 0
                for frame in source.decode(in_stream):
                    if start_time_s is not None and frame.time < start_time_s - 1e-9:
                        continue
                    if end_time_s is not None and frame.time >= end_time_s - 1e-9:
                        break
                    converted = frame.reformat(format=settings.pix_fmt)
                    converted.pts, converted.time_base = index, Fraction(1) / rate
                    out.mux(stream.encode(converted))
                    index += 1
                out.mux(stream.encode(None))

    with calling_thread_policy_kept():  # SVT-AV1 opened by root would leave this thread SCHED_FIFO
        atomic_write(output_video_path, write)


class VideoEncodingManager:
    """Context manager LeRobot's recording script wraps its loop in: on the way out the dataset is
    finalized, and if an exception is leaving the block the unsaved episode is discarded first (its
    encoding cancelled, its staging files deleted) so nothing half-recorded is left behind."""

    def __init__(self, dataset: Any):
        self.dataset = dataset

    def __enter__(self) -> VideoEncodingManager:
        return self

    def __exit__(self, exc_type, exc, tb) -> bool:
        writer = getattr(self.dataset, "writer", None)
        if exc_type is not None and writer is not None and writer.has_pending_frames():
            logger.warning("Discarding the unsaved episode because of %s", exc_type.__name__)
            writer.clear_episode_buffer()
        self.dataset.finalize()
        return False
