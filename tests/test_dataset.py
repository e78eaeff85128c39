"""LeRobot v3.0 datasets written through LeRobotDataset, read back with pyarrow and PyAV."""

from __future__ import annotations

import dataclasses
import gc
import json
import os
import time
from fractions import Fraction
from pathlib import Path

import numpy as np
import psutil
import pytest
from helpers import (
    FPS,
    H,
    W,
    check_dataset,
    count_frames,
    dataset_tables,
    features,
    frame,
    identities_shown,
    identity_frame,
    numpy_stats,
    record,
)

from lerobot_stream.datasets.lerobot_dataset import LeRobotDataset


@pytest.mark.parametrize(
    ("streaming", "cameras"), [(True, 1), (True, 3), (False, 2)], ids=["stream-1cam", "stream-3cam", "png-2cam"]
)
def test_round_trip_every_row_shows_its_own_frame(tmp_path, streaming, cameras):
    root = tmp_path / "ds"
    lengths = [7, 1, 12, 3]
    dataset = LeRobotDataset.create(
        "test/rt", fps=FPS, features=features(cameras), root=root, streaming_encoding=streaming
    )
    assert (dataset.writer._streaming_encoder is not None) == streaming
    record(dataset, lengths, cameras)
    assert dataset.meta.total_episodes == 4 and dataset.meta.total_frames == 23 and dataset.meta.total_tasks == 2
    dataset.finalize()
    check_dataset(root, lengths, cameras)
    assert sorted(p.name for p in root.iterdir()) == ["data", "meta", "videos"], "no staging files may remain"
    for c in range(cameras):
        assert count_frames(root / f"videos/observation.images.cam{c}/chunk-000/file-000.mp4") == 23


def test_episode_and_dataset_stats_match_numpy(tmp_path):
    root = tmp_path / "ds"
    dataset = LeRobotDataset.create("test/stats", fps=FPS, features=features(1), root=root, streaming_encoding=True)
    record(dataset, [5, 9], 1)
    dataset.finalize()
    _, episodes = dataset_tables(root)
    states = [np.arange(6, dtype=np.float32) + g for g in range(14)]
    second = np.stack(states[5:]).astype(np.float64)
    assert episodes[1]["stats/observation.state/mean"] == pytest.approx(second.mean(0).tolist())
    assert episodes[1]["stats/observation.state/std"] == pytest.approx(second.std(0).tolist())
    assert episodes[1]["stats/observation.state/q90"] == pytest.approx(np.quantile(second, 0.9, axis=0).tolist())
    assert episodes[1]["stats/observation.state/count"] == [9]
    expected = numpy_stats([identity_frame(g, H, W) for g in range(5, 14)])
    cam = np.asarray(episodes[1]["stats/observation.images.cam0/mean"])
    assert cam.shape == (3, 1, 1)
    assert cam.reshape(3) == pytest.approx(expected["mean"] / 255)
    assert episodes[1]["stats/observation.images.cam0/count"] == [9]  # frames, on every path
    stats = json.loads((root / "meta/stats.json").read_text())
    everything = np.stack(states).astype(np.float64)
    assert stats["observation.state"]["mean"] == pytest.approx(everything.mean(0).tolist())
    assert stats["observation.state"]["std"] == pytest.approx(everything.std(0).tolist())
    assert stats["observation.state"]["min"] == everything.min(0).tolist()
    assert stats["observation.state"]["count"] == [14]
    assert stats["observation.images.cam0"]["count"] == [14]
    assert stats["index"]["max"] == [13]
    assert list(stats) == [
        "observation.images.cam0",
        "observation.state",
        "action",
        "timestamp",
        "frame_index",
        "episode_index",
        "index",
        "task_index",
    ]
    assert list(stats["action"]) == ["min", "max", "mean", "std", "count", "q01", "q10", "q50", "q90", "q99"]


def test_rollover_to_new_files_and_chunks(tmp_path):
    root = tmp_path / "ds"
    dataset = LeRobotDataset.create("test/roll", fps=FPS, features=features(1), root=root, streaming_encoding=True)
    dataset.meta.update_chunk_settings(chunks_size=2, data_files_size_in_mb=0.001, video_files_size_in_mb=0.001)
    record(dataset, [4, 5, 6], 1)
    dataset.finalize()
    _, episodes = check_dataset(root, [4, 5, 6], 1)
    locations = [(e["data/chunk_index"], e["data/file_index"]) for e in episodes]
    assert locations == [(0, 0), (0, 1), (1, 0)]
    video_locations = [
        (e["videos/observation.images.cam0/chunk_index"], e["videos/observation.images.cam0/file_index"])
        for e in episodes
    ]
    assert video_locations == [(0, 0), (0, 1), (1, 0)]
    assert [e["videos/observation.images.cam0/from_timestamp"] for e in episodes] == [0.0, 0.0, 0.0]
    assert (root / "videos/observation.images.cam0/chunk-001/file-000.mp4").exists()


def test_resume_appends_to_new_files_and_continues_indices(tmp_path):
    root = tmp_path / "ds"
    dataset = LeRobotDataset.create("test/resume", fps=FPS, features=features(2), root=root, streaming_encoding=True)
    g = record(dataset, [5, 4], 2)
    dataset.finalize()
    resumed = LeRobotDataset.resume("test/resume", root=root, streaming_encoding=True)
    assert resumed.meta.total_episodes == 2
    record(resumed, [3, 6], 2, start=g)
    resumed.finalize()
    data, episodes = dataset_tables(root)
    assert [(e["data/chunk_index"], e["data/file_index"]) for e in episodes] == [(0, 0), (0, 0), (0, 1), (0, 1)]
    assert [e["meta/episodes/file_index"] for e in episodes] == [0, 0, 1, 1]
    assert [r["index"] for r in data] == list(range(18))
    for c in range(2):
        key = f"observation.images.cam{c}"
        assert [e[f"videos/{key}/file_index"] for e in episodes] == [0, 0, 1, 1]
        assert identities_shown(root, key, data, episodes, FPS) == list(range(18))


def test_clear_episode_buffer_mid_episode_leaves_no_staging_and_reuses_the_index(tmp_path):
    for streaming in (True, False):
        root = tmp_path / f"ds{streaming}"
        dataset = LeRobotDataset.create(
            "test/clear", fps=FPS, features=features(1), root=root, streaming_encoding=streaming
        )
        for g in range(5):
            dataset.add_frame(frame(100 + g, 1, "task 0"))
        dataset.clear_episode_buffer()
        assert not (root / "images").exists() and not (root / ".staging").exists()
        assert not dataset.has_pending_frames()
        record(dataset, [10], 1)
        dataset.finalize()
        data, _ = check_dataset(root, [10], 1)
        assert data[0]["episode_index"] == 0


def test_dropped_frames_are_repeated_and_recorded_so_video_and_rows_stay_aligned(tmp_path):
    root = tmp_path / "ds"
    dataset = LeRobotDataset.create(
        "test/drops", fps=FPS, features=features(1), root=root, streaming_encoding=True, encoder_queue_maxsize=2
    )
    encoder = dataset.writer._streaming_encoder
    dataset.add_frame(frame(0, 1, "task 0"))
    time.sleep(0.5)  # frame 0 is encoded and its slot released
    worker = psutil.Process(encoder.worker_pids()["observation.images.cam0"])
    worker.suspend()
    try:
        for g in range(1, 8):
            dataset.add_frame(frame(g, 1, "task 0"))
    finally:
        worker.resume()
    for g in range(8, 10):
        time.sleep(0.2)
        dataset.add_frame(frame(g, 1, "task 0"))
    dataset.save_episode()
    dataset.finalize()
    data, episodes = dataset_tables(root)
    repeated = episodes[0]["videos/observation.images.cam0/repeated_frames"]
    assert repeated == 5  # frames 1 and 2 fit in the 2-slot ring; 3..7 were dropped and filled
    shown = identities_shown(root, "observation.images.cam0", data, episodes, FPS)
    assert shown == [0, 1, 2, 2, 2, 2, 2, 2, 8, 9]
    assert count_frames(root / "videos/observation.images.cam0/chunk-000/file-000.mp4") == len(data) == 10


@pytest.mark.parametrize("streaming", [True, False], ids=["stream", "png"])
def test_add_frame_validation_names_feature_expected_and_received(tmp_path, streaming):
    dataset = LeRobotDataset.create(
        "test/validate", fps=FPS, features=features(1), root=tmp_path / "ds", streaming_encoding=streaming
    )
    good = frame(0, 1, "t")
    cases = [
        ({k: v for k, v in good.items() if k != "task"}, r"Missing features: \{'task'\}"),
        ({k: v for k, v in good.items() if k != "action"}, r"Missing features: \{'action'\}"),
        ({**good, "extra": np.zeros(1)}, r"Extra features: \{'extra'\}"),
        (
            {**good, "action": good["action"].astype(np.float64)},
            r"'action' of dtype 'float64' is not of the expected dtype 'float32'",
        ),
        (
            {**good, "action": np.zeros(3, np.float32)},
            r"'action' of shape '\(3,\)' does not have the expected shape '\(2,\)'",
        ),
        ({**good, "action": [0.0, 1.0]}, r"'action' is not a 'np.ndarray'"),
        ({**good, "observation.images.cam0": np.zeros((H, W + 1, 3), np.uint8)}, r"cam0' of shape '\(64, 97, 3\)'"),
        (
            {**good, "observation.images.cam0": np.full((H, W, 3), 2.0, np.float32)},
            r"cam0' is a float image.*\[2.0, 2.0\]",
        ),
        ({**good, "task": ""}, r"non-empty string"),
    ]
    for bad, message in cases:
        with pytest.raises(ValueError, match=message):
            dataset.add_frame(bad)
    assert not dataset.has_pending_frames()
    from PIL import Image

    dataset.add_frame(good)
    dataset.add_frame({**frame(1, 1, "t"), "observation.images.cam0": identity_frame(1, H, W).transpose(2, 0, 1)})
    dataset.add_frame({**frame(2, 1, "t"), "observation.images.cam0": identity_frame(2, H, W).astype(np.float32) / 255})
    dataset.add_frame({**frame(3, 1, "t"), "observation.images.cam0": Image.fromarray(identity_frame(3, H, W))})
    dataset.save_episode()
    dataset.finalize()
    data, episodes = dataset_tables(tmp_path / "ds")
    assert identities_shown(tmp_path / "ds", "observation.images.cam0", data, episodes, FPS) == [0, 1, 2, 3]


def test_save_with_no_frames_and_calls_after_finalize(tmp_path):
    dataset = LeRobotDataset.create(
        "test/order", fps=FPS, features=features(1), root=tmp_path / "ds", streaming_encoding=True
    )
    with pytest.raises(ValueError, match="add one or several frames"):
        dataset.save_episode()
    with pytest.raises(RuntimeError, match="finalize"):
        dataset[0]
    record(dataset, [2], 1)
    dataset.finalize()
    dataset.finalize()
    with pytest.raises(RuntimeError, match="finalized"):
        dataset.add_frame(frame(0, 1, "t"))
    item = dataset[1]
    assert item["observation.images.cam0"].shape == (3, H, W) and item["task"] == "task 0"


def test_invalid_codec_and_batch_encoding_are_rejected_before_anything_is_created(tmp_path):
    with pytest.raises(ValueError, match="Invalid vcodec"):
        LeRobotDataset.create("test/bad", fps=FPS, features=features(1), root=tmp_path / "a", vcodec="invalid_codec")
    with pytest.raises(ValueError, match="batch_encoding_size"):
        LeRobotDataset.create("test/bad", fps=FPS, features=features(1), root=tmp_path / "b", batch_encoding_size=0)
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


@pytest.mark.parametrize("streaming", [True, False], ids=["stream", "png"])
def test_batch_encoding_size_above_one_is_accepted_and_every_episode_is_complete_when_saved(tmp_path, streaming):
    """LeRobot batches PNG encoding over episodes; here episodes are encoded one at a time anyway, so a
    batch size > 1 changes nothing - each saved episode has its video as soon as the dataset's files are looked
    at (``dataset.root`` waits for an episode still being committed in the background)."""
    root = tmp_path / "ds"
    dataset = LeRobotDataset.create(
        "test/batch", fps=FPS, features=features(1), root=root, streaming_encoding=streaming, batch_encoding_size=3
    )
    record(dataset, [4], 1)
    assert count_frames(dataset.root / "videos/observation.images.cam0/chunk-000/file-000.mp4") == 4
    record(dataset, [5], 1, start=4)
    dataset.finalize()
    assert count_frames(root / "videos/observation.images.cam0/chunk-000/file-000.mp4") == 9


def test_with_block_discards_the_half_recorded_episode_on_exception(tmp_path):
    root = tmp_path / "ds"
    with (
        pytest.raises(KeyboardInterrupt),
        LeRobotDataset.create(
            "test/with", fps=FPS, features=features(1), root=root, streaming_encoding=True
        ) as dataset,
    ):
        record(dataset, [4], 1)
        for g in range(4, 7):
            dataset.add_frame(frame(g, 1, "task 1"))
        raise KeyboardInterrupt
    check_dataset(root, [4], 1)
    assert sorted(p.name for p in root.iterdir()) == ["data", "meta", "videos"]


def test_encoder_failure_is_reported_and_the_writer_stays_usable(tmp_path):
    root = tmp_path / "ds"
    dataset = LeRobotDataset.create("test/fail", fps=FPS, features=features(2), root=root, streaming_encoding=True)
    g = record(dataset, [3], 2)
    assert dataset.meta.total_episodes == 1  # waits for episode 0's videos: the kill is in episode 1 only
    for _ in range(3):
        dataset.add_frame(frame(g, 2, "task 1"))
        g += 1
    os.kill(dataset.writer._streaming_encoder.worker_pids()["observation.images.cam1"], 9)
    time.sleep(0.5)
    with pytest.raises(RuntimeError, match=r"observation.images.cam1.*SIGKILL"):
        dataset.add_frame(frame(g, 2, "task 1"))  # the next call on that camera reports the death
    with pytest.raises(RuntimeError, match=r"observation\.images\.cam1"):
        dataset.save_episode()
    assert dataset.meta.total_episodes == 1 and not dataset.has_pending_frames()
    record(dataset, [4], 2, start=100)
    dataset.finalize()
    data, episodes = dataset_tables(root)
    assert [e["length"] for e in episodes] == [3, 4]
    assert [r["index"] for r in data] == list(range(7))
    for c in range(2):
        shown = identities_shown(root, f"observation.images.cam{c}", data, episodes, FPS)
        assert shown == [0, 1, 2, 100, 101, 102, 103]
    assert sorted(p.name for p in root.iterdir()) == ["data", "meta", "videos"]


def test_an_abandoned_writer_frees_the_dataset_at_once(tmp_path):
    """A dataset dropped without finalize() releases its writer lock as soon as its last reference goes - no
    reference cycle may keep it (and the lock) alive until the cyclic garbage collector runs."""
    gc.disable()
    try:
        dataset = LeRobotDataset.create("test/abandoned", fps=FPS, features=features(2), root=tmp_path / "ds")
        record(dataset, [4], cameras=2)
        for index in range(3):  # an episode that is never saved, its frames staged as PNG files
            dataset.add_frame(frame(4 + index, 2, "left behind"))
        dataset.writer.image_writer.wait_until_done()
        staged = sorted((tmp_path / "ds" / "images").rglob("*.png"))
        del dataset
        # Garbage collection released the lock but touched no file: the unsaved episode is still there ...
        assert staged and all(path.exists() for path in staged)
        resumed = LeRobotDataset.resume("test/abandoned", root=tmp_path / "ds")
        # ... until the next open, which discards it like a crashed recorder's.
        assert not (tmp_path / "ds" / "images").exists()
        assert resumed.meta.total_episodes == 1 and resumed.meta.total_frames == 4
        resumed.finalize()
    finally:
        gc.enable()
    check_dataset(tmp_path / "ds", [4], cameras=2)


def _episode_video(path: Path, frames: int) -> Path:
    from workers.codecs import EncoderSettings
    from workers.encode import EpisodeEncoder

    encoder = EpisodeEncoder(path, EncoderSettings(fps=30, vcodec="h264", g=2, crf=23))
    for index in range(frames):
        encoder.add(index, identity_frame(index))
    encoder.finish()
    return path


def test_a_video_that_holds_fewer_frames_than_its_rows_is_never_appended(tmp_path):
    """The last check before an episode's video joins the dataset's file: the frames copied must be one per row
    of the episode (and the file's own, one per row of its saved episodes). A codec or a write that lost frames
    without an error (a CI run once saved a file of 388 frames for 390 rows on a full disk) fails the episode;
    the dataset's file is left as it was."""
    from lerobot_stream.errors import VideoFrameMismatch
    from lerobot_stream.storage.metadata import LeRobotDatasetMetadata
    from lerobot_stream.storage.video_placement import VideoPlacer

    meta = LeRobotDatasetMetadata.create(repo_id="t/frames", fps=30, features=features(1), root=tmp_path / "ds")
    key = meta.video_keys[0]
    placer = VideoPlacer(meta)
    placer.commit(placer.prepare(key, _episode_video(tmp_path / "first.mp4", 10), 10))
    target = placer.current_path(key)
    saved = target.read_bytes()
    short = _episode_video(tmp_path / "short.mp4", 8)
    with pytest.raises(VideoFrameMismatch, match=r"the episode's video holds 8 frame\(s\), not 10\. The episode is"):
        placer.prepare(key, short, 10)
    assert target.read_bytes() == saved and not list(target.parent.glob(".*pending*"))
    placer.restore_cursors({key: dataclasses.replace(placer.cursors()[key], end=Fraction(12, 30))})
    with pytest.raises(VideoFrameMismatch, match=r"file-000.mp4 \(saved episodes\) holds 10 frame\(s\), not 12"):
        placer.prepare(key, _episode_video(tmp_path / "next.mp4", 5), 5)
    assert target.read_bytes() == saved
    placer.restore_cursors({key: dataclasses.replace(placer.cursors()[key], end=Fraction(10, 30))})
    placer.commit(placer.prepare(key, short, 8))  # what it says it holds: appended
    assert count_frames(target) == 18
