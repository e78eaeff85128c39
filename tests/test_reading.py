"""Datasets read back through LeRobotDataset: what opening them gives, image features, transforms, and what a
read-only dataset refuses."""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from helpers import FPS, H, W, dataset_tables, features, frame, read_identity, record

from lerobot_stream.datasets.dataset_reader import DatasetReader, decode_png_bytes
from lerobot_stream.datasets.lerobot_dataset import LeRobotDataset
from lerobot_stream.storage.metadata import LeRobotDatasetMetadata


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


def test_reading_applies_image_transforms(tmp_path):
    root = tmp_path / "ds"
    dataset = LeRobotDataset.create("test/read", fps=FPS, features=features(1), root=root, streaming_encoding=True)
    record(dataset, [3], cameras=1)
    dataset.finalize()
    plain = LeRobotDataset("test/read", root=root)[1]["observation.images.cam0"]
    inverted = LeRobotDataset("test/read", root=root, image_transforms=lambda image: 1 - image)
    assert np.allclose(np.asarray(inverted[1]["observation.images.cam0"]), 1 - np.asarray(plain))


def _identity(chw) -> int:
    return read_identity((np.asarray(chw) * 255).round().astype(np.uint8).transpose(1, 2, 0))


@pytest.fixture(scope="module")
def two_episodes(tmp_path_factory):
    """Episodes of 3 and 4 frames (global frames 0-2 and 3-6), one camera."""
    root = tmp_path_factory.mktemp("windows") / "ds"
    dataset = LeRobotDataset.create("test/win", fps=FPS, features=features(1), root=root, streaming_encoding=True)
    record(dataset, [3, 4], cameras=1)
    dataset.finalize()
    return root


def test_delta_timestamps_read_windows_that_stop_at_the_episode_ends(two_episodes):
    window = {
        "observation.state": [-1 / FPS, 0.0, 1 / FPS],
        "observation.images.cam0": [-2 / FPS, 0.0],
        "action": [0.0],
    }
    dataset = LeRobotDataset("test/win", root=two_episodes, delta_timestamps=window)

    first_of_second = dataset[3]  # global frame 3: the window must not reach back into episode 0
    state = np.asarray(first_of_second["observation.state"])
    assert state.shape == (3, 6) and [row[0] for row in state] == [3, 3, 4]
    assert np.asarray(first_of_second["observation.state_is_pad"]).tolist() == [True, False, False]
    camera = np.asarray(first_of_second["observation.images.cam0"])
    assert camera.shape == (2, 3, H, W) and [_identity(f) for f in camera] == [3, 3]
    assert np.asarray(first_of_second["observation.images.cam0_is_pad"]).tolist() == [True, False]
    assert np.asarray(first_of_second["action"]).shape == (1, 2)

    last_of_first = dataset[2]  # ... nor forward into episode 1
    assert [row[0] for row in np.asarray(last_of_first["observation.state"])] == [1, 2, 2]
    assert np.asarray(last_of_first["observation.state_is_pad"]).tolist() == [False, False, True]
    assert [_identity(f) for f in np.asarray(last_of_first["observation.images.cam0"])] == [0, 2]
    assert np.asarray(last_of_first["observation.images.cam0"]).shape[0] == 2


def test_delta_timestamps_on_selected_episodes_and_set_after_opening(two_episodes):
    dataset = LeRobotDataset("test/win", root=two_episodes, episodes=[1])
    dataset.delta_timestamps = {"observation.state": [-1 / FPS, 0.0]}  # as LeRobot's own tests set it
    item = dataset[1]  # global frame 4
    assert [row[0] for row in np.asarray(item["observation.state"])] == [3, 4]
    assert _identity(item["observation.images.cam0"]) == 4  # a camera without a window: one frame (C, H, W)


def test_delta_timestamps_off_the_frame_grid_or_unknown_are_clear_errors(two_episodes):
    with pytest.raises(ValueError, match=r"multiples of 1/30.*action"):
        LeRobotDataset("test/win", root=two_episodes, delta_timestamps={"action": [0.0, 0.01]})
    with pytest.raises(ValueError, match=r"delta_timestamps\['action'\] must be a list of seconds, got 0\.1"):
        LeRobotDataset("test/win", root=two_episodes, delta_timestamps={"action": 0.1})
    with pytest.raises(ValueError, match=r"observation\.gripper"):
        LeRobotDataset("test/win", root=two_episodes, delta_timestamps={"observation.gripper": [0.0]})


def test_reader_takes_lerobots_arguments_and_reads_local_data_only(two_episodes, tmp_path):
    dataset = LeRobotDataset("test/win", root=two_episodes)
    assert dataset.reader.num_frames == 7 and dataset.reader.num_episodes == 2  # opened: the reader is there
    assert dataset.reader.hf_dataset.num_rows == 7

    reader = DatasetReader(meta=dataset.meta, root=dataset.root, episodes=[1], return_uint8=True)
    assert reader.try_load() and reader.num_frames == 4 and reader.num_episodes == 1
    item = reader.get_item(0)
    camera = np.asarray(item["observation.images.cam0"])
    assert int(item["index"]) == 3 and camera.dtype == np.uint8 and camera.shape == (3, H, W)
    assert read_identity(camera.transpose(1, 2, 0)) == 3
    paths = [str(p) for p in reader.get_episodes_file_paths()]
    assert "data/chunk-000/file-000.parquet" in paths
    assert "videos/observation.images.cam0/chunk-000/file-000.mp4" in paths

    empty = LeRobotDatasetMetadata.create("test/empty", fps=FPS, features=features(1), root=tmp_path / "empty")
    nothing = DatasetReader(meta=empty)
    assert nothing.try_load() is False and nothing.hf_dataset is None and len(nothing) == 0
    with pytest.raises(FileNotFoundError, match="local datasets only"):
        nothing[0]


def test_subtasks_of_an_annotated_dataset_are_read(tmp_path):
    """LeRobot's annotation pipeline adds a ``subtask_index`` column and ``meta/subtasks.parquet``; items then name
    their subtask. A dataset without them has ``meta.subtasks`` None and no ``subtask`` in its items."""
    root = tmp_path / "ds"
    spec = {**features(0), "subtask_index": {"dtype": "int64", "shape": (1,), "names": None}}
    dataset = LeRobotDataset.create("test/sub", fps=FPS, features=spec, root=root)
    for index in range(4):
        dataset.add_frame({**frame(index, 0, "t"), "subtask_index": np.array([index // 2], dtype=np.int64)})
    dataset.save_episode()
    dataset.finalize()
    assert LeRobotDataset("test/sub", root=root).meta.subtasks is None
    assert "subtask" not in LeRobotDataset("test/sub", root=root)[0]

    table = pa.table({"subtask": ["reach", "grasp"], "subtask_index": pa.array([0, 1], pa.int64())})
    pq.write_table(table, root / "meta" / "subtasks.parquet")
    annotated = LeRobotDataset("test/sub", root=root)
    assert [annotated[i]["subtask"] for i in range(4)] == ["reach", "reach", "grasp", "grasp"]
    subtasks = annotated.meta.subtasks
    assert (list(subtasks.index) if hasattr(subtasks, "index") else list(subtasks)) == ["reach", "grasp"]


def test_a_damaged_subtasks_file_is_a_clear_error(tmp_path):
    root = tmp_path / "ds"
    dataset = LeRobotDataset.create("test/badsub", fps=FPS, features=features(0), root=root)
    record(dataset, [2], cameras=0)
    dataset.finalize()
    pq.write_table(pa.table({"name": ["reach"]}), root / "meta" / "subtasks.parquet")
    with pytest.raises(ValueError, match=r"subtasks\.parquet: expected columns 'subtask_index' and 'subtask'"):
        LeRobotDataset("test/badsub", root=root)


@pytest.mark.parametrize("vcodec", ["hevc", "h264"])
def test_every_item_of_a_b_frame_video_is_read_back(tmp_path, vcodec):
    """HEVC (the depth default) and H.264 store B-frames ahead of their presentation: a seek straight to an
    item's timestamp lost some frames ("no frame at 0.0667 s")."""
    root = tmp_path / "ds"
    dataset = LeRobotDataset.create(
        "test/b", fps=FPS, features=features(1), root=root, streaming_encoding=True, vcodec=vcodec
    )
    record(dataset, [12, 12], 1)
    dataset.finalize()
    reader = LeRobotDataset("test/b", root=root)
    shown = []
    for i in range(len(reader)):
        image = np.asarray(reader[i]["observation.images.cam0"])
        hwc = (image.transpose(1, 2, 0) * 255).round().astype(np.uint8) if image.shape[0] == 3 else image
        shown.append(read_identity(hwc))
    assert shown == list(range(24))
