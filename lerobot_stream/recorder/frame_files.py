"""Encoding a folder of frame files - the PNG path's staged images, LeRobot's ``encode_video_frames`` - with
the same encode core as the streaming path (`workers.encode`), so both paths give the same video and the same
statistics. PNGs are decoded with PyAV: no imaging library is needed.
"""

from __future__ import annotations

import re
from pathlib import Path

import av

from lerobot_stream.storage.tiff import read_tiff
from workers.codecs import EncoderSettings
from workers.encode import EpisodeEncoder, EpisodeResult
from workers.media_paths import ffmpeg_path

_FRAME_FILE = re.compile(r"^frame-(\d{6,})\.(png|tiff)$")


def sorted_frame_files(imgs_dir: Path, suffix: str = "png") -> list[Path]:
    """``imgs_dir/frame-NNNNNN.<suffix>`` in frame order (numbers may have more than six digits)."""
    frames = [p for p in Path(imgs_dir).glob(f"frame-*.{suffix}") if _FRAME_FILE.match(p.name)]
    return sorted(frames, key=lambda p: int(_FRAME_FILE.match(p.name).group(1)))


def read_png(path: str | Path):
    """One PNG as a uint8 HWC RGB array (decoded with PyAV, so no imaging library is needed)."""
    with av.open(ffmpeg_path(path)) as container:
        frame = next(container.decode(video=0))
        return frame.to_ndarray(format="rgb24")


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
