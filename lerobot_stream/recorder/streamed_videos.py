"""The dataset writer's streaming path: its video cameras recorded through an `EncoderService`.

What the dataset knows about each camera - its shape, whether it is a depth map and in which unit - becomes
the encoder's hints, so every camera's ring is allocated (and ``/dev/shm`` checked) when the writer is created
rather than on the first frame; the episode starts inside the first ``add_frame``, as in LeRobot.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from lerobot_stream.recorder.streaming_encoder import CameraStatus, EncoderService, EncodingFailed
from lerobot_stream.storage.features import camera_hw
from lerobot_stream.storage.metadata import LeRobotDatasetMetadata
from workers.codecs import EncoderSettings
from workers.encode import EpisodeResult
from workers.finishing import FinishingEpisode

EPISODE_FOLDER = "episode-{number:06d}"
#: Every episode folder's name matches it.
EPISODE_FOLDER_GLOB = "episode-*"


def episode_folder_name(number: int) -> str:
    return EPISODE_FOLDER.format(number=number)


class StreamedVideos:
    """A dataset's video cameras on an `EncoderService`, one episode at a time (the streaming
    `lerobot_stream.recorder.video_cameras.VideoCameras`)."""

    streaming = True

    def __init__(self, encoder: EncoderService, meta: LeRobotDatasetMetadata, staging_dir: Path):
        self.encoder = encoder
        self._meta = meta
        self._staging_dir = staging_dir

    def hints(self) -> dict[str, Any]:
        """``frame_shapes``, ``depth_video_keys`` and ``depth_dtypes`` of the dataset's video cameras."""
        depth_keys = self._meta.depth_keys
        shapes = {
            key: (*camera_hw(self._meta.features[key]), 1 if key in depth_keys else 3) for key in self._meta.video_keys
        }
        dtypes = {key: np.float32 if self._meta.depth_unit(key) == "m" else np.uint16 for key in depth_keys}
        return {"frame_shapes": shapes, "depth_video_keys": depth_keys, "depth_dtypes": dtypes}

    def warm_up(self) -> None:
        """Start the encoder processes and allocate the frame rings now, not on the first frame."""
        self.encoder.warm_up(self._meta.video_keys, **self.hints())

    def start_episode(self, number: int) -> None:
        """Start the cameras' episode; its files go under ``episode-<number>`` in the staging folder (``number``:
        the episode's recording number, which also names its journal - salvage pairs them by it)."""
        hints = self.hints()
        depth_keys = hints.pop("depth_video_keys")
        folder = self._staging_dir / episode_folder_name(number)
        self.encoder.start_episode(self._meta.video_keys, folder, depth_keys, **hints)

    def end(self) -> FinishingEpisode:
        """End the cameras' episode without waiting for their videos (`EncoderService.end_episode`)."""
        return self.encoder.end_episode()

    def add(self, key: str, frame: Any, episode_index: int, frame_index: int) -> None:
        """Hand the frame to the camera's encoder; the episode buffer keeps nothing for it."""
        self.encoder.feed_frame(key, frame)

    def finish(self, episode_index: int | None = None, parallel: bool = True) -> dict[str, EpisodeResult]:
        """Every camera's finished temporary MP4; if one failed, the others' files are deleted too."""
        try:
            return self.encoder.finish_results()
        except EncodingFailed:
            self.encoder.remove_episode_files()
            raise

    def settings_for(self, key: str) -> EncoderSettings:
        return self.encoder.settings_for(key, len(self._meta.video_keys))

    def status(self) -> dict[str, CameraStatus]:
        return self.encoder.encoding_status()

    def cancel(self) -> None:
        self.encoder.cancel_episode()

    def remove_encoded(self) -> None:
        """Delete the episode's temporary MP4s once they are in the dataset."""
        self.encoder.remove_episode_files()
