"""The files of a LeRobot v3.0 dataset's ``meta/`` folder, read and written: info.json's initial content,
the tasks table, stats.json and the episodes tables. `lerobot_stream.storage.metadata` keeps them
current while recording; recovery and the integrity check read them on their own."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from lerobot_stream.storage.layout import (
    DEFAULT_CHUNK_SIZE,
    DEFAULT_DATA_FILE_SIZE_IN_MB,
    DEFAULT_EPISODES_PATH,
    DEFAULT_SUBTASKS_PATH,
    DEFAULT_TASKS_PATH,
    DEFAULT_VIDEO_FILE_SIZE_IN_MB,
    DEFAULT_VIDEO_PATH,
    EPISODES_DIR,
    INFO_PATH,
    STATS_PATH,
    DatasetInfo,
    atomic_write,
    chunk_files,
    load_json,
    serialize_dict,
    write_json,
)


def create_empty_dataset_info(
    codebase_version: str,
    fps: int,
    features: dict,
    use_videos: bool,
    robot_type: str | None = None,
    chunks_size: int | None = None,
    data_files_size_in_mb: int | None = None,
    video_files_size_in_mb: int | None = None,
) -> DatasetInfo:
    """A new dataset's ``info.json`` content (dict-style and attribute access both work: `DatasetInfo`)."""
    return DatasetInfo(
        codebase_version=codebase_version,
        fps=fps,
        features=features,
        robot_type=robot_type,
        chunks_size=chunks_size or DEFAULT_CHUNK_SIZE,
        data_files_size_in_mb=data_files_size_in_mb or DEFAULT_DATA_FILE_SIZE_IN_MB,
        video_files_size_in_mb=video_files_size_in_mb or DEFAULT_VIDEO_FILE_SIZE_IN_MB,
        video_path=DEFAULT_VIDEO_PATH if use_videos else None,
    )


def _pandas_metadata_for_tasks() -> bytes:
    """The ``pandas`` schema metadata that makes ``pd.read_parquet`` restore ``task`` as the index,
    as LeRobot's reader expects (written by hand: this library does not need pandas)."""
    return json.dumps(
        {
            "index_columns": ["task"],
            "column_indexes": [
                {
                    "name": None,
                    "field_name": None,
                    "pandas_type": "unicode",
                    "numpy_type": "str",
                    "metadata": {"encoding": "UTF-8"},
                }
            ],
            "columns": [
                {
                    "name": "task_index",
                    "field_name": "task_index",
                    "pandas_type": "int64",
                    "numpy_type": "int64",
                    "metadata": None,
                },
                {"name": "task", "field_name": "task", "pandas_type": "object", "numpy_type": "str", "metadata": None},
            ],
            "attributes": {},
            "creator": {"library": "pyarrow", "version": pa.__version__},
            "pandas_version": "3.1.1",
        }
    ).encode()


def write_tasks(tasks: dict[str, int], root: Path) -> None:
    ordered = sorted(tasks.items(), key=lambda item: item[1])
    table = pa.table(
        {
            "task_index": pa.array([i for _, i in ordered], pa.int64()),
            "task": pa.array([t for t, _ in ordered], pa.large_string()),
        }
    ).replace_schema_metadata({b"pandas": _pandas_metadata_for_tasks()})
    atomic_write(root / DEFAULT_TASKS_PATH, lambda temp: pq.write_table(table, temp))


def _load_names(path: Path, name: str) -> dict[str, int]:
    """``{text: index}`` of a tasks-like parquet: columns ``<name>_index`` and ``<name>`` (or, where the file was
    written from a pandas index under another column name, its only other string column); empty when the file
    does not exist."""
    if not path.exists():
        return {}
    table = pq.read_table(path)
    index_column = f"{name}_index"
    is_text = (pa.types.is_unicode, pa.types.is_large_unicode)
    others = [f.name for f in table.schema if f.name != index_column and any(test(f.type) for test in is_text)]
    text = [name] if name in table.column_names else others
    if not text or index_column not in table.column_names:
        raise ValueError(f"{path}: expected columns {index_column!r} and {name!r}, found {table.column_names}")
    return dict(zip(table.column(text[0]).to_pylist(), table.column(index_column).to_pylist(), strict=True))


def load_tasks(root: Path) -> dict[str, int]:
    return _load_names(root / DEFAULT_TASKS_PATH, "task")


def load_subtasks(root: Path) -> dict[str, int]:
    """The subtasks of LeRobot's annotation pipeline (``meta/subtasks.parquet``), if the dataset has them."""
    return _load_names(root / DEFAULT_SUBTASKS_PATH, "subtask")


def write_stats(stats: dict, root: Path) -> None:
    write_json(serialize_dict(stats), root / STATS_PATH)


def load_stats(root: Path) -> dict | None:
    path = root / STATS_PATH
    if not path.exists():
        return None
    return {feature: {k: np.array(v) for k, v in values.items()} for feature, values in load_json(path).items()}


def episode_files(root: Path) -> list[Path]:
    return chunk_files(root / EPISODES_DIR, ".parquet")


def load_episode_rows(root: Path, with_stats: bool = False) -> list[dict[str, Any]]:
    """Every episode's metadata row, in episode order."""
    rows: list[dict[str, Any]] = []
    for path in episode_files(root):
        table = pq.read_table(path)
        if not with_stats:
            table = table.select([c for c in table.column_names if not c.startswith("stats/")])
        rows.extend(table.to_pylist())
    return sorted(rows, key=lambda r: r["episode_index"])


def write_episode_rows(rows: list[dict[str, Any]], root: Path, chunk: int, file: int) -> None:
    """(Re)write one episodes table with ``rows``; the last row's columns are the table's."""
    columns = {key: [_to_python(row.get(key)) for row in rows] for key in rows[-1]}
    table = pa.table(columns)
    path = root / DEFAULT_EPISODES_PATH.format(chunk_index=chunk, file_index=file)
    atomic_write(path, lambda temp: pq.write_table(table, temp, compression="snappy"))


def _to_python(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    return value


def load_info(root: Path) -> DatasetInfo:
    """``meta/info.json`` of the dataset at ``root``."""
    return DatasetInfo.from_dict(load_json(root / INFO_PATH))


def write_info(info: DatasetInfo | Mapping[str, Any], root: Path) -> None:
    """Write ``meta/info.json`` (aside, then renamed into place)."""
    data = info.to_dict() if isinstance(info, DatasetInfo) else DatasetInfo.from_dict(info).to_dict()
    write_json(data, root / INFO_PATH)


def name_table(names: dict[str, int], name: str) -> Any:
    """``{name: index}`` as LeRobot's DataFrame (index ``name``, column ``<name>_index``) when pandas is importable,
    else the dict itself; None when empty."""
    if not names:
        return None
    try:
        import pandas as pd
    except ImportError:
        return dict(names)
    ordered = sorted(names.items(), key=lambda item: item[1])
    return pd.DataFrame(
        {f"{name}_index": [index for _, index in ordered]}, index=pd.Index([text for text, _ in ordered], name=name)
    )
