"""An episode buffer as Arrow: the data parquet's rows and the journal's, typed as LeRobot's reader expects.

The buffer is what ``add_frame`` collects (one list per feature, plus ``task``, ``timestamp`` and
``size``); cameras recorded to video are not in the table (their frames are in the MP4s).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from lerobot_stream.storage.layout import DEFAULT_FEATURES


def arrow_column(feature: dict, field_type: pa.DataType, values: list, length: int) -> pa.Array:
    """One parquet column of ``length`` rows of a feature."""
    if feature["dtype"] == "image":  # staged image files, stored as bytes in the parquet
        return pa.array(
            [{"bytes": Path(path).read_bytes(), "path": Path(path).name} for path in values], type=field_type
        )
    if feature["dtype"] == "string":
        return pa.array(values, type=field_type)
    if isinstance(field_type, pa.FixedSizeListType) or pa.types.is_list(field_type):
        return pa.array(list(np.asarray(values).tolist()), type=field_type)
    return pa.array(np.asarray(values).reshape(length), type=field_type)


def episode_arrays(
    features: dict[str, dict], buffer: dict, episode_index: int, first_index: int, length: int, tasks: list[int]
) -> dict[str, Any]:
    """Every non-video column of an episode: the buffer's features plus LeRobot's bookkeeping columns
    (``index`` counts from ``first_index``, the dataset's frames so far)."""
    arrays: dict[str, Any] = {}
    for key, feature in features.items():
        if feature["dtype"] == "video" or key in DEFAULT_FEATURES:
            continue
        if feature["dtype"] in ("image", "string"):
            arrays[key] = list(buffer[key])
        else:
            arrays[key] = np.stack(buffer[key]).reshape(length, *feature["shape"])
    arrays["timestamp"] = np.asarray(buffer["timestamp"], dtype=np.float32)
    arrays["frame_index"] = np.arange(length, dtype=np.int64)
    arrays["episode_index"] = np.full(length, episode_index, dtype=np.int64)
    arrays["index"] = np.arange(first_index, first_index + length, dtype=np.int64)
    arrays["task_index"] = np.asarray(tasks, dtype=np.int64)
    return arrays


def episode_table(schema: pa.Schema, features: dict[str, dict], arrays: dict[str, Any], length: int) -> pa.Table:
    columns = [arrow_column(features[field.name], field.type, arrays[field.name], length) for field in schema]
    return pa.Table.from_arrays(columns, schema=schema)
