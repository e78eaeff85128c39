"""LeRobot v0.6's ``datasets.io_utils`` names for the metadata files whose form is the same in both libraries,
and ``load_image_as_numpy``.

(`lerobot_stream.storage.metadata_files` has the rest; its tasks and episodes helpers use plain dicts and
lists, not pandas or Hugging Face ``datasets`` objects, so they are not offered under LeRobot's names.)
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from lerobot_stream.recorder.frame_files import read_png
from lerobot_stream.storage.metadata_files import load_info, load_stats, write_info, write_stats
from lerobot_stream.storage.tiff import read_tiff

__all__ = ["load_image_as_numpy", "load_info", "load_stats", "write_info", "write_stats"]


def load_image_as_numpy(fpath: str | Path, dtype: np.dtype = np.float32, channel_first: bool = True) -> np.ndarray:
    """The image at ``fpath``: RGB as ``dtype`` (a float dtype scales pixels to [0, 1]); a depth TIFF in its own
    dtype (uint16 millimetres or float32 metres), as LeRobot keeps it. (C, H, W) with ``channel_first``, else
    (H, W, C) - (H, W) for depth. Decoded with PyAV (PNG) and `lerobot_stream.storage.tiff`: no imaging library."""
    path = str(fpath)
    if path.endswith((".tiff", ".tif")):
        array = read_tiff(path)
    else:
        array = read_png(path).astype(dtype)
        if np.issubdtype(np.dtype(dtype), np.floating):
            array /= 255.0
    if channel_first:
        array = array[np.newaxis, ...] if array.ndim == 2 else np.transpose(array, (2, 0, 1))
    return array
