"""Which frames a demo recording or a benchmark feeds: the built-in contents or the user's own footage.

* ``scene`` (default): `lerobot_stream.sources.scene.PannedImageCamera` over a procedural natural scene, calibrated
  to cost what footage costs to encode;
* ``synthetic``: the cheap moving-gradient pattern (`lerobot_stream.sources.synthetic.SyntheticCamera`), ~2x
  faster to encode than footage: an optimistic bound, and what noise-free simulation cameras look like;
* ``--source PATH``: a video file, a folder of images (played in name order), or one picture (panned like
  the scene). The most honest number a rig builder can get is from their own cameras' footage.

Every camera reads from a pre-decoded pool, so that producing a frame costs nothing during a recording.
Footage is decoded once and shared: camera ``c`` starts ``c`` seconds into it, so cameras differ.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from lerobot_stream.errors import SourceError
from lerobot_stream.sources.scene import PannedImageCamera
from lerobot_stream.sources.synthetic import FramePool, SyntheticCamera, SyntheticDepthCamera
from workers.media_paths import ffmpeg_path

CONTENTS = ("scene", "synthetic")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")
#: Frames of footage kept in memory (shared by all cameras): 10 s at 30 fps.
MAX_FOOTAGE_FRAMES = 300


class FootageCamera(FramePool):
    """Loops over decoded frames shared with other cameras, from its own starting point."""

    def __init__(self, frames: list[np.ndarray], offset: int = 0):
        super().__init__(frames, offset)
        self.height, self.width = frames[0].shape[:2]


def _decode_first_frame(path: Path, size: tuple[int, int] | None = None) -> np.ndarray:
    """The picture in ``path`` as RGB, scaled to ``size`` (width, height) if given."""
    import av

    with av.open(ffmpeg_path(path)) as container:
        for frame in container.decode(video=0):
            if size is None:
                return frame.to_ndarray(format="rgb24")
            return frame.reformat(width=size[0], height=size[1], format="rgb24").to_ndarray()
    raise SourceError(f"--source {path}: no picture could be decoded")


def _decode_video(path: Path, width: int, height: int) -> list[np.ndarray]:
    import av

    frames = []
    with av.open(ffmpeg_path(path)) as container:
        for frame in container.decode(video=0):
            frames.append(frame.reformat(width=width, height=height, format="rgb24").to_ndarray())
            if len(frames) >= MAX_FOOTAGE_FRAMES:
                break
    return frames


def load_footage(path: Path, width: int, height: int) -> list[np.ndarray] | np.ndarray:
    """Decoded frames (``width x height``) of a video file or an image folder, or one picture at its own size.

    Raises `SourceError` naming the path when nothing can be decoded from it.
    """
    import av

    path = Path(path)
    if not path.exists():
        raise SourceError(f"--source {path}: no such file or folder")
    try:
        if path.is_dir():
            images = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)[:MAX_FOOTAGE_FRAMES]
            if not images:
                raise SourceError(f"--source {path}: the folder holds no images ({', '.join(IMAGE_SUFFIXES)})")
            return [_decode_first_frame(image, (width, height)) for image in images]
        if path.suffix.lower() in IMAGE_SUFFIXES:
            return _decode_first_frame(path)
        frames = _decode_video(path, width, height)
    except av.error.FFmpegError as exc:  # not a video, an unknown codec: one clear message naming the path
        raise SourceError(f"--source {path}: cannot decode it as video or image ({exc})") from exc
    if not frames:
        raise SourceError(f"--source {path}: no video frames could be decoded")
    return frames


def make_cameras(
    count: int,
    height: int,
    width: int,
    content: str = "scene",
    source: Path | None = None,
    fps: int = 30,
    progress: Callable[[int, int, str], None] | None = None,
) -> list:
    """``count`` frame sources of ``height x width`` RGB uint8 frames (``read()`` the next one). Each renders its
    frames up front (a second or more at 1080p and above): ``progress(done, count, what)`` hears of the start
    (``done`` 0) and of each."""
    if content not in CONTENTS and source is None:
        raise ValueError(f"content must be one of {CONTENTS}, got {content!r}")
    footage = load_footage(source, width, height) if source is not None else None
    cameras = []
    if progress is not None:
        progress(0, count, "cameras ready")  # the clock for the time left starts here
    for c in range(count):
        if isinstance(footage, np.ndarray):  # one picture: pan over it
            cameras.append(PannedImageCamera(height, width, seed=c, canvas=footage))
        elif footage is not None:
            cameras.append(FootageCamera(footage, offset=c * fps))
        elif content == "scene":
            cameras.append(PannedImageCamera(height, width, seed=c))
        else:
            cameras.append(SyntheticCamera(height, width, seed=c))
        if progress is not None:
            progress(c + 1, count, "cameras ready")
    return cameras


class _DepthAsChannel:
    """A depth source whose frames are ``(H, W, 1)``, the shape of a dataset's depth feature (a view)."""

    def __init__(self, source: SyntheticDepthCamera):
        self._source = source

    def read(self) -> np.ndarray:
        return self._source.read()[..., None]


def depth_cameras(count: int, height: int, width: int) -> list:
    """The depth streams of ``count`` RGB-D cameras: uint16 millimetres (`SyntheticDepthCamera`)."""
    return [_DepthAsChannel(SyntheticDepthCamera(height, width, seed=c)) for c in range(count)]
