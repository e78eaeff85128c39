"""LeRobot's ``lerobot.datasets.dataset_writer``: `DatasetWriter` with LeRobot's constructor over the recording
engine's writer (`lerobot_stream.recorder.writer`, where the commit order and the two recording paths are
described), and LeRobot's module-level helper `_encode_video_worker`, which its tests run with
``encode_video_frames`` patched here.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

from lerobot_stream.compat.signatures import encoder_config, is_codec_name
from lerobot_stream.datasets.video_utils import encode_video_frames
from lerobot_stream.errors import EpisodeSaveError
from lerobot_stream.recorder import writer
from lerobot_stream.recorder.image_writer import AsyncImageWriter
from lerobot_stream.storage.layout import DEFAULT_DEPTH_PATH, DEFAULT_IMAGE_PATH, STAGING_DIR
from lerobot_stream.storage.metadata import LeRobotDatasetMetadata
from workers.codecs import is_depth_config

__all__ = ["STAGING_DIR", "DatasetWriter", "EpisodeSaveError", "_encode_video_worker", "encode_video_frames"]


class DatasetWriter(writer.DatasetWriter):
    """`lerobot_stream.recorder.writer.DatasetWriter` with LeRobot's constructor (``rgb_encoder`` may also be a
    v0.5 codec name, `lerobot_stream.compat.signatures.encoder_config`) and LeRobot's members that the engine
    does not use: its image-writer controls, its no-op and cleanup hooks, its private attributes."""

    def __init__(
        self,
        meta: LeRobotDatasetMetadata,
        root: Path,
        rgb_encoder: Any = None,
        depth_encoder: Any = None,
        encoder_threads: int | None = None,
        batch_encoding_size: int = 1,
        streaming_encoder: Any = None,
        initial_frames: int = 0,
    ):
        super().__init__(
            meta,
            root,
            encoder_config(rgb_encoder),
            depth_encoder,
            encoder_threads,
            batch_encoding_size,
            streaming_encoder,
            initial_frames,
        )
        # LeRobot's attributes, which its tests read; nothing here depends on them. LeRobot keeps a parquet writer
        # open between saves; here every file is complete after each save (its tests check `_pq_writer is None`
        # after a resume).
        self._batch_encoding_size = batch_encoding_size
        self._pq_writer = None

    @property
    def _current_file_start_frame(self) -> int | None:
        """Dataset index of the first frame in the current data file (LeRobot's attribute)."""
        return self._committer.data.current_file_start_frame

    def config_for(self, key: str) -> Any:
        """The encoder config of a camera (the depth config for depth maps)."""
        return self._depth_encoder if key in self._meta.depth_keys else self._rgb_encoder

    @property
    def image_writer(self) -> AsyncImageWriter | None:
        """The background image-file writer threads (LeRobot's attribute); None until used or started."""
        return self._staging.writer

    def start_image_writer(self, num_processes: int = 0, num_threads: int = 4) -> None:
        """Background image writers: ``num_threads`` threads, or ``num_processes`` processes of that many
        threads (`lerobot_stream.recorder.image_writer`)."""
        self._staging.start(num_threads, num_processes)

    def _get_image_file_dir(self, episode_index: int, image_key: str) -> Path:
        """The folder of an episode's staged frame files of a camera (LeRobot's name; its tests look there)."""
        return self._staging.episode_dir(image_key, episode_index)

    def cancel_pending_videos(self) -> None:
        self._videos.cancel()

    def cleanup_interrupted_episode(self, episode_index: int) -> None:
        """Delete the staged frames of an episode that will not be saved (write errors of its frames included)."""
        self._staging.discard_errors()
        self._staging.remove_episode(self._meta.camera_keys, episode_index)
        self._staging.cleanup()

    def close_writer(self) -> None:
        """Nothing is held open between episodes; kept for LeRobot compatibility."""

    def flush_pending_videos(self) -> None:
        if self._streaming_encoder is not None:
            self._streaming_encoder.close()

    def stop_image_writer(self) -> None:
        self._staging.stop()


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
    if is_codec_name(video_encoder):
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
