"""A small numpy reader of finished datasets, for checking what was recorded (no torch needed).

It reads the way LeRobot's reader does: rows from the data parquet files, and for each camera the frame
of ``videos/<key>/chunk-XXX/file-YYY.mp4`` shown at ``from_timestamp + timestamp`` (within
``tolerance_s``). With ``delta_timestamps`` an item holds a window of timesteps per named key, padded at the
episode's ends (`lerobot_stream.storage.delta_timestamps`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import av
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from lerobot_stream.errors import FrameTimestampError
from lerobot_stream.storage.delta_timestamps import check_delta_timestamps, get_delta_indices, window
from lerobot_stream.storage.layout import DATA_DIR, chunk_files, dataset_file
from lerobot_stream.storage.metadata import LeRobotDatasetMetadata
from lerobot_stream.storage.metadata_files import load_episode_rows
from lerobot_stream.storage.tiff import read_tiff
from workers.codecs import DepthQuantization
from workers.depth import dequantize_depth, frame_codes, unit_factor
from workers.media_paths import ffmpeg_path


def decode_frame_at(path: Path, timestamp: float, tolerance_s: float) -> av.VideoFrame:
    """The frame of ``path`` presented at ``timestamp`` seconds.

    Decoding starts at the keyframe before the target. A seek to the target's own timestamp is not enough
    with B-frames (HEVC, the depth default; H.264): frames are stored in decode order, which runs ahead of
    presentation, so the keyframe the demuxer picks can come after the target in decode order and the target is
    never decoded. When the first frame decoded is already past the target, the seek goes back further (4, 8,
    16 ... frames) until it is not.
    """
    with av.open(ffmpeg_path(path)) as container:
        stream = container.streams.video[0]
        frame_s = 1.0 / float(stream.guessed_rate or stream.average_rate or 30)
        back = 0.0
        while True:
            start = max(0.0, timestamp - back)
            container.seek(int(start / stream.time_base), stream=stream, backward=True, any_frame=False)
            closest, first = None, None
            for frame in container.decode(stream):
                t = float(frame.pts * frame.time_base)
                first = t if first is None else first
                if closest is None or abs(t - timestamp) < closest[0]:
                    closest = (abs(t - timestamp), frame)
                if t > timestamp + tolerance_s:
                    break
            if first is None or first <= timestamp + tolerance_s or start == 0.0:
                break
            back = max(4 * frame_s, 2 * back)
    if closest is None or closest[0] > tolerance_s:
        found = "no frame" if closest is None else f"nearest frame {closest[0]:.6f} s away"
        raise FrameTimestampError(f"{path}: no frame at {timestamp:.6f} s within {tolerance_s} s ({found})")
    return closest[1]


def decode_png_bytes(data: bytes) -> np.ndarray:
    import io

    with av.open(io.BytesIO(data), format="png_pipe") as container:
        return next(container.decode(video=0)).to_ndarray(format="rgb24")


def _quantization(info: dict) -> DepthQuantization:
    """A depth feature's quantizer as recorded in its ``info`` (LeRobot v0.6's defaults where missing)."""
    defaults = DepthQuantization()
    return DepthQuantization(
        *(float(info.get(f"video.{name}", getattr(defaults, name))) for name in ("depth_min", "depth_max", "shift")),
        bool(info.get("video.use_log", defaults.use_log)),
    )


def _as_tensor(value: Any) -> Any:
    """An array as a torch tensor where torch is installed (what LeRobot's readers return); anything else as is."""
    if not isinstance(value, np.ndarray):
        return value
    try:
        import torch
    except ImportError:
        return value
    # Not np.ascontiguousarray: it turns a 0-d array (a shape-(1,) feature's value) into a 1-d one.
    return torch.from_numpy(value if value.flags.c_contiguous else value.copy())


def _as_tensors(item: dict[str, Any]) -> dict[str, Any]:
    return {key: _as_tensor(value) for key, value in item.items()}


def _index_to_name(meta: Any, name: str) -> dict[int, str]:
    """``{index: text}`` of the metadata's tasks or subtasks: our ``<name>_to_index`` map, or the DataFrame of a
    metadata object of LeRobot's own (index: the texts, column ``<name>_index``)."""
    names = getattr(meta, f"{name}_to_index", None)
    if names is None:
        table = getattr(meta, f"{name}s", None)
        names = dict(zip(table.index, table[f"{name}_index"], strict=True)) if table is not None else {}
    return {int(index): text for text, index in names.items()}


class DatasetReader:
    """Rows of a dataset: camera frames as float32 CHW in [0, 1] (uint8 with ``return_uint8``); depth maps
    dequantized to ``depth_output_unit`` (``"mm"`` or ``"m"``) as float32 (1, H, W), as LeRobot v0.6 returns them.
    Values are torch tensors when torch is installed (as in LeRobot), numpy arrays otherwise (torch is not a
    dependency).

    The constructor takes LeRobot v0.6's reader arguments. Differences on purpose: data is read from the local
    ``root`` only (no Hub download: `load_and_activate` raises when there is none), ``hf_dataset`` is a pyarrow
    ``Table`` (the ``datasets`` library is not a dependency), frames are decoded with PyAV whatever
    ``video_backend`` says, one at a time.
    """

    def __init__(
        self,
        meta: LeRobotDatasetMetadata,
        root: str | Path | None = None,
        episodes: list[int] | None = None,
        tolerance_s: float = 1e-4,
        video_backend: str | None = None,
        delta_timestamps: dict[str, list[float]] | None = None,
        image_transforms: Callable | None = None,
        return_uint8: bool = False,
        depth_output_unit: str = "mm",
    ):
        self.meta = meta
        self.root = Path(root).absolute() if root is not None else meta.root
        self.episodes = episodes
        self.tolerance_s = tolerance_s
        self.video_backend = video_backend or "pyav"
        self.return_uint8 = return_uint8
        self.depth_output_unit = depth_output_unit
        self._image_transforms = image_transforms
        # LeRobot v0.5's metadata (no depth streams) has no depth_keys.
        depth_keys = getattr(meta, "depth_keys", [])
        self._quantizers = {key: _quantization(meta.features[key].get("info") or {}) for key in depth_keys}
        self.table: pa.Table | None = None
        #: Absolute frame index of each row (ascending: files hold episodes in order), to find a window's rows.
        self._absolute: np.ndarray | None = None
        self.episode_rows: dict[int, dict] = {}
        self._task_names: dict[int, str] = {}
        self._subtask_names: dict[int, str] = {}
        self.delta_timestamps: dict[str, list[float]] | None = None
        self._delta_indices: dict[str, list[int]] = {}
        self.set_delta_timestamps(delta_timestamps)

    # -- loading (LeRobot's names) --------------------------------------------------------------------------
    def try_load(self) -> bool:
        """Read the data files of the selected episodes; False when the dataset has none (yet)."""
        files = chunk_files(self.root / DATA_DIR, ".parquet")
        if not files:
            self.table, self._absolute = None, None
            return False
        table = pa.concat_tables([pq.read_table(f) for f in files])
        if self.episodes is not None:
            mask = np.isin(table.column("episode_index").to_numpy(), np.asarray(self.episodes))
            table = table.filter(pa.array(mask))
        self.table = table
        self._absolute = table.column("index").to_numpy()
        self.episode_rows = {row["episode_index"]: row for row in load_episode_rows(self.root)}
        self._task_names = _index_to_name(self.meta, "task")
        self._subtask_names = _index_to_name(self.meta, "subtask")  # LeRobot's annotated datasets
        return True

    def load_and_activate(self) -> None:
        """Read the data, or raise: a dataset without data files here is not downloaded (see the class docstring)."""
        if not self.try_load():
            raise FileNotFoundError(
                f"no data files under {self.root / DATA_DIR}; lerobot_stream reads local datasets only "
                "(download it with LeRobot or huggingface_hub first)"
            )

    @property
    def hf_dataset(self) -> pa.Table | None:
        """The rows read (a pyarrow Table), None before loading or when there is no data."""
        return self.table

    @property
    def num_episodes(self) -> int:
        return len(self.episodes) if self.episodes is not None else self.meta.total_episodes

    def get_episodes_file_paths(self) -> list[Path]:
        """The data and video files (relative to the root) that hold the selected episodes."""
        selected = self.episodes if self.episodes is not None else range(self.meta.total_episodes)
        paths = {self.meta.get_data_file_path(episode) for episode in selected}
        paths |= {self.meta.get_video_file_path(episode, key) for key in self.meta.video_keys for episode in selected}
        return sorted(paths)

    def set_image_transforms(self, image_transforms: Callable | None) -> None:
        """Applied to each colour camera's value of every item (not to depth maps, as in LeRobot)."""
        self._image_transforms = image_transforms

    def clear_image_transforms(self) -> None:
        self._image_transforms = None

    def set_delta_timestamps(self, delta_timestamps: dict[str, list[float]] | None) -> None:
        """Read a window of timesteps per item for these keys (`lerobot_stream.storage.delta_timestamps`);
        None reads single timesteps. Offsets off the frame grid are a ``ValueError``; unknown keys too."""
        if delta_timestamps:
            unknown = sorted(set(delta_timestamps) - set(self.meta.features))
            if unknown:
                raise ValueError(f"delta_timestamps names keys this dataset does not have: {unknown}")
            check_delta_timestamps(delta_timestamps, self.meta.fps, self.tolerance_s)
        self.delta_timestamps = delta_timestamps
        self._delta_indices = get_delta_indices(delta_timestamps, self.meta.fps) if delta_timestamps else {}

    @property
    def num_frames(self) -> int:
        return 0 if self.table is None else self.table.num_rows

    def __len__(self) -> int:
        return self.num_frames

    def _value(self, key: str, value: Any) -> Any:
        """One parquet cell as LeRobot's reader returns it."""
        feature = self.meta.features.get(key, {})
        if feature.get("dtype") == "image" and key in self._quantizers:
            depth = read_tiff(value["bytes"]).astype(np.float32)
            return depth[None] * unit_factor(self.meta.depth_unit(key), self.depth_output_unit)
        if feature.get("dtype") == "image":
            pixels = decode_png_bytes(value["bytes"]).transpose(2, 0, 1)
            return pixels.copy() if self.return_uint8 else pixels.astype(np.float32) / 255.0
        if feature.get("dtype") == "string":
            return value
        return np.asarray(value, dtype=feature.get("dtype"))

    def _row(self, absolute_index: int) -> dict[str, Any]:
        position = int(np.searchsorted(self._absolute, absolute_index))
        if position >= len(self._absolute) or self._absolute[position] != absolute_index:  # not in order after all
            matches = np.flatnonzero(self._absolute == absolute_index)
            if not matches.size:
                raise IndexError(f"no row with frame index {absolute_index} in {self.root}")
            position = int(matches[0])
        return self.table.slice(position, 1).to_pylist()[0]

    def _camera_frame(self, key: str, episode: dict, timestamp: float) -> np.ndarray:
        path = dataset_file(
            self.root,
            self.meta.video_path.format(
                video_key=key,
                chunk_index=episode[f"videos/{key}/chunk_index"],
                file_index=episode[f"videos/{key}/file_index"],
            ),
        )
        frame = decode_frame_at(path, episode[f"videos/{key}/from_timestamp"] + timestamp, self.tolerance_s)
        if key in self._quantizers:
            depth = dequantize_depth(frame_codes(frame), self._quantizers[key], self.depth_output_unit)
            return depth.astype(np.float32)[None]
        pixels = frame.to_ndarray(format="rgb24").transpose(2, 0, 1)
        return pixels.copy() if self.return_uint8 else pixels.astype(np.float32) / 255.0

    def __getitem__(self, index: int) -> dict[str, Any]:
        if self.table is None:
            self.load_and_activate()
        if not 0 <= index < self.num_frames:
            raise IndexError(f"index {index} out of range for {self.num_frames} frames")
        row = self.table.slice(index, 1).to_pylist()[0]
        item: dict[str, Any] = {key: self._value(key, value) for key, value in row.items()}
        episode = self.episode_rows[row["episode_index"]]
        windows: dict[str, list[dict[str, Any]]] = {}
        for key, offsets in self._delta_indices.items():
            rows, padding = window(row["index"], offsets, episode["dataset_from_index"], episode["dataset_to_index"])
            windows[key] = [self._row(r) for r in rows]
            item[f"{key}_is_pad"] = padding
            if key not in self.meta.video_keys:
                item[key] = np.stack([self._value(key, r[key]) for r in windows[key]])
        for key in self.meta.video_keys:
            timestamps = [float(r["timestamp"]) for r in windows.get(key, [row])]
            frames = [self._camera_frame(key, episode, t) for t in timestamps]
            # One timestamp gives one frame (C, H, W), several a stack (T, C, H, W) - LeRobot's shapes.
            item[key] = frames[0] if len(frames) == 1 else np.stack(frames)
        if self._image_transforms is not None:
            for key in self.meta.camera_keys:
                if key in item and key not in self._quantizers:
                    item[key] = self._image_transforms(_as_tensor(item[key]))
        item["task"] = self._task_names.get(row["task_index"])
        subtask = row.get("subtask_index")
        if self._subtask_names and subtask is not None:
            item["subtask"] = self._subtask_names.get(subtask[0] if isinstance(subtask, list) else subtask)
        return _as_tensors(item)

    def get_item(self, index: int) -> dict[str, Any]:
        """LeRobot's name for ``reader[index]``."""
        return self[index]

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.table = None
