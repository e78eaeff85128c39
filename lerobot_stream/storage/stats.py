"""Per-episode statistics of every feature and their aggregation into the dataset's ``stats.json``.

Per episode (exact, float64):

* vector/scalar features: per last dimension ``min, max, mean, std`` (population), quantiles
  ``q01 q10 q50 q90 q99`` with numpy's linear interpolation, and ``count`` = number of frames;
* image and video features: the same per channel, from exact pixel histograms (`workers.stats`), scaled
  to [0, 1] with shape (3, 1, 1); ``count`` = number of frames that contributed (every path).

Across episodes (LeRobot v0.5.1's formulas): min of mins, max of maxes, count-weighted mean, parallel
variance ``sum(count_i * (std_i^2 + (mean_i - mean)^2)) / sum(count_i)``. Quantiles are aggregated as the
count-weighted mean of the episodes' quantiles - an approximation (exact for one episode), kept because
it is what LeRobot readers expect; exact dataset quantiles would need every episode's full data.
"""

from __future__ import annotations

import numpy as np

from workers.stats import DEFAULT_QUANTILES, quantile_key

STAT_KEYS = ("min", "max", "mean", "std", "count", *(quantile_key(q) for q in DEFAULT_QUANTILES))
QUANTILE_KEYS = tuple(quantile_key(q) for q in DEFAULT_QUANTILES)


def reduce_stats(
    values: np.ndarray, axis: int | tuple[int, ...] | None, keepdims: bool, count: int, quantiles=DEFAULT_QUANTILES
) -> dict[str, np.ndarray]:
    """``min, max`` (in the values' dtype), ``mean, std`` (population, float64), ``count`` and the ``quantiles``
    (numpy's linear interpolation) of ``values`` reduced over ``axis``."""
    as_float = values.astype(np.float64)
    stats = {
        "min": values.min(axis=axis, keepdims=keepdims),
        "max": values.max(axis=axis, keepdims=keepdims),
        "mean": as_float.mean(axis=axis, keepdims=keepdims),
        "std": as_float.std(axis=axis, keepdims=keepdims),
        "count": np.array([count], dtype=np.int64),
    }
    for q in quantiles:
        stats[quantile_key(q)] = np.quantile(as_float, q, axis=axis, keepdims=keepdims)
    return stats


def get_feature_stats(array: np.ndarray) -> dict[str, np.ndarray]:
    """Stats over axis 0 of a (frames, ...) array, per last dimension; ``count`` = frames."""
    values = np.asarray(array)
    if values.size == 0:
        raise ValueError("Cannot compute statistics of an empty array.")
    frames = values.shape[0]
    flat = values.reshape(frames, -1) if values.ndim <= 2 else values.reshape(-1, values.shape[-1])
    stats = reduce_stats(flat, 0, False, frames)
    is_integer = np.issubdtype(values.dtype, np.integer) or values.dtype == np.bool_
    for key in ("min", "max"):
        stats[key] = stats[key].astype(np.int64 if is_integer else np.float64)
    return stats


def camera_stats_from_pixels(stats: dict[str, np.ndarray], depth: bool = False) -> dict[str, np.ndarray]:
    """Per-channel stats from the encoders -> LeRobot's layout, shape (C, 1, 1): RGB from the 0-255 scale
    to [0, 1]; depth stays in its recorded unit (millimetres or metres), as LeRobot v0.6 keeps it."""
    scale = 1.0 if depth else 255.0
    out = {}
    for key in (*STAT_KEYS, *(k for k in stats if k not in STAT_KEYS)):  # other quantiles, if asked for
        value = np.asarray(stats[key])
        out[key] = value.astype(np.int64) if key == "count" else (value.astype(np.float64) / scale).reshape(-1, 1, 1)
    return out


def compute_episode_stats(episode_data: dict[str, np.ndarray], features: dict[str, dict]) -> dict[str, dict]:
    """Stats of every numeric feature present in ``episode_data`` (strings and cameras are skipped)."""
    stats = {}
    for name, feature in features.items():
        if feature["dtype"] in ("string", "image", "video") or name not in episode_data:
            continue
        stats[name] = get_feature_stats(np.asarray(episode_data[name]))
    return stats


def aggregate_feature_stats(stats_list: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """Combine one feature's stats of several episodes (see the module docstring for the formulas)."""
    counts = np.array([np.asarray(s["count"]).reshape(-1)[0] for s in stats_list], dtype=np.float64)
    total = counts.sum()
    first = stats_list[0]
    weights = counts.reshape((-1,) + (1,) * np.asarray(first["mean"]).ndim)
    means = np.stack([np.asarray(s["mean"], dtype=np.float64) for s in stats_list])
    stds = np.stack([np.asarray(s["std"], dtype=np.float64) for s in stats_list])
    mean = (means * weights).sum(axis=0) / total
    variance = ((stds**2 + (means - mean) ** 2) * weights).sum(axis=0) / total
    result = {
        "min": np.min(np.stack([s["min"] for s in stats_list]), axis=0),
        "max": np.max(np.stack([s["max"] for s in stats_list]), axis=0),
        "mean": mean,
        "std": np.sqrt(variance),
        "count": np.array([int(total)], dtype=np.int64),
    }
    for key in QUANTILE_KEYS:
        if all(key in s for s in stats_list):
            values = np.stack([np.asarray(s[key], dtype=np.float64) for s in stats_list])
            result[key] = (values * weights).sum(axis=0) / total
    return result


def aggregate_stats(stats_list: list[dict[str, dict]], order: list[str] | None = None) -> dict[str, dict]:
    """Combine per-episode stats dicts. Keys follow ``order`` (the dataset's feature order), then first
    appearance, so ``stats.json`` is deterministic."""
    names: list[str] = []
    for name in [*(order or []), *(k for s in stats_list for k in s)]:
        if name not in names and any(name in s for s in stats_list):
            names.append(name)
    return {name: _ordered(aggregate_feature_stats([s[name] for s in stats_list if name in s])) for name in names}


def _ordered(stats: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    return {key: stats[key] for key in STAT_KEYS if key in stats}
