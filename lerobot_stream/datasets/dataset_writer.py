"""LeRobot's ``lerobot.datasets.dataset_writer``: `DatasetWriter` (the recording engine's writer,
`lerobot_stream.recorder.writer`, where the commit order and the two recording paths are described) and
LeRobot's module-level helper `_encode_video_worker`, which its tests run with ``encode_video_frames`` patched
here.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

from lerobot_stream.datasets.video_utils import encode_video_frames
from lerobot_stream.errors import EpisodeSaveError
from lerobot_stream.recorder.writer import DatasetWriter
from lerobot_stream.storage.layout import DEFAULT_DEPTH_PATH, DEFAULT_IMAGE_PATH, STAGING_DIR
from workers.codecs import is_depth_config

__all__ = ["STAGING_DIR", "DatasetWriter", "EpisodeSaveError", "_encode_video_worker", "encode_video_frames"]


def _encode_video_worker(
    video_key: str,
    episode_index: int,
    root: Path,
    fps: int,
    video_encoder: Any = None,
    encoder_threads: int | None = None,
    *,
    vcodec: str | None = None,
) -> Path:
    """LeRobot's helper: encode one camera's staged frames of an episode (PNG, or TIFF for a depth config)
    into a temporary MP4 under ``root`` and delete the frames. Module-level and picklable, so it can run in a
    process pool; `DatasetWriter` itself encodes with `lerobot_stream.recorder.frame_files`. Settings as in v0.6
    (``video_encoder``) or v0.5 (``vcodec``, also accepted in ``video_encoder``'s place)."""
    if isinstance(video_encoder, str):
        video_encoder, vcodec = None, video_encoder
    # Both keywords, as each version's callers expect them (a config wins over vcodec in encode_video_frames).
    settings = {"video_encoder": video_encoder, "vcodec": vcodec or "libsvtav1"}
    depth = is_depth_config(video_encoder)
    template = DEFAULT_DEPTH_PATH if depth else DEFAULT_IMAGE_PATH
    img_dir = (Path(root) / template.format(image_key=video_key, episode_index=episode_index, frame_index=0)).parent
    temp_path = Path(tempfile.mkdtemp(dir=root)) / f"{video_key}_{episode_index:03d}.mp4"
    encode_video_frames(img_dir, temp_path, fps, encoder_threads=encoder_threads, overwrite=True, **settings)
    shutil.rmtree(img_dir)
    return temp_path
