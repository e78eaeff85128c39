"""LeRobot's ``lerobot.datasets`` package names (v0.6 exports them here).

Loaded on first use, so ``import lerobot_stream.datasets.video_utils`` does not import the whole
dataset writer.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "LeRobotDataset": "lerobot_stream.datasets.lerobot_dataset",
    "LeRobotDatasetMetadata": "lerobot_stream.storage.metadata",
    "VideoEncodingManager": "lerobot_stream.datasets.video_utils",
    "StreamingVideoEncoder": "lerobot_stream.datasets.video_utils",
    "safe_stop_image_writer": "lerobot_stream.recorder.image_writer",
    "check_video_encoder_parameters_pyav": "lerobot_stream.datasets.pyav_utils",
    "detect_available_encoders_pyav": "lerobot_stream.datasets.pyav_utils",
    "aggregate_stats": "lerobot_stream.storage.stats",
    "get_feature_stats": "lerobot_stream.storage.stats",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'lerobot_stream.datasets' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
