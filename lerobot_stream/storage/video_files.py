"""The dataset's MP4 files: joining episodes by stream copy (no re-encoding), cutting a file short, and what a
file says about itself (LeRobot's ``info`` block of a video feature, duration, frame count).

Every rewrite goes through a temporary file renamed into place (`lerobot_stream.storage.layout.atomic_write`):
an interrupted join or cut leaves the old file, never half of a new one.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, is_dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import av

from lerobot_stream.storage.layout import atomic_write
from workers.codecs import is_depth_config
from workers.media_paths import ffmpeg_path

logger = logging.getLogger(__name__)


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
    join_video_files(inputs, output_video_path)


def join_video_files(inputs: list[Path], output: Path) -> list[int]:
    """`concatenate_video_files` (atomic, by stream copy), returning how many frames it copied from each input:
    a caller that knows how many each must hold checks them without reading the files again."""
    copied: list[int] = []

    def write(temp: Path) -> None:
        copied[:] = _remux(inputs, temp)[1]

    atomic_write(output, write)
    return copied


def trim_video_file(path: Path | str, end_seconds: float) -> int:
    """Rewrite ``path`` (by stream copy, atomically) keeping only frames presented before ``end_seconds``;
    return how many frames were removed."""
    removed = 0

    def write(temp: Path) -> None:
        nonlocal removed
        removed = _remux([Path(path)], temp, end_seconds)[0]

    atomic_write(Path(path), write)
    return removed


def _remux(inputs: list[Path], output: Path, end_seconds: float | None = None) -> tuple[int, list[int]]:
    """Copy the inputs' packets one after the other into ``output``; packets presented at or after
    ``end_seconds`` (of the output) are left out. Returns how many were left out, and how many were copied
    from each input (one packet is one frame)."""
    skipped = 0
    copied: list[int] = []
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
                copied.append(0)
                for packet in _frame_packets(source, in_stream):
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
                    copied[-1] += 1
                offset += (end - start) * in_stream.time_base
    return skipped, copied


def _frame_packets(container: av.container.InputContainer, stream: av.VideoStream):
    """``stream``'s packets that carry a frame, in decode order (not the empty one demuxing ends with)."""
    return (packet for packet in container.demux(stream) if packet.dts is not None)


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


def count_video_packets(video_path: Path | str) -> int:
    """Packets (compressed frames) in the first video stream, without decoding: where it differs from
    `count_video_frames`, some packets do not decode."""
    with av.open(ffmpeg_path(video_path)) as container:
        return sum(1 for _ in _frame_packets(container, container.streams.video[0]))


def count_video_frames(video_path: Path | str) -> int:
    """Frames in the first video stream, by decoding them all (exact, for checks and tests)."""
    with av.open(ffmpeg_path(video_path)) as container:
        return sum(1 for _ in container.decode(video=0))
