"""The dataset writer's two ways of recording its video cameras, behind one small interface (`VideoCameras`).

* streaming (`lerobot_stream.recorder.streamed_videos.StreamedVideos`): each frame goes to the camera's encoder
  as it arrives; the episode's videos are (nearly) done when it ends;
* PNG (`StagedVideos`, LeRobot's default path): each frame is written as a PNG by background threads
  (`lerobot_stream.recorder.frame_staging`), and the episode's PNGs are encoded when it is saved, with the same
  encode core.

The writer (`lerobot_stream.recorder.writer`) asks the same questions of either and never which one it has,
except `streaming` - what an episode costs on disk while it is recorded, and whether its rows are journaled.
"""

from __future__ import annotations

from typing import Any, Protocol

from lerobot_stream.recorder.frame_staging import FrameStaging
from lerobot_stream.recorder.streaming_encoder import CameraStatus
from lerobot_stream.storage.metadata import LeRobotDatasetMetadata
from workers.codecs import EncoderSettings, resolve_settings
from workers.encode import EpisodeResult

#: PNG compression of a video camera's staged frames: they are encoded and deleted at save, so fast beats small.
VIDEO_PNG_COMPRESSION = 1


class VideoCameras(Protocol):
    """A dataset's video cameras, one episode at a time."""

    #: Frames are encoded while the episode is recorded (else: when it is saved).
    streaming: bool

    def warm_up(self) -> None:
        """Get ready for the first frame now (start encoders), not inside it."""

    def start_episode(self, number: int) -> None:
        """Begin the episode whose recording number is ``number`` (it names the episode's staging folder)."""

    def add(self, key: str, frame: Any, episode_index: int, frame_index: int) -> str | None:
        """Record one camera's frame; returns what the episode buffer keeps for it (a staged file's path)."""

    def finish(self, episode_index: int, parallel: bool) -> dict[str, EpisodeResult]:
        """Every camera's finished temporary MP4 of the episode; `EncodingFailed` if one cannot be."""

    def settings_for(self, key: str) -> EncoderSettings:
        """How camera ``key`` is encoded (also what ``info.json`` records)."""

    def remove_encoded(self) -> None:
        """Delete the episode's temporary MP4s once they are in the dataset (or the save failed)."""

    def cancel(self) -> None:
        """Abandon the episode being recorded."""

    def status(self) -> dict[str, CameraStatus]:
        """Each camera's encoding status, backlog included (empty where nothing is encoded while recording)."""


class StagedVideos:
    """LeRobot's PNG path: frames staged as PNG files while recording, encoded when the episode is saved."""

    streaming = False

    def __init__(
        self,
        staging: FrameStaging,
        meta: LeRobotDatasetMetadata,
        rgb_encoder: Any,
        depth_encoder: Any,
        encoder_threads: int | None,
    ):
        self._staging = staging
        self._video_keys = meta.video_keys
        self._configs = {key: depth_encoder if key in meta.depth_keys else rgb_encoder for key in meta.video_keys}
        self._fps = meta.fps
        self._encoder_threads = encoder_threads

    def warm_up(self) -> None:
        """Nothing to start: the image-writer threads start with the first frame."""

    def start_episode(self, number: int) -> None:
        """Nothing to start: an episode's PNGs are named by its index."""

    def add(self, key: str, frame: Any, episode_index: int, frame_index: int) -> str:
        return str(self._staging.stage(key, episode_index, frame_index, frame, VIDEO_PNG_COMPRESSION))

    def finish(self, episode_index: int, parallel: bool) -> dict[str, EpisodeResult]:
        if not self._video_keys:
            return {}
        return self._staging.encode_episode(self._video_keys, episode_index, parallel, self.settings_for)

    def settings_for(self, key: str) -> EncoderSettings:
        return resolve_settings(self._configs[key], self._fps, self._encoder_threads, len(self._video_keys))

    def remove_encoded(self) -> None:
        self._staging.remove_encoded()

    def cancel(self) -> None:
        """Nothing runs: the staged PNGs are removed with the episode (`FrameStaging.remove_episode`)."""

    def status(self) -> dict[str, CameraStatus]:
        return {}
