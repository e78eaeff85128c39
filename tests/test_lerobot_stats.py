"""LeRobot's ``compute_stats`` API, as its own tests call it (v0.6.1's ``tests/datasets/test_compute_stats.py``,
rewritten here): ``get_feature_stats(array, axis, keepdims)``, ``compute_episode_stats`` over image files read
through the patchable ``load_image_as_numpy``, and ``sample_images``."""

from __future__ import annotations

import numpy as np
import pytest

from lerobot_stream.datasets import compute_stats
from lerobot_stream.datasets.compute_stats import compute_episode_stats, get_feature_stats, sample_images
from lerobot_stream.datasets.io_utils import load_image_as_numpy
from lerobot_stream.storage.tiff import write_tiff

GRID = np.array([[1, 2, 3], [4, 5, 6], [7, 8, 9]])


@pytest.mark.parametrize(
    "axis, keepdims, expected",
    [
        ((0,), True, {"min": [[1, 2, 3]], "max": [[7, 8, 9]], "mean": [[4.0, 5.0, 6.0]], "std": [[6**0.5] * 3]}),
        (0, False, {"min": [1, 2, 3], "max": [7, 8, 9], "mean": [4.0, 5.0, 6.0], "std": [6**0.5] * 3}),
        ((1,), False, {"min": [1, 4, 7], "max": [3, 6, 9], "mean": [2.0, 5.0, 8.0], "std": [(2 / 3) ** 0.5] * 3}),
        (None, False, {"min": [1], "max": [9], "mean": [5.0], "std": [(20 / 3) ** 0.5]}),
    ],
)
def test_feature_stats_along_each_of_lerobots_axes(axis, keepdims, expected):
    stats = get_feature_stats(GRID, axis=axis, keepdims=keepdims)
    for key, values in expected.items():
        np.testing.assert_allclose(stats[key], np.array(values), err_msg=key)
        assert stats[key].shape == np.array(values).shape, key
    assert stats["count"].tolist() == [3]
    assert {"q01", "q10", "q50", "q90", "q99"} <= set(stats)
    np.testing.assert_allclose(stats["q50"], np.median(GRID, axis=axis, keepdims=keepdims).reshape(stats["q50"].shape))


def test_image_stats_are_per_channel_and_count_images():
    images = np.random.default_rng(0).random((20, 3, 8, 8))
    stats = get_feature_stats(images, axis=(0, 2, 3), keepdims=True)
    assert stats["mean"].shape == stats["std"].shape == stats["q99"].shape == (1, 3, 1, 1)
    assert stats["count"].tolist() == [20]
    expected = images.transpose(0, 2, 3, 1).reshape(-1, 3)
    np.testing.assert_allclose(stats["std"].reshape(3), expected.std(axis=0))
    uint8 = (images * 255).astype(np.uint8)  # no overflow in the sums
    np.testing.assert_allclose(
        get_feature_stats(uint8, axis=(0, 2, 3), keepdims=True)["std"].reshape(3),
        uint8.transpose(0, 2, 3, 1).reshape(-1, 3).std(axis=0),
    )


def test_a_single_value_a_vector_and_bad_input():
    single = get_feature_stats(np.array([[1337]]), axis=None, keepdims=True)
    assert single["min"].item() == single["max"].item() == single["mean"].item() == 1337 and single["std"].item() == 0
    vector = get_feature_stats(np.arange(5.0), axis=0, keepdims=True)  # one feature: shape (1,), as LeRobot's
    assert vector["mean"].shape == (1,) and vector["mean"].item() == 2.0
    with pytest.raises(ValueError, match="empty"):
        get_feature_stats(np.array([]), axis=(0,), keepdims=True)
    with pytest.raises(ValueError, match=r"Unsupported axis configuration: \(1, 2\)"):
        get_feature_stats(np.zeros((4, 5)), axis=(1, 2), keepdims=False)
    custom = get_feature_stats(GRID, axis=0, keepdims=False, quantile_list=[0.25])
    assert "q25" in custom and "q50" not in custom


def _fake_image(path, dtype, channel_first):
    """What LeRobot's test patches in: 32x32 ramps, depth (uint16, up to 1023) for paths naming depth."""
    depth = "depth" in str(path)
    ramp = np.arange((1 if depth else 3) * 32 * 32).reshape(1 if depth else 3, 32, 32)
    image = ramp.astype(np.uint16 if depth else dtype)
    return image if channel_first else image.transpose(1, 2, 0)


def test_episode_stats_read_images_through_the_patchable_loader(monkeypatch):
    monkeypatch.setattr(compute_stats, "load_image_as_numpy", _fake_image)
    episode = {
        "observation.image": [f"image_{i}.png" for i in range(40)],
        "observation.images.depth": [f"depth_{i}.tiff" for i in range(40)],
        "observation.state": np.random.default_rng(1).random((40, 4)),
        "task": ["pick"] * 40,
    }
    features = {
        "observation.image": {"dtype": "image"},
        "observation.images.depth": {"dtype": "image", "info": {"is_depth_map": True}},
        "observation.state": {"dtype": "float32", "shape": (4,)},
        "task": {"dtype": "string"},
    }
    stats = compute_episode_stats(episode, features)
    assert set(stats) == {"observation.image", "observation.images.depth", "observation.state"}
    rgb, depth = stats["observation.image"], stats["observation.images.depth"]
    assert rgb["mean"].shape == (3, 1, 1) and depth["mean"].shape == (1, 1, 1)
    assert rgb["count"].item() == depth["count"].item() == stats["observation.state"]["count"].item() == 40
    np.testing.assert_allclose(rgb["min"], 0.0)  # RGB in [0, 1]
    np.testing.assert_allclose(rgb["max"], 1.0)
    assert depth["min"].item() == 0.0 and depth["max"].item() == 1023.0  # depth in its own unit, not / 255


def test_images_are_loaded_from_real_files_and_sampled(tmp_path):
    from lerobot_stream.datasets.image_writer import write_image

    rgb = np.random.default_rng(2).integers(0, 256, (40, 50, 3), dtype=np.uint8)
    write_image(rgb, tmp_path / "frame.png")
    np.testing.assert_array_equal(load_image_as_numpy(tmp_path / "frame.png", np.uint8, channel_first=False), rgb)
    as_float = load_image_as_numpy(str(tmp_path / "frame.png"))
    assert as_float.shape == (3, 40, 50) and as_float.dtype == np.float32 and as_float.max() <= 1.0
    depth = np.random.default_rng(3).integers(0, 5000, (40, 50), dtype=np.uint16)
    write_tiff(tmp_path / "depth.tiff", depth)
    loaded = load_image_as_numpy(tmp_path / "depth.tiff", channel_first=True)
    assert loaded.shape == (1, 40, 50) and loaded.dtype == np.uint16
    np.testing.assert_array_equal(loaded[0], depth)

    paths = [tmp_path / "frame.png"] * 150
    sampled = sample_images(paths)
    assert sampled.dtype == np.uint8 and sampled.shape == (122, 3, 40, 50)  # 10 * sqrt(150) of 150
    assert len(sample_images(paths[:30])) == 30
