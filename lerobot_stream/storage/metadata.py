"""The ``meta/`` folder of a LeRobot v3.0 dataset: info.json, stats.json, tasks and episodes tables.

Durability: every ``save_episode`` rewrites the files it changes through a temporary file and a rename
(`lerobot_stream.storage.layout.atomic_write`), episodes table included - nothing is held back in a
buffer and no parquet file is left without its footer. A recorder killed at any moment leaves every
episode saved so far readable. (``metadata_buffer_size`` is accepted for LeRobot compatibility.)

``tasks`` is what LeRobot's tools expect - a pandas DataFrame indexed by task with a ``task_index``
column - whenever pandas is importable (it is in every LeRobot environment); without pandas, which this
library does not depend on, it is a ``{task: task_index}`` dict. ``task_to_index`` is that dict on both.
``episodes`` is a list of per-episode dicts without the ``stats/`` columns.
"""

from __future__ import annotations

import copy
import logging
from pathlib import Path
from typing import Any

import numpy as np

from lerobot_stream.configs.video import is_depth_map
from lerobot_stream.storage.episodes_files import EpisodesFiles
from lerobot_stream.storage.features import validate_feature_names
from lerobot_stream.storage.language import DEFAULT_TOOLS
from lerobot_stream.storage.layout import (
    CODEBASE_VERSION,
    DEFAULT_FEATURES,
    INFO_PATH,
    flatten_dict,
    hf_lerobot_home,
    unflatten_dict,
)
from lerobot_stream.storage.metadata_files import (
    create_empty_dataset_info,
    load_episode_rows,
    load_info,
    load_stats,
    load_subtasks,
    load_tasks,
    name_table,
    write_info,
    write_stats,
    write_tasks,
)
from lerobot_stream.storage.stats import aggregate_stats
from workers.depth import unit_factor

logger = logging.getLogger(__name__)


def absolute_root(root: str | Path | None, repo_id: str) -> Path:
    """The dataset's folder as an absolute path: FFmpeg and pyarrow read a relative path that starts with
    ``word:`` (``--root 2024-06-01T10:00``, ``run:1``) as a protocol or URI, not as a folder."""
    return (Path(root) if root is not None else hf_lerobot_home() / repo_id).absolute()


class LeRobotDatasetMetadata:
    """Reads and writes a dataset's ``meta/`` folder."""

    def __init__(
        self,
        repo_id: str,
        root: str | Path | None = None,
        revision: str | None = None,
        force_cache_sync: bool = False,
        metadata_buffer_size: int = 10,
    ):
        self.repo_id = repo_id
        self.revision = revision
        self.root = absolute_root(root, repo_id)
        info_path = self.root / INFO_PATH
        if not info_path.exists():
            raise FileNotFoundError(
                f"No LeRobot dataset at {self.root} ({INFO_PATH} is missing). Only local datasets are supported."
            )
        self.metadata_buffer_size = metadata_buffer_size
        self.info = load_info(self.root)
        validate_feature_names(self.info.features)
        self.task_to_index: dict[str, int] = load_tasks(self.root)
        self.subtask_to_index: dict[str, int] = load_subtasks(self.root)
        self.stats = load_stats(self.root)
        rows = load_episode_rows(self.root)
        self.episodes: list[dict[str, Any]] | None = rows or None
        self._init_writing_state(rows)

    def _init_writing_state(self, rows: list[dict[str, Any]]) -> None:
        #: The last episode saved by *this* writer (None after load: resume starts new files, as LeRobot does).
        self.latest_episode: dict[str, Any] | None = None
        #: LeRobot's attribute (its tests check it is None after a resume): LeRobot keeps the episodes table's parquet
        #: writer open between saves; here every file is complete after each save, so there is never one.
        self._pq_writer = None
        self._episodes_files = EpisodesFiles(self.root, rows, self.chunks_size)

    @classmethod
    def create(
        cls,
        repo_id: str,
        fps: int,
        features: dict,
        robot_type: str | None = None,
        root: str | Path | None = None,
        use_videos: bool = True,
        metadata_buffer_size: int = 10,
        chunks_size: int | None = None,
        data_files_size_in_mb: int | None = None,
        video_files_size_in_mb: int | None = None,
    ) -> LeRobotDatasetMetadata:
        obj = cls.__new__(cls)
        obj.repo_id = repo_id
        obj.revision = None
        obj.root = absolute_root(root, repo_id)
        obj.metadata_buffer_size = metadata_buffer_size
        # A deep copy: the caller's dicts (often module constants) must not learn this dataset's depth unit.
        features = copy.deepcopy({**features, **DEFAULT_FEATURES})
        validate_feature_names(features)
        if not use_videos and any(f["dtype"] == "video" for f in features.values()):
            raise ValueError("Video features require use_videos=True (or declare them with dtype 'image').")
        for name, value in (
            ("chunks_size", chunks_size),
            ("data_files_size_in_mb", data_files_size_in_mb),
            ("video_files_size_in_mb", video_files_size_in_mb),
        ):
            if value is not None and value <= 0:
                raise ValueError(f"{name} must be positive, got {value}")
        obj.root.mkdir(parents=True, exist_ok=False)
        obj.info = create_empty_dataset_info(
            CODEBASE_VERSION,
            fps,
            features,
            use_videos,
            robot_type,
            chunks_size,
            data_files_size_in_mb,
            video_files_size_in_mb,
        )
        obj.task_to_index = {}
        obj.subtask_to_index = {}
        obj.stats = None
        obj.episodes = None
        obj._init_writing_state([])
        obj.write_info()
        return obj

    # -- properties ---------------------------------------------------------------------------------------
    def get_data_file_path(self, ep_index: int) -> Path:
        """The data parquet holding episode ``ep_index``, relative to the root."""
        episode = self._episode(ep_index)
        return Path(
            self.data_path.format(chunk_index=episode["data/chunk_index"], file_index=episode["data/file_index"])
        )

    def get_video_file_path(self, ep_index: int, vid_key: str) -> Path:
        """The MP4 holding camera ``vid_key`` of episode ``ep_index``, relative to the root."""
        episode = self._episode(ep_index)
        return Path(
            self.video_path.format(
                video_key=vid_key,
                chunk_index=episode[f"videos/{vid_key}/chunk_index"],
                file_index=episode[f"videos/{vid_key}/file_index"],
            )
        )

    def _episode(self, ep_index: int) -> dict[str, Any]:
        episodes = self.episodes or []
        if not 0 <= ep_index < len(episodes):
            raise IndexError(f"Episode index {ep_index} out of range. Episodes: {len(episodes)}")
        return episodes[ep_index]

    @property
    def fps(self) -> int:
        return self.info["fps"]

    @property
    def features(self) -> dict[str, dict]:
        return self.info["features"]

    @property
    def robot_type(self) -> str | None:
        return self.info["robot_type"]

    @property
    def data_path(self) -> str:
        return self.info["data_path"]

    @property
    def video_path(self) -> str | None:
        return self.info["video_path"]

    @property
    def image_keys(self) -> list[str]:
        return [k for k, f in self.features.items() if f["dtype"] == "image"]

    @property
    def video_keys(self) -> list[str]:
        return [k for k, f in self.features.items() if f["dtype"] == "video"]

    @property
    def camera_keys(self) -> list[str]:
        return [k for k, f in self.features.items() if f["dtype"] in ("video", "image")]

    @property
    def depth_keys(self) -> list[str]:
        """Features that hold depth maps (``info.is_depth_map``, LeRobot v0.6)."""
        return [k for k, f in self.features.items() if is_depth_map(f)]

    def rescale_depth_stats(self, output_unit: str) -> None:
        """Convert depth statistics (kept in each feature's recorded unit) to ``output_unit`` in memory, so
        they match the depth maps a reader returns; ``count`` is left alone. Nothing on disk changes."""
        for key in self.depth_keys:
            factor = unit_factor(self.depth_unit(key), output_unit)
            if self.stats is None or key not in self.stats or factor == 1.0:
                continue
            self.stats[key] = {
                name: value if name == "count" else np.asarray(value) * factor
                for name, value in self.stats[key].items()
            }

    def depth_unit(self, key: str) -> str | None:
        """``"mm"`` or ``"m"`` once the first depth frame of ``key`` has been recorded, else None."""
        return (self.features[key].get("info") or {}).get("depth_unit")

    @property
    def names(self) -> dict[str, list | dict | None]:
        return {k: f.get("names") for k, f in self.features.items()}

    @property
    def shapes(self) -> dict[str, tuple]:
        return {k: tuple(f["shape"]) for k, f in self.features.items()}

    @property
    def total_episodes(self) -> int:
        return self.info["total_episodes"]

    @property
    def total_frames(self) -> int:
        return self.info["total_frames"]

    @property
    def total_tasks(self) -> int:
        return self.info["total_tasks"]

    @property
    def chunks_size(self) -> int:
        return self.info["chunks_size"]

    @property
    def data_files_size_in_mb(self) -> int:
        return self.info["data_files_size_in_mb"]

    @property
    def video_files_size_in_mb(self) -> int:
        return self.info["video_files_size_in_mb"]

    def get_chunk_settings(self) -> dict[str, int]:
        return {
            "chunks_size": self.chunks_size,
            "data_files_size_in_mb": self.data_files_size_in_mb,
            "video_files_size_in_mb": self.video_files_size_in_mb,
        }

    def update_chunk_settings(
        self,
        chunks_size: int | None = None,
        data_files_size_in_mb: int | None = None,
        video_files_size_in_mb: int | None = None,
    ) -> None:
        for name, value in (
            ("chunks_size", chunks_size),
            ("data_files_size_in_mb", data_files_size_in_mb),
            ("video_files_size_in_mb", video_files_size_in_mb),
        ):
            if value is None:
                continue
            if value <= 0:
                raise ValueError(f"{name} must be positive, got {value}")
            self.info[name] = value
        self.write_info()

    @property
    def tools(self) -> list[dict]:
        """The tool schemas the dataset declares (LeRobot v0.6; ``info.json["tools"]``), else `DEFAULT_TOOLS`.
        A copy: changing it changes nothing until it is assigned back."""
        return copy.deepcopy(self.info.tools or DEFAULT_TOOLS)

    @tools.setter
    def tools(self, value: list[dict] | None) -> None:
        """Declare the dataset's tools and write ``info.json`` now; None or empty removes the declaration."""
        self.info.tools = copy.deepcopy(list(value)) if value else None
        self.write_info()

    # -- tasks --------------------------------------------------------------------------------------------
    @property
    def tasks(self) -> Any:
        """The dataset's tasks: a pandas DataFrame (index ``task``, column ``task_index``) when pandas is
        importable, else a ``{task: task_index}`` dict; None before the first task (as in LeRobot)."""
        return name_table(self.task_to_index, "task")

    @property
    def subtasks(self) -> Any:
        """The subtasks LeRobot's annotation pipeline wrote (``meta/subtasks.parquet``), shaped like `tasks`;
        None when the dataset has none."""
        return name_table(self.subtask_to_index, "subtask")

    def get_task_index(self, task: str) -> int | None:
        return self.task_to_index.get(task)

    def save_episode_tasks(self, tasks: list[str]) -> None:
        if len(set(tasks)) != len(tasks):
            raise ValueError(f"Tasks are not unique: {tasks}")
        known = dict(self.task_to_index)
        new = [t for t in tasks if t not in known]
        if not new:
            return
        for task in new:
            known[task] = len(known)
        write_tasks(known, self.root)
        self.task_to_index = known

    # -- writing ------------------------------------------------------------------------------------------
    def write_info(self) -> None:
        write_info(self.info, self.root)

    def update_video_info(self, video_key: str, info: dict) -> None:
        """Record a video feature's ``info`` block (file properties + encoder settings) once; what the
        feature's ``info`` already holds (a depth map's ``is_depth_map``, ``depth_unit``) is kept."""
        feature = self.info["features"][video_key]
        existing = feature.get("info") or {}
        if "video.codec" not in existing:
            feature["info"] = {**info, **existing}
            self.write_info()

    def current_episodes_path(self) -> Path | None:
        """The episodes table the next row goes to if it has room (None before the first save here)."""
        return self._episodes_files.current_path()

    def save_episode(
        self,
        episode_index: int,
        episode_length: int,
        episode_tasks: list[str],
        episode_stats: dict,
        episode_metadata: dict,
    ) -> None:
        """Append one episode's row to the episodes table and update info.json and stats.json."""
        row: dict[str, Any] = {"episode_index": episode_index, "tasks": list(episode_tasks), "length": episode_length}
        row.update(episode_metadata)
        if self.latest_episode is not None:
            row["dataset_from_index"] = self.latest_episode["dataset_to_index"]
        elif self.episodes:
            row["dataset_from_index"] = self.episodes[-1]["dataset_to_index"]
        else:
            row["dataset_from_index"] = 0
        row["dataset_to_index"] = row["dataset_from_index"] + episode_length
        row.update(flatten_dict({"stats": episode_stats}))
        chunk, file = self._episodes_files.next_file(self.chunks_size, self.data_files_size_in_mb)
        row["meta/episodes/chunk_index"] = chunk
        row["meta/episodes/file_index"] = file
        self._episodes_files.append(row, chunk, file)
        self.latest_episode = row

        self.info["total_episodes"] += 1
        self.info["total_frames"] += episode_length
        self.info["total_tasks"] = len(self.task_to_index)
        self.info["splits"] = {"train": f"0:{self.info['total_episodes']}"}
        self.stats = aggregate_stats(
            [self.stats, episode_stats] if self.stats else [episode_stats], order=list(self.features)
        )
        write_stats(self.stats, self.root)
        self.write_info()
        visible = {k: v for k, v in row.items() if not k.startswith("stats/")}
        self.episodes = [*(self.episodes or []), visible]

    # -- rolling back a failed save --------------------------------------------------------------------------
    _SAVED_INFO_FIELDS = ("total_episodes", "total_frames", "total_tasks", "splits")

    def writing_state(self) -> dict[str, Any]:
        """What saving an episode changes in memory (totals, feature video blocks, tasks, stats, episode rows
        and the episodes-file cursor), for `restore_writing_state` when the save fails and its files are
        rolled back."""
        return copy.deepcopy(
            {
                "info": {name: self.info[name] for name in self._SAVED_INFO_FIELDS},
                "feature_info": {key: feature.get("info") for key, feature in self.features.items()},
                "task_to_index": self.task_to_index,
                "stats": self.stats,
                "episodes": self.episodes,
                "latest_episode": self.latest_episode,
                "episodes_files": self._episodes_files.state(),
            }
        )

    def restore_writing_state(self, state: dict[str, Any]) -> None:
        """Put back what `writing_state` took; the ``info`` object and feature dicts stay the same objects
        (the writer's parts hold them)."""
        for name, value in state["info"].items():
            self.info[name] = value
        for key, info in state["feature_info"].items():
            if info is None:
                self.features[key].pop("info", None)
            else:
                self.features[key]["info"] = info
        self.task_to_index = state["task_to_index"]
        self.stats = state["stats"]
        self.episodes = state["episodes"]
        self.latest_episode = state["latest_episode"]
        self._episodes_files.restore(state["episodes_files"])

    def finalize(self) -> None:
        """Nothing is buffered (see the module docstring); kept for LeRobot compatibility."""

    def __repr__(self) -> str:
        return (
            f"LeRobotDatasetMetadata(repo_id={self.repo_id!r}, root={str(self.root)!r}, "
            f"total_episodes={self.total_episodes}, total_frames={self.total_frames}, fps={self.fps})"
        )


__all__ = ["LeRobotDatasetMetadata", "create_empty_dataset_info", "load_episode_rows", "unflatten_dict"]
