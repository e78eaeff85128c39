"""Running image statistics: exact, in floating point, equal to numpy over the same pixels."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import numpy_stats

from workers.stats import ImageStatsAccumulator, downsample_factor, stats_sample


@pytest.mark.parametrize(("height", "width"), [(64, 96), (480, 640), (720, 1280), (301, 17)])
def test_accumulated_stats_equal_numpy_over_the_same_pixels(height, width):
    rng = np.random.default_rng(height * width)
    frames = [rng.integers(0, 256, (height, width, 3), dtype=np.uint8) // (i + 1) for i in range(5)]
    accumulator = ImageStatsAccumulator()
    for frame in frames:
        accumulator.update(frame)
    stats = accumulator.statistics()
    expected = numpy_stats(frames)
    for key, value in expected.items():
        np.testing.assert_allclose(stats[key], value, rtol=0, atol=1e-9, err_msg=key)
    assert stats["count"].tolist() == [5]  # frames, not pixels


def test_std_does_not_overflow_on_uint8():
    rng = np.random.default_rng(0)
    frame = rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)
    accumulator = ImageStatsAccumulator()
    accumulator.update(frame)
    assert np.all(accumulator.statistics()["std"] > 60)  # uniform noise: ~73.9


def test_single_frame_and_merge():
    a, b = ImageStatsAccumulator(), ImageStatsAccumulator()
    assert a.statistics() is None
    f1 = np.full((10, 10, 3), 10, np.uint8)
    f2 = np.full((10, 10, 3), 30, np.uint8)
    a.update(f1)
    assert a.statistics()["std"].tolist() == [0.0, 0.0, 0.0]
    b.update(f2)
    a.merge(b)
    stats = a.statistics()
    assert stats["mean"].tolist() == [20.0] * 3 and stats["std"].tolist() == [10.0] * 3
    assert stats["count"].tolist() == [2]
    restored = ImageStatsAccumulator.from_snapshot(*a.snapshot())
    assert restored.statistics()["q50"].tolist() == stats["q50"].tolist()


def test_downsampling_matches_lerobot():
    assert downsample_factor(64, 96) == 1
    assert downsample_factor(480, 640) == 4
    assert downsample_factor(720, 1280) == 8
    assert downsample_factor(640, 480) == 4
    assert stats_sample(np.zeros((480, 640, 3), np.uint8)).shape == (120, 160, 3)
