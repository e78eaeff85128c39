"""Datasets read back through LeRobotDataset: what opening them gives, image features, transforms, and what a
read-only dataset refuses."""

from __future__ import annotations

import json

import numpy as np
import pytest
from helpers import FPS, dataset_tables, features, frame, read_identity, record

from lerobot_stream.datasets.dataset_reader import decode_png_bytes
from lerobot_stream.datasets.lerobot_dataset import LeRobotDataset


def test_read_only_dataset_refuses_to_record(tmp_path):
    dataset = LeRobotDataset.create(
        "test/ro", fps=FPS, features=features(1), root=tmp_path / "ds", streaming_encoding=True
    )
    record(dataset, [3], 1)
    dataset.finalize()
    reader = LeRobotDataset("test/ro", root=tmp_path / "ds")
    assert reader.writer is None and len(reader) == 3 and reader.num_episodes == 1
    with pytest.raises(RuntimeError, match="read-only"):
        reader.add_frame(frame(0, 1, "t"))
    assert reader[2]["index"] == 2


def test_image_features_are_embedded_and_read_back(tmp_path):
    root = tmp_path / "ds"
    spec = features(1, camera_dtype="image")
    dataset = LeRobotDataset.create("test/img", fps=FPS, features=spec, root=root)
    record(dataset, [3, 2], 1)
    dataset.finalize()
    data, _ = dataset_tables(root)
    assert not (root / "images").exists()

    assert [read_identity(decode_png_bytes(r["observation.images.cam0"]["bytes"])) for r in data] == list(range(5))
    assert data[0]["observation.images.cam0"]["path"] == "frame-000000.png"
    stats = json.loads((root / "meta/stats.json").read_text())
    assert stats["observation.images.cam0"]["count"] == [5]


def test_create_and_open_define_the_same_attributes(tmp_path):
    created = LeRobotDataset.create(
        "test/attrs", fps=FPS, features=features(1), root=tmp_path / "ds", streaming_encoding=True
    )
    record(created, [2], 1)
    created.finalize()
    opened = LeRobotDataset("test/attrs", root=tmp_path / "ds")
    resumed = LeRobotDataset.resume("test/attrs", root=tmp_path / "ds")
    assert vars(created).keys() == vars(opened).keys() == vars(resumed).keys()
    assert opened.fps == FPS and opened.features is opened.meta.features
    resumed.finalize()


def test_reading_applies_image_transforms_and_refuses_delta_timestamps(tmp_path):
    root = tmp_path / "ds"
    dataset = LeRobotDataset.create("test/read", fps=FPS, features=features(1), root=root, streaming_encoding=True)
    record(dataset, [3], cameras=1)
    dataset.finalize()
    plain = LeRobotDataset("test/read", root=root)[1]["observation.images.cam0"]
    inverted = LeRobotDataset("test/read", root=root, image_transforms=lambda image: 1 - image)
    assert np.allclose(np.asarray(inverted[1]["observation.images.cam0"]), 1 - np.asarray(plain))
    with pytest.raises(NotImplementedError, match="delta_timestamps"):
        LeRobotDataset("test/read", root=root, delta_timestamps={"action": [-0.1, 0.0]})[0]
