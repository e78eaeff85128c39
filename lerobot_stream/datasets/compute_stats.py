"""LeRobot's ``lerobot.datasets.compute_stats``: its signatures over the project's statistics
(`lerobot_stream.storage.stats`, which the writer uses).

* `get_feature_stats` takes LeRobot's ``axis``/``keepdims``/``quantile_list`` and returns LeRobot's shapes; the
  values are exact (numpy's quantiles over every value), where LeRobot estimates quantiles from a running
  histogram.
* `compute_episode_stats` reads every image of an episode through `load_image_as_numpy` - looked up in this
  module at call time, so a caller can patch it here as LeRobot's tests do - into exact per-channel pixel
  histograms (`workers.stats`): every frame counts, in bounded memory, where LeRobot samples up to ~1000 frames
  and downsamples them. RGB is scaled to [0, 1]; depth stays in its unit.
* `sample_images` loads evenly spaced images of a list, at most `images_to_sample` of them, each strided to
  about 150 px (the project's sampling rule, not LeRobot's ``estimate_num_samples``; all of them up to 100).
* Aggregation is the project's (`aggregate_stats`, `aggregate_feature_stats`).

LeRobot's other sampling helpers (``sample_indices``, ``estimate_num_samples``, ``RunningQuantileStats``) are
not provided.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from lerobot_stream.configs.video import is_depth_map
from lerobot_stream.datasets.io_utils import load_image_as_numpy
from lerobot_stream.storage.stats import (
    aggregate_feature_stats,
    aggregate_stats,
    camera_stats_from_pixels,
    reduce_stats,
)
from workers.stats import (
    DEFAULT_QUANTILES,
    DepthStatsAccumulator,
    ImageStatsAccumulator,
    downsample_factor,
)

__all__ = [
    "DEFAULT_QUANTILES",
    "aggregate_feature_stats",
    "aggregate_stats",
    "compute_episode_stats",
    "get_feature_stats",
    "load_image_as_numpy",
    "sample_images",
]

#: The axes LeRobot's ``get_feature_stats`` takes, and how many samples each one counts (``count``).
_SAMPLES = {
    (0, 2, 3): lambda shape: shape[0],  # images (N, C, H, W): per channel
    (0,): lambda shape: shape[0],  # vectors (N, D): per feature
    (1,): lambda shape: shape[1],  # across the features of each sample
    None: lambda shape: shape[0] if shape else 1,  # everything at once
}


def get_feature_stats(
    array: np.ndarray, axis: int | tuple[int, ...] | None, keepdims: bool, quantile_list: list[float] | None = None
) -> dict[str, np.ndarray]:
    """``min, max, mean, std`` (population), the quantiles (default `DEFAULT_QUANTILES`, keys ``q01``...) and
    ``count`` of ``array`` reduced over ``axis`` - one of LeRobot's: ``(0, 2, 3)`` images, ``0`` vectors, ``(1,)``
    across features, ``None`` everything - with LeRobot's shapes for ``keepdims``."""
    values = np.asarray(array)
    if values.size == 0:
        raise ValueError("Cannot compute statistics of an empty array.")
    axis = (axis,) if isinstance(axis, int) else axis
    if axis not in _SAMPLES:
        raise ValueError(
            f"Unsupported axis configuration: {axis}; expected (0, 2, 3) for images, 0 for vectors, (1,) across "
            "features or None for the whole array"
        )
    count = _SAMPLES[axis](values.shape)
    if axis == (0,) and values.ndim == 1:  # one feature: its stats have shape (1,), as LeRobot's do
        values = values.reshape(-1, 1)
        keepdims = False
    quantiles = quantile_list if quantile_list is not None else DEFAULT_QUANTILES
    stats = reduce_stats(values, axis, keepdims, count, quantiles)
    if axis is None and not keepdims:
        stats = {key: np.atleast_1d(value) for key, value in stats.items()}
    return stats


def images_to_sample(images: int) -> int:
    """How many of ``images`` images `sample_images` loads: all up to 100, then ten times the square root."""
    return min(images, max(100, int(10 * np.sqrt(images))))


def sample_images(image_paths: list[Any]) -> np.ndarray:
    """Evenly spaced images of ``image_paths`` (`images_to_sample`), as one uint8 (N, C, H, W) array, each strided
    to about 150 px when larger than 300 px."""
    if not image_paths:
        raise ValueError("No image paths to sample from.")
    indices = np.round(np.linspace(0, len(image_paths) - 1, images_to_sample(len(image_paths)))).astype(int)
    images = []
    for index in indices:
        image = load_image_as_numpy(image_paths[index], dtype=np.uint8, channel_first=True)
        step = downsample_factor(image.shape[1], image.shape[2])
        images.append(image[:, ::step, ::step])
    return np.stack(images)


def _camera_stats(paths: list[Any], depth: bool, quantiles: tuple[float, ...]) -> dict[str, np.ndarray]:
    """Exact per-channel stats of the images at ``paths`` (LeRobot's layout: shape (C, 1, 1))."""
    accumulator = DepthStatsAccumulator() if depth else ImageStatsAccumulator()
    for path in paths:
        image = load_image_as_numpy(path, dtype=np.uint8, channel_first=False)
        accumulator.update(image.reshape(image.shape[:2]) if depth else image)
    statistics = accumulator.statistics(quantiles)
    if statistics is None:
        raise ValueError("Cannot compute statistics of an image feature without any image.")
    return camera_stats_from_pixels(statistics, depth)


def compute_episode_stats(
    episode_data: dict[str, Any], features: dict[str, dict], quantile_list: list[float] | None = None
) -> dict[str, dict[str, np.ndarray]]:
    """LeRobot's per-episode statistics: image and video features from their files (a list of paths), per
    channel with shape (C, 1, 1); numeric features per dimension; strings skipped."""
    quantiles = tuple(quantile_list) if quantile_list is not None else DEFAULT_QUANTILES
    stats = {}
    for key, data in episode_data.items():
        feature = features[key]
        if feature["dtype"] in ("string", "language"):
            continue
        if feature["dtype"] in ("image", "video"):
            stats[key] = _camera_stats(list(data), is_depth_map(feature), quantiles)
        else:
            values = np.asarray(data)
            stats[key] = get_feature_stats(values, axis=0, keepdims=values.ndim == 1, quantile_list=list(quantiles))
    return stats
