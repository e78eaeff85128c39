"""Video helpers with LeRobot's names: codec tables and selection, the streaming encoder, batch encoding
of PNG folders, MP4 concatenation by stream copy, and video metadata.

LeRobot users switch by changing the import prefix ``lerobot.`` to ``lerobot_stream.``.
"""

from __future__ import annotations

import logging
import re
from dataclasses import asdict, is_dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import av

from lerobot_stream.configs.video import rgb_config_from_keywords, rgb_encoder_defaults
from lerobot_stream.datasets.utils import atomic_write
from lerobot_stream.recorder.streaming_encoder import CameraStatus, EncodingFailed, StreamingVideoEncoder
from lerobot_stream.storage.tiff import read_tiff
from lerobot_stream.utils.import_utils import get_safe_default_video_backend as get_safe_default_codec  # v0.5's name
from workers.codecs import (
    HW_ENCODERS,
    VALID_VIDEO_CODECS,
    EncoderSettings,
    compatible_pix_fmt,
    detect_hw_encoders,
    is_depth_config,
    resolve_settings,
)
from workers.codecs import codec_options as _codec_options
from workers.codecs import resolve_vcodec as _resolve_vcodec
from workers.encode import EpisodeEncoder, EpisodeResult
from workers.media_paths import ffmpeg_path
from workers.scheduling import calling_thread_policy_kept
from workers.thread_host import CameraEncoderThread as _CameraEncoderThread

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
    "detect_available_hw_encoders",
    "encode_image_folder",
    "encode_video_frames",
    "get_safe_default_codec",
    "get_video_duration_in_s",
    "get_video_info",
    "get_video_pixel_channels",
    "reencode_video",
    "resolve_vcodec",
    "trim_video_file",
]


def _get_codec_options(
    vcodec: str, g: int | None = 2, crf: int | None = 30, preset: int | None = None
) -> dict[str, str]:
    """FFmpeg options for ``vcodec`` (all strings); see `workers.codecs.codec_options`."""
    return _codec_options(vcodec, g, crf, preset)


def detect_available_hw_encoders() -> list[str]:
    """Hardware encoders that really encode a frame on this machine, in order of preference (cached)."""
    return detect_hw_encoders()


def resolve_vcodec(vcodec: str) -> str:
    """Validate ``vcodec``; ``"auto"`` becomes the first working hardware encoder, else ``"libsvtav1"``."""
    # The detector is looked up in this module at call time: LeRobot's tests patch it here.
    return _resolve_vcodec(vcodec, lambda: detect_available_hw_encoders())


# ---- batch encoding of a folder of frames -----------------------------------------------------------------

_FRAME_FILE = re.compile(r"^frame-(\d{6,})\.(png|tiff)$")


def _sorted_frame_files(imgs_dir: Path, suffix: str = "png") -> list[Path]:
    frames = [p for p in Path(imgs_dir).glob(f"frame-*.{suffix}") if _FRAME_FILE.match(p.name)]
    return sorted(frames, key=lambda p: int(_FRAME_FILE.match(p.name).group(1)))


def read_png(path: str | Path):
    """One PNG as a uint8 HWC RGB array (decoded with PyAV, so no imaging library is needed)."""
    with av.open(ffmpeg_path(path)) as container:
        frame = next(container.decode(video=0))
        return frame.to_ndarray(format="rgb24")


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
    if isinstance(video_encoder, str):  # v0.5 positional: vcodec, pix_fmt, g, crf, fast_decode, ...
        legacy = (video_encoder, encoder_threads, *legacy_positional)
        names = ("vcodec", "pix_fmt", "g", "crf", "fast_decode", "log_level", "overwrite", "preset", "encoder_threads")
        given = dict(zip(names, legacy, strict=False))
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
    frames = _sorted_frame_files(Path(imgs_dir), "tiff" if settings.is_depth else "png")
    if not frames:
        raise FileNotFoundError(f"No images found in {imgs_dir}.")
    encode_image_folder(frames, video_path, settings)
    if not video_path.exists():
        raise OSError(f"Video encoding did not work. File not found: {video_path}.")


def encode_image_folder(frames: list[Path], video_path: Path, settings: EncoderSettings) -> EpisodeResult:
    """Encode frame files (PNG, or TIFF depth maps for depth settings), in order, into ``video_path`` with
    the shared encode core; returns its result (frame count and statistics). A failure leaves no file."""
    encoder = EpisodeEncoder(video_path, settings)
    read = read_tiff if settings.is_depth else read_png
    try:
        for index, frame_file in enumerate(frames):
            encoder.add(index, read(frame_file))
        return encoder.finish()
    except BaseException:
        encoder.abort()
        raise


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


# ---- concatenation by stream copy -------------------------------------------------------------------------


def concatenate_video_files(
    input_video_paths: list[Path | str],
    output_video_path: Path | str,
    overwrite: bool = True,
    compatibility_check: bool = True,
) -> None:
    """Join MP4s that share codec and resolution into one, copying packets (no re-encoding).

    Each input's timestamps are shifted by the durations of the inputs before it. The result is written
    to a temporary file next to the output and renamed over it, so ``output_video_path`` may also be an
    input and is never left half-written; the output is a regular (non-fragmented) MP4 with its index
    at the front. Inputs of different codecs or resolutions raise ``ValueError`` (always: a stream copy of
    them would be unplayable; ``compatibility_check`` is accepted for LeRobot v0.6 compatibility).
    """
    output_video_path = Path(output_video_path)
    inputs = [Path(p) for p in input_video_paths]
    if not inputs:
        raise FileNotFoundError("No input video paths provided.")
    if output_video_path.exists() and not overwrite:
        logger.warning("Video file already exists: %s. Skipping concatenation.", output_video_path)
        return
    atomic_write(output_video_path, lambda temp: _remux(inputs, temp))


def trim_video_file(path: Path | str, end_seconds: float) -> int:
    """Rewrite ``path`` (by stream copy, atomically) keeping only frames presented before ``end_seconds``;
    return how many frames were removed."""
    removed = 0

    def write(temp: Path) -> None:
        nonlocal removed
        removed = _remux([Path(path)], temp, end_seconds)

    atomic_write(Path(path), write)
    return removed


def _remux(inputs: list[Path], output: Path, end_seconds: float | None = None) -> int:
    """Copy the inputs' packets one after the other into ``output``; packets presented at or after
    ``end_seconds`` (of the output) are left out. Returns how many were left out."""
    skipped = 0
    delays = {path: _reorder_delay(path) for path in inputs}
    delay = max(delays.values())
    with av.open(ffmpeg_path(output), "w", format="mp4", options={"movflags": "faststart"}) as out:
        out_stream = None
        offset = Fraction(0)  # seconds already written
        reference = None
        for path in inputs:
            with av.open(ffmpeg_path(path)) as source:
                in_stream = source.streams.video[0]
                signature = (in_stream.codec_context.name, in_stream.width, in_stream.height)
                if out_stream is None:
                    out_stream = out.add_stream_from_template(template=in_stream, opaque=True)
                    out_stream.time_base = in_stream.time_base
                    reference = signature
                elif signature != reference:
                    raise ValueError(f"Cannot concatenate {path}: {signature} differs from {reference}")
                # A fragmented MP4 of a codec with B-frames starts presenting at its reordering delay (it has
                # no edit list to say otherwise); presentation is counted from the input's first frame.
                start = in_stream.start_time or 0
                shift = round(offset / in_stream.time_base) - start
                # Decode timestamps run ahead of presentation by the codec's reordering delay (B-frames). Every
                # input is brought to the largest delay among them, so decode order stays increasing across
                # the seams even where episodes were encoded with different delays.
                dts_shift = shift - round((delay - delays[path]) / in_stream.time_base)
                # FFmpeg 7 (PyAV 15) demuxes fragmented MP4s with zero packet durations; without them the
                # output's last frame has no duration and the next input would start on top of it.
                rate = in_stream.guessed_rate or in_stream.average_rate
                frame_ticks = max(1, round(1 / (rate * in_stream.time_base)))
                end = 0
                for packet in source.demux(in_stream):
                    if packet.dts is None:
                        continue
                    if not packet.duration:
                        packet.duration = frame_ticks
                    end = max(end, packet.pts + packet.duration)
                    packet.pts += shift
                    packet.dts += dts_shift
                    if end_seconds is not None and packet.pts * in_stream.time_base >= end_seconds - 1e-6:
                        skipped += 1
                        continue
                    packet.stream = out_stream
                    out.mux(packet)
                offset += (end - start) * in_stream.time_base
    return skipped


def _reorder_delay(path: Path) -> Fraction:
    """How far (seconds) the first packet's decode timestamp precedes its presentation: the reordering
    delay the encoder used for this file (0 without B-frames)."""
    with av.open(ffmpeg_path(path)) as source:
        stream = source.streams.video[0]
        for packet in source.demux(stream):
            if packet.dts is not None and packet.pts is not None:
                return max(Fraction(0), (packet.pts - packet.dts) * stream.time_base)
    return Fraction(0)


# ---- metadata ---------------------------------------------------------------------------------------------


def get_video_pixel_channels(pix_fmt: str) -> int:
    if "gray" in pix_fmt or "depth" in pix_fmt or "monochrome" in pix_fmt:
        return 1
    if "rgba" in pix_fmt or "yuva" in pix_fmt:
        return 4
    if "rgb" in pix_fmt or "yuv" in pix_fmt:
        return 3
    raise ValueError("Unknown format")


def get_video_info(video_path: Path | str, video_encoder: Any = None) -> dict:
    """LeRobot's ``info`` block of a video feature: size, codec, pixel format, fps, channels, audio.

    With ``video_encoder`` (a config, LeRobot v0.6), its fields are added as ``video.<field>`` (what the
    file says wins; ``vcodec`` is skipped) and ``is_depth_map`` says whether it is a depth config (else False).
    """
    with av.open(ffmpeg_path(video_path)) as container:
        if not container.streams.video:
            return {}
        stream = container.streams.video[0]
        pix_fmt = stream.codec_context.pix_fmt
        info = {
            "video.height": stream.height,
            "video.width": stream.width,
            "video.codec": stream.codec_context.codec.canonical_name,
            "video.pix_fmt": pix_fmt,
            "video.is_depth_map": False,  # LeRobot v0.5's key; v0.6 reads ``is_depth_map``
            "is_depth_map": False,
            "video.fps": int(stream.base_rate),
            "video.channels": get_video_pixel_channels(pix_fmt),
        }
        audio = container.streams.audio
        if audio:
            a = audio[0]
            info.update(
                {
                    "audio.channels": a.channels,
                    "audio.codec": a.codec_context.codec.canonical_name,
                    "audio.bit_rate": a.bit_rate,
                    "audio.sample_rate": a.sample_rate,
                    "audio.bit_depth": a.format.bits if a.format else None,
                    "audio.channel_layout": a.layout.name if a.layout else None,
                    "has_audio": True,
                }
            )
        else:
            info["has_audio"] = False
    if video_encoder is not None:
        fields = asdict(video_encoder) if is_dataclass(video_encoder) else dict(vars(video_encoder))
        for name, value in fields.items():
            if name != "vcodec":
                info.setdefault(f"video.{name}", value)
        depth = is_depth_config(video_encoder)
        info["is_depth_map"] = info["video.is_depth_map"] = depth
    return info


def get_video_duration_in_s(video_path: Path | str) -> float:
    """Duration of the first video stream in seconds (frames / fps for the files written here)."""
    with av.open(ffmpeg_path(video_path)) as container:
        stream = container.streams.video[0]
        if stream.duration is not None:
            return float(stream.duration * stream.time_base)
        return float(container.duration / av.time_base)


def count_video_frames(video_path: Path | str) -> int:
    """Frames in the first video stream, by decoding them all (exact, for checks and tests)."""
    with av.open(ffmpeg_path(video_path)) as container:
        return sum(1 for _ in container.decode(video=0))


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
