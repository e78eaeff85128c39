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
