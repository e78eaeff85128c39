"""Where LeRobot's own code meets our objects: the names its recording script imports, ``meta.tasks`` as
a DataFrame, file-path helpers, and the context managers that clean up after an interrupted recording."""

from __future__ import annotations

import subprocess
import sys

import av
import numpy as np
import pytest
from helpers import identity_frame, read_identity

from lerobot_stream.datasets import LeRobotDataset, VideoEncodingManager, safe_stop_image_writer
from lerobot_stream.datasets.dataset_writer import _encode_video_worker
from lerobot_stream.datasets.image_writer import write_image_or_raise
from lerobot_stream.datasets.utils import DEFAULT_IMAGE_PATH
from lerobot_stream.utils.feature_utils import build_dataset_frame, combine_feature_dicts

H, W, FPS = 48, 64, 30
CAM = "observation.images.cam0"


def features() -> dict:
    return {
        CAM: {"dtype": "video", "shape": (H, W, 3), "names": ["height", "width", "channels"]},
        "observation.state": {"dtype": "float32", "shape": (2,), "names": ["x", "y"]},
        "action": {"dtype": "float32", "shape": (2,), "names": ["x", "y"]},
    }


def record(dataset: LeRobotDataset, tasks: list[str], frames: int = 3) -> None:
    for task in tasks:
        for i in range(frames):
            dataset.add_frame(
                {
                    CAM: identity_frame(i, H, W),
                    "observation.state": np.zeros(2, np.float32),
                    "action": np.ones(2, np.float32),
                    "task": task,
                }
            )
        dataset.save_episode()


def test_meta_tasks_is_a_dataframe_and_file_paths_resolve(tmp_path):
    dataset = LeRobotDataset.create("t/c", fps=FPS, features=features(), root=tmp_path / "ds", streaming_encoding=True)
    assert dataset.meta.tasks is None
    record(dataset, ["pick", "place", "pick"])
    dataset.finalize()
    tasks = dataset.meta.tasks
    assert tasks.index.name == "task" and list(tasks.index) == ["pick", "place"]
    assert tasks.loc["place"].task_index == 1 and dataset.meta.get_task_index("pick") == 0
    assert str(dataset.meta.get_data_file_path(2)) == "data/chunk-000/file-000.parquet"
    assert str(dataset.meta.get_video_file_path(1, CAM)) == f"videos/{CAM}/chunk-000/file-000.mp4"
    with pytest.raises(IndexError, match="out of range"):
        dataset.meta.get_data_file_path(3)


def test_meta_tasks_is_a_dict_without_pandas(tmp_path):
    dataset = LeRobotDataset.create("t/c", fps=FPS, features=features(), root=tmp_path / "ds")
    record(dataset, ["pick"], frames=1)
    dataset.finalize()
    code = (
        "import sys\n"
        "class NoPandas:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'pandas' or name.startswith('pandas.'):\n"
        "            raise ModuleNotFoundError(\"No module named 'pandas'\")\n"
        "sys.meta_path.insert(0, NoPandas())\n"
        "from lerobot_stream.datasets.dataset_metadata import LeRobotDatasetMetadata\n"
        f"print(LeRobotDatasetMetadata('t/c', root={str(tmp_path / 'ds')!r}).tasks)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "{'pick': 0}"


def test_build_dataset_frame_and_combine_feature_dicts():
    combined = combine_feature_dicts(
        {"observation.state": {"dtype": "float32", "shape": (2,), "names": ["a", "b"]}},
        {"observation.state": {"dtype": "float32", "shape": (2,), "names": ["b", "c"]}, CAM: features()[CAM]},
    )
    assert combined["observation.state"] == {"dtype": "float32", "names": ["a", "b", "c"], "shape": (3,)}
    assert combined[CAM] == features()[CAM]
    with pytest.raises(ValueError, match="dtype mismatch"):
        combine_feature_dicts(
            {"x": {"dtype": "float32", "shape": (1,), "names": ["a"]}},
            {"x": {"dtype": "int64", "shape": (1,), "names": ["b"]}},
        )
    image = identity_frame(0, H, W)
    frame = build_dataset_frame(combined, {"a": 1.0, "b": 2.0, "c": 3.0, "cam0": image}, "observation")
    assert frame["observation.state"].tolist() == [1.0, 2.0, 3.0] and frame[CAM] is image


def test_video_encoding_manager_discards_the_interrupted_episode_and_finalizes(tmp_path):
    root = tmp_path / "ds"
    dataset = LeRobotDataset.create("t/c", fps=FPS, features=features(), root=root, streaming_encoding=True)
    with pytest.raises(KeyboardInterrupt), VideoEncodingManager(dataset):
        record(dataset, ["pick"])
        dataset.add_frame(
            {
                CAM: identity_frame(0, H, W),
                "observation.state": np.zeros(2, np.float32),
                "action": np.ones(2, np.float32),
                "task": "x",
            }
        )
        raise KeyboardInterrupt
    assert dataset.meta.total_episodes == 1 and dataset.writer._finalized
    assert sorted(p.name for p in root.iterdir()) == ["data", "meta", "videos"]


def test_safe_stop_image_writer_stops_the_writer_threads_on_error(tmp_path):
    dataset = LeRobotDataset.create("t/c", fps=FPS, features=features(), root=tmp_path / "ds", image_writer_threads=2)
    threads = list(dataset.writer.image_writer.threads)
    assert len(threads) == 2

    @safe_stop_image_writer
    def failing_loop(dataset):
        raise RuntimeError("robot unplugged")

    with pytest.raises(RuntimeError, match="unplugged"):
        failing_loop(dataset=dataset)
    assert dataset.writer.image_writer.stopped and not any(t.is_alive() for t in threads)
    record(dataset, ["after the error"])  # recording goes on: a new writer stages the next frames
    assert dataset.meta.total_frames == 3 and not any(t.is_alive() for t in threads)
    dataset.finalize()


@pytest.mark.parametrize(
    ("settings", "codec"), [({}, "av1"), ({"vcodec": "h264"}, "h264"), ({"video_encoder": "h264"}, "h264")]
)
def test_encode_video_worker_encodes_staged_frames_in_either_version_form(tmp_path, settings, codec):
    """LeRobot's module-level helper: v0.6 passes an encoder config (None: the AV1 defaults), v0.5 a vcodec."""
    key = CAM
    folder = tmp_path / DEFAULT_IMAGE_PATH.format(image_key=key, episode_index=0, frame_index=0)
    folder.parent.mkdir(parents=True)
    for index in range(3):
        write_image_or_raise(identity_frame(index, H, W), folder.parent / f"frame-{index:06d}.png")
    video = _encode_video_worker(key, 0, tmp_path, fps=FPS, **settings)
    with av.open(str(video)) as container:
        assert container.streams.video[0].codec_context.codec.canonical_name == codec
        assert [read_identity(f.to_ndarray(format="rgb24")) for f in container.decode(video=0)] == [0, 1, 2]
    assert not folder.parent.exists()  # the staged frames are deleted once encoded


def test_a_shape_1_feature_reads_back_as_a_scalar(tmp_path):
    """LeRobot stores a shape-(1,) feature as a scalar column and reads it back 0-d; with torch installed the
    value used to come back as a 1-d tensor (LeRobot's ``test_add_frame``)."""
    features = {"state": {"dtype": "float32", "shape": (1,), "names": None}}
    dataset = LeRobotDataset.create("test/scalar", fps=FPS, features=features, root=tmp_path / "ds")
    dataset.add_frame({"state": np.array([1.5], dtype=np.float32), "task": "Dummy task"})
    dataset.save_episode()
    dataset.finalize()
    value = dataset[0]["state"]
    assert value.ndim == 0 and float(value) == 1.5 and dataset[0]["task"] == "Dummy task"


def test_an_interrupted_episodes_staged_images_are_gone_even_while_still_being_written(tmp_path):
    """``cleanup_interrupted_episode`` right after ``add_frame``: a write still queued in the image writer used to
    create the episode's folder again after it was removed (LeRobot's
    ``test_cleanup_interrupted_episode_removes_image_temp_dirs``, one run in four)."""
    features = {
        "image": {"dtype": "image", "shape": (3, 64, 96), "names": ["channels", "height", "width"]},
        "video": {"dtype": "video", "shape": (64, 96, 3), "names": ["height", "width", "channels"]},
    }
    for attempt in range(5):
        dataset = LeRobotDataset.create("test/interrupted", fps=FPS, features=features, root=tmp_path / f"ds{attempt}")
        frame = {"image": np.random.rand(3, 64, 96), "video": np.random.rand(64, 96, 3), "task": "Dummy task"}
        for _ in range(3):
            dataset.add_frame(frame)
        folders = [dataset.writer._get_image_file_dir(0, key) for key in features]
        assert all(folder.is_dir() for folder in folders)
        dataset.writer.cleanup_interrupted_episode(episode_index=0)
        assert not any(folder.exists() for folder in folders), folders
        dataset.clear_episode_buffer()
        dataset.finalize()


def _state_dataset(root, episodes: int = 2, frames: int = 4, streaming: bool = True) -> LeRobotDataset:
    features = {
        "observation.state": {"dtype": "float32", "shape": (2,), "names": ["episode", "frame"]},
        "image": {"dtype": "image", "shape": (3, 16, 24), "names": ["channels", "height", "width"]},
    }
    dataset = LeRobotDataset.create("test/api", fps=10, features=features, root=root, streaming_encoding=streaming)
    for episode in range(episodes):
        for frame in range(frames):
            state = np.array([episode, frame], dtype=np.float32)
            dataset.add_frame({"observation.state": state, "image": np.full((3, 16, 24), 0.5), "task": "t"})
        dataset.save_episode()
    return dataset


def test_slices_transforms_and_the_rows_as_lerobot_v06_reads_them(tmp_path):
    """LeRobot v0.6's reading API: ``dataset[a:b]`` (also with ``delta_timestamps`` windows), ``hf_dataset`` after
    a resume, ``set_image_transforms``/``clear_image_transforms``."""
    dataset = _state_dataset(tmp_path / "ds")
    dataset.finalize()
    resumed = LeRobotDataset.resume("test/api", root=tmp_path / "ds")
    assert resumed.writer._pq_writer is None and resumed.meta._pq_writer is None
    resumed.finalize()
    reread = LeRobotDataset("test/api", root=tmp_path / "ds", delta_timestamps={"observation.state": [-0.1, 0.0]})
    assert len(reread.hf_dataset) == len(reread) == 8
    window = reread[4:6]
    assert [item["index"].item() for item in window] == [4, 5]
    assert np.asarray(window[0]["observation.state_is_pad"]).tolist() == [True, False]  # episode 1 starts at 4
    assert [item["index"].item() for item in reread[::-3]] == [7, 4, 1] and reread[8:] == []

    reread.set_image_transforms(lambda image: image[:, :8, :8])
    assert tuple(reread[0]["image"].shape) == (3, 8, 8)
    reread.clear_image_transforms()
    assert tuple(reread[0]["image"].shape) == (3, 16, 24)


def test_staged_image_folders_are_removed_once_the_episode_is_saved(tmp_path):
    """LeRobot's ``_get_image_file_dir``: the PNG path's staged frames of a saved episode are gone - every episode's
    videos are encoded when it is saved, whatever ``batch_encoding_size`` says (README, "LeRobot's own tests")."""
    dataset = _state_dataset(tmp_path / "ds", episodes=1, streaming=False)
    assert not dataset.writer._get_image_file_dir(0, "image").exists()
    dataset.finalize()
    assert not (tmp_path / "ds" / "images").exists()
