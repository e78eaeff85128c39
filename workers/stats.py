"""Running per-channel image statistics, kept as exact 256-bin histograms of uint8 pixel values.

A uint8 channel has only 256 possible values, so a histogram of counts loses nothing: min, max, mean,
std and every quantile computed from it equal numpy's over the same pixels (quantiles with numpy's
default "linear" method), in float64, with no overflow (LeRobot v0.5.1 squared uint8 values in uint8).
Updating costs one ``bincount`` per frame, and two accumulators merge by adding histograms.

Pixels are sampled the way LeRobot samples them (``auto_downsample_height_width``): frames whose longer
side is 300 px or more are strided down to about 150 px.

``count`` is the number of **frames** that contributed - the same meaning on every recording path
(LeRobot's streaming path counted pixels, its PNG path frames). Frames repeated to fill a drop are not
observations and do not contribute.
"""

from __future__ import annotations

import numpy as np

DEFAULT_QUANTILES: tuple[float, ...] = (0.01, 0.10, 0.50, 0.90, 0.99)
_LEVELS = np.arange(256, dtype=np.float64)


def quantile_key(q: float) -> str:
    return f"q{round(q * 100):02d}"


def downsample_factor(height: int, width: int, target_size: int = 150, max_size_threshold: int = 300) -> int:
    """LeRobot's stride for image statistics: 1 below 300 px, else about (longer side / 150)."""
    if max(height, width) < max_size_threshold:
        return 1
    return max(1, int((width if width > height else height) / target_size))


def stats_sample(frame_hwc: np.ndarray) -> np.ndarray:
    """The strided view of a HWC frame whose pixels enter the statistics."""
    step = downsample_factor(frame_hwc.shape[0], frame_hwc.shape[1])
    return frame_hwc[::step, ::step] if step > 1 else frame_hwc


def _quantile_from_histogram(cumulative: np.ndarray, total: int, q: float) -> float:
    """numpy's linear-interpolation quantile of the sorted values that ``cumulative`` describes."""
    position = q * (total - 1)
    lower = int(np.floor(position))
    fraction = position - lower
    lower_value = int(np.searchsorted(cumulative, lower, side="right"))
    if fraction == 0.0 or lower + 1 >= total:
        return float(lower_value)
    upper_value = int(np.searchsorted(cumulative, lower + 1, side="right"))
    return lower_value + fraction * (upper_value - lower_value)


class ImageStatsAccumulator:
    """Per-channel histograms of uint8 HWC frames; see the module docstring."""

    def __init__(self, channels: int = 3):
        self.channels = channels
        self.histograms = np.zeros((channels, 256), dtype=np.int64)
        self.frames = 0

    def update(self, frame_hwc: np.ndarray) -> None:
        """Add one uint8 frame of shape (H, W, channels)."""
        sample = stats_sample(frame_hwc)
        for channel in range(self.channels):  # uint8 input: ~3x faster than one bincount over offset indices
            self.histograms[channel] += np.bincount(sample[..., channel].ravel(), minlength=256)
        self.frames += 1

    def merge(self, other: ImageStatsAccumulator) -> None:
        self.histograms += other.histograms
        self.frames += other.frames

    def snapshot(self) -> tuple[np.ndarray, int]:
        """A copy of the state, small enough to stream over a pipe (3 x 256 counts)."""
        return self.histograms.copy(), self.frames

    @classmethod
    def from_snapshot(cls, histograms: np.ndarray, frames: int) -> ImageStatsAccumulator:
        accumulator = cls(histograms.shape[0])
        accumulator.histograms = np.array(histograms, dtype=np.int64)
        accumulator.frames = int(frames)
        return accumulator

    def statistics(self, quantiles: tuple[float, ...] = DEFAULT_QUANTILES) -> dict[str, np.ndarray] | None:
        """``min, max, mean, std, count`` and quantiles; values per channel, shape (C,), 0-255 scale.

        None before the first frame.
        """
        if self.frames == 0:
            return None
        per_channel: dict[str, list[float]] = {k: [] for k in ("min", "max", "mean", "std")}
        per_channel.update({quantile_key(q): [] for q in quantiles})
        for histogram in self.histograms:
            total = int(histogram.sum())
            present = np.flatnonzero(histogram)
            # Exact integer sums: the variance does not suffer from cancellation.
            first = sum(int(v) * int(histogram[v]) for v in present)
            second = sum(int(v) * int(v) * int(histogram[v]) for v in present)
            mean = first / total
            variance = max(0.0, (second * total - first * first) / (total * total))
            per_channel["min"].append(float(present[0]))
            per_channel["max"].append(float(present[-1]))
            per_channel["mean"].append(mean)
            per_channel["std"].append(float(np.sqrt(variance)))
            cumulative = np.cumsum(histogram)
            for q in quantiles:
                per_channel[quantile_key(q)].append(_quantile_from_histogram(cumulative, total, q))
        result = {key: np.asarray(values, dtype=np.float64) for key, values in per_channel.items()}
        result["count"] = np.array([self.frames], dtype=np.int64)
        return result


class DepthStatsAccumulator:
    """Running statistics of depth maps, in the unit they were recorded in (one channel).

    * ``uint16`` millimetres: an exact 65536-bin histogram, so every figure equals numpy's over the same
      pixels, as for RGB.
    * ``float`` metres: min, max, mean and std exact (Chan's parallel merge of per-frame moments, in
      float64); quantiles from a 1 mm histogram, so they are exact to 1 mm. Non-finite pixels (NaN, inf:
      "no reading" in many simulators) are left out of the statistics.

    Pixels are sampled as for RGB (`stats_sample`), and ``count`` is a number of frames.
    """

    channels = 1

    def __init__(self) -> None:
        self.histogram = np.zeros(65536, dtype=np.int64)
        self.frames = 0
        self._pixels = 0
        self._mean = 0.0
        self._m2 = 0.0
        self._min = np.inf
        self._max = -np.inf
        self._unit_scale = 1.0  # histogram bins per recorded unit: 1 for mm, 1000 for metres

    def update(self, depth: np.ndarray) -> None:
        """Add one 2-D depth frame (uint16 or float)."""
        sample = stats_sample(depth)
        if sample.dtype == np.uint16:
            self.histogram += np.bincount(sample.ravel(), minlength=65536)
            self.frames += 1
            return
        values = sample[np.isfinite(sample)].astype(np.float64)
        self.frames += 1
        if values.size == 0:
            return
        self._unit_scale = 1000.0
        bins = np.clip(np.rint(values * self._unit_scale), 0, 65535).astype(np.int64)
        self.histogram += np.bincount(bins, minlength=65536)
        count, mean = values.size, float(values.mean())
        m2 = float(((values - mean) ** 2).sum())
        total = self._pixels + count
        delta = mean - self._mean
        self._mean += delta * count / total
        self._m2 += m2 + delta * delta * self._pixels * count / total
        self._pixels = total
        self._min = min(self._min, float(values.min()))
        self._max = max(self._max, float(values.max()))

    def snapshot(self) -> tuple[None, int]:
        """What a progress message carries: no histogram (64K bins is too big to stream), the frame count."""
        return None, self.frames

    def statistics(self, quantiles: tuple[float, ...] = DEFAULT_QUANTILES) -> dict[str, np.ndarray] | None:
        """``min, max, mean, std, count`` and quantiles, each of shape (1,); None before the first frame
        (or when no frame had a finite pixel)."""
        total = int(self.histogram.sum())
        if self.frames == 0 or total == 0:
            return None
        cumulative = np.cumsum(self.histogram)
        if self._unit_scale == 1.0:  # exact integer millimetres
            present = np.flatnonzero(self.histogram)
            levels = present.astype(np.float64)
            weights = self.histogram[present].astype(np.float64)
            mean = float(np.dot(levels, weights) / total)
            variance = float(np.dot((levels - mean) ** 2, weights) / total)
            minimum, maximum = float(present[0]), float(present[-1])
        else:
            mean, variance = self._mean, self._m2 / self._pixels
            minimum, maximum = self._min, self._max
        result = {
            "min": np.array([minimum]),
            "max": np.array([maximum]),
            "mean": np.array([mean]),
            "std": np.array([np.sqrt(max(0.0, variance))]),
        }
        for q in quantiles:
            value = _quantile_from_histogram(cumulative, total, q) / self._unit_scale
            result[quantile_key(q)] = np.array([value])
        result["count"] = np.array([self.frames], dtype=np.int64)
        return result
