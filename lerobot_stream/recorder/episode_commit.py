"""Making a recorded episode part of the dataset, in an order that survives a crash at any point.

Input: the episode buffer (``add_frame``'s rows) and one `EpisodeResult` per camera (a finished temporary
MP4 with its exact statistics, from the streaming encoders or the staged frames). Order: every file is
first prepared aside (`VideoPlacer.prepare`, `DataPlacer.prepare`); then the videos are renamed into place,
then the data parquet, then the episodes table, info.json and stats.json (`LeRobotDatasetMetadata.
save_episode`, the commit point). All of it is one `file_transaction`: a failure anywhere (a full disk at
any file) puts every file back as it was and the in-memory cursors and metadata with it, so the dataset is
exactly as after the previous save and the writer carries on; a crash mid-save leaves at most rows and
frames past the episodes table, which recovery removes.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from lerobot_stream.storage.data_placement import DataPlacer
from lerobot_stream.storage.episode_table import episode_arrays, episode_table
from lerobot_stream.storage.file_transaction import file_transaction
from lerobot_stream.storage.metadata import LeRobotDatasetMetadata
from lerobot_stream.storage.stats import camera_stats_from_pixels, compute_episode_stats
from lerobot_stream.storage.video_files import get_video_info
from lerobot_stream.storage.video_placement import PreparedVideo, VideoPlacer
from workers.codecs import EncoderSettings
from workers.encode import EpisodeResult
from workers.stats import ImageStatsAccumulator

logger = logging.getLogger(__name__)


class EpisodeCommitter:
    """Owns where the dataset's files continue (resumed datasets start new files) and commits episodes."""

    def __init__(self, meta: LeRobotDatasetMetadata, schema: pa.Schema):
        self._meta = meta
        self._schema = schema
        last = meta.episodes[-1] if meta.episodes else None
        videos_after = {
            key: (last[f"videos/{key}/chunk_index"], last[f"videos/{key}/file_index"])
            for key in meta.video_keys
            if last is not None and f"videos/{key}/chunk_index" in last
        }
        self.videos = VideoPlacer(meta, resume_after=videos_after)
        data_after = (last["data/chunk_index"], last["data/file_index"]) if last is not None else None
        self.data = DataPlacer(meta, schema, resume_after=data_after)

    def bytes_rewritten_by_next_save(self) -> int:
        """The size of every file the next save extends by writing a new copy of it (each camera's current
        MP4, the data parquet, the episodes table), which it needs as free space on top of the episode."""
        return sum(path.stat().st_size for path in self._current_files() if path.exists())

    def _current_files(self) -> list[Path]:
        files = [self.videos.current_path(key) for key in self._meta.video_keys]
        files += [self.data.current_path(), self._meta.current_episodes_path()]
        return [path for path in files if path is not None]

    def commit(
        self,
        buffer: dict,
        episode_index: int,
        videos: dict[str, EpisodeResult],
        image_stats: dict[str, ImageStatsAccumulator],
        settings_for: Callable[[str], EncoderSettings],
    ) -> dict[str, Any]:
        """Write the episode into the dataset; returns its metadata (file positions, repeated frames).
        ``settings_for(camera)``: how the camera was encoded, recorded in info.json with its first episode."""
        length = buffer["size"]
        for key, result in videos.items():
            if result.frames != length:
                raise RuntimeError(f"Camera {key}: the video has {result.frames} frames for {length} data rows")
        tasks = list(buffer["task"])
        episode_tasks = list(dict.fromkeys(tasks))
        known = dict(self._meta.task_to_index)
        for task in episode_tasks:
            known.setdefault(task, len(known))
        features = self._meta.features
        arrays = episode_arrays(
            features, buffer, episode_index, self._meta.total_frames, length, [known[t] for t in tasks]
        )
        stats = self._stats(arrays, videos, image_stats)
        table = episode_table(self._schema, features, arrays, length)

        state = (self._meta.writing_state(), self.videos.cursors(), self.data.cursor())
        prepared: list[PreparedVideo] = []
        try:
            with file_transaction():  # all of the episode's files, or none (a full disk stops it anywhere)
                for key, result in videos.items():
                    prepared.append(self.videos.prepare(key, result.path, result.frames))
                data, metadata = self.data.prepare(table, length)
                metadata = dict(metadata)
                for item in prepared:
                    self.videos.commit(item)
                    metadata.update(item.metadata)
                    metadata[f"videos/{item.camera}/repeated_frames"] = videos[item.camera].repeated
                    metadata[f"videos/{item.camera}/health"] = ",".join(videos[item.camera].health)
                self.data.commit(data)
                for key in videos:
                    if "video.codec" not in (features[key].get("info") or {}):
                        self._record_video_info(key, metadata, settings_for(key))
                self._meta.save_episode_tasks([t for t in episode_tasks if t not in self._meta.task_to_index])
                self._meta.save_episode(episode_index, length, episode_tasks, stats, metadata)  # the commit point
        except BaseException:
            for item in prepared:
                self.videos.discard(item)
            self._meta.restore_writing_state(state[0])
            self.videos.restore_cursors(state[1])
            self.data.restore_cursor(state[2])
            raise
        repeated = {k: r.repeated for k, r in videos.items() if r.repeated}
        if repeated:
            logger.warning(
                "episode_index %d saved with repeated frames (its encoders fell behind): %s",
                episode_index,
                ", ".join(f"{key} {count}" for key, count in repeated.items()),
            )
        return metadata

    def _stats(
        self,
        arrays: dict[str, np.ndarray],
        videos: dict[str, EpisodeResult],
        image_stats: dict[str, ImageStatsAccumulator],
    ) -> dict[str, dict]:
        numeric = compute_episode_stats(arrays, self._meta.features)
        depth_keys = self._meta.depth_keys
        stats: dict[str, dict] = {}
        for key, feature in self._meta.features.items():
            if key in numeric:
                stats[key] = numeric[key]
            elif feature["dtype"] == "video" and videos[key].stats is not None:
                stats[key] = camera_stats_from_pixels(videos[key].stats, depth=key in depth_keys)
            elif feature["dtype"] == "image" and image_stats[key].frames:
                stats[key] = camera_stats_from_pixels(image_stats[key].statistics(), depth=key in depth_keys)
        return stats

    def _record_video_info(self, key: str, metadata: dict[str, Any], settings: EncoderSettings) -> None:
        """The video ``info`` block of info.json: what the file is, and the encoder settings used."""
        chunk = metadata[f"videos/{key}/chunk_index"]
        file = metadata[f"videos/{key}/file_index"]
        info = get_video_info(self.videos.path(key, chunk, file))
        info.update(settings.describe())
        info["is_depth_map"] = info["video.is_depth_map"] = settings.is_depth
        self._meta.update_video_info(key, info)
