"""`save_episode` does not wait for the encoders (`lerobot_stream.recorder.pending_episodes`): the episode is
committed in the background once its videos are complete, and what a user sees meanwhile is decided and
documented. The encoders here are slower than the frames on purpose (x264 veryslow, one thread, noisy 320x240),
so saved episodes really are still encoding while the next is recorded."""

from __future__ import annotations

import logging
import os
import time

import numpy as np
import pytest
from helpers import dataset_tables, identities_shown, identity_frame

from lerobot_stream.configs.video import RGBEncoderConfig
from lerobot_stream.datasets.lerobot_dataset import LeRobotDataset
from lerobot_stream.datasets.video_utils import StreamingVideoEncoder
from lerobot_stream.errors import EpisodeSaveError
from lerobot_stream.recovery.integrity import inspect_dataset

H, W, FPS = 240, 320, 30
CAMERA = "observation.images.cam"
FEATURES = {
    CAMERA: {"dtype": "video", "shape": (H, W, 3), "names": ["height", "width", "channels"]},
    "observation.state": {"dtype": "float32", "shape": (2,), "names": ["a", "b"]},
}
_NOISE = np.random.default_rng(0).integers(0, 256, (8, H // 2, W, 3), dtype=np.uint8)


def _frame(g: int) -> dict:
    image = identity_frame(g, H, W)
    image[H // 2 :] = _NOISE[g % len(_NOISE)]  # below the identity band: as costly to encode as sensor noise
    return {CAMERA: image, "observation.state": np.array([g, -g], dtype=np.float32), "task": f"task {g // 1000}"}


def _slow_dataset(root, dataset_class=LeRobotDataset, **backlog) -> LeRobotDataset:
    return dataset_class.create(
        "t/pipelined",
        fps=FPS,
        features=FEATURES,
        root=root,
        streaming_encoding=True,
        rgb_encoder=RGBEncoderConfig(vcodec="h264", preset="veryslow"),
        encoder_threads=1,
        **backlog,
    )


def _record(dataset: LeRobotDataset, start: int, length: int, interval: float = 0.01) -> int:
    for g in range(start, start + length):
        dataset.add_frame(_frame(g))
        time.sleep(interval)
    return start + length


def _shown_and_states(root) -> tuple[list[dict], list[int], list[int]]:
    data, episodes = dataset_tables(root)
    states = [int(row["observation.state"][0]) for row in data]
    return episodes, identities_shown(root, CAMERA, data, episodes, FPS), states


def test_save_episode_returns_at_once_and_the_episodes_are_committed_in_order_whole(tmp_path):
    root = tmp_path / "ds"
    dataset = _slow_dataset(root)
    lengths, save_seconds, g = [40, 25, 30], [], 0
    for length in lengths:
        g = _record(dataset, g, length)
        started = time.perf_counter()
        dataset.save_episode()
        save_seconds.append(time.perf_counter() - started)
        assert dataset.num_episodes == len(save_seconds)  # counted as soon as saved
        assert dataset.episode_buffer["episode_index"] == len(save_seconds)
    assert dataset.writer.pending_episodes >= 1, "the encoders were behind: episodes were still being encoded"
    assert dataset.num_frames == sum(lengths)
    assert max(save_seconds) < 0.5, save_seconds
    assert dataset.meta.total_episodes == 3 and dataset.writer.pending_episodes == 0  # meta waits for them
    dataset.finalize()
    episodes, shown, states = _shown_and_states(root)
    assert [e["length"] for e in episodes] == lengths
    assert states == list(range(sum(lengths))) and shown == states  # every frame, exact, in its own episode
    assert all(e.get(f"videos/{CAMERA}/repeated_frames", 0) == 0 for e in episodes)
    assert inspect_dataset(root).healthy
    assert sorted(p.name for p in root.iterdir()) == ["data", "meta", "videos"]  # no journal, no staging left


def test_finalize_waits_for_the_saved_episodes_and_says_what_is_left(tmp_path, caplog):
    root = tmp_path / "ds"
    dataset = _slow_dataset(root)
    _record(dataset, 0, 100)  # far more than the encoder manages in the time it takes
    dataset.save_episode()
    assert dataset.writer.pending_episodes == 1
    with caplog.at_level(logging.INFO, logger="lerobot_stream.recorder.pending_episodes"):
        dataset.finalize()
    assert any("to finish encoding" in r.getMessage() and "frame(s) left" in r.getMessage() for r in caplog.records)
    episodes, shown, states = _shown_and_states(root)
    assert [e["length"] for e in episodes] == [100] and shown == states == list(range(100))


def test_clear_episode_buffer_discards_the_episode_being_recorded_never_a_saved_one(tmp_path):
    root = tmp_path / "ds"
    dataset = _slow_dataset(root)
    g = _record(dataset, 0, 30)
    dataset.save_episode()
    _record(dataset, 1000, 10)
    dataset.clear_episode_buffer()  # while episode 0 is still encoding
    assert dataset.num_episodes == 1
    _record(dataset, 2000, 12)
    dataset.save_episode()
    dataset.finalize()
    episodes, shown, states = _shown_and_states(root)
    assert [e["length"] for e in episodes] == [30, 12]
    assert states == [*range(g), *range(2000, 2012)] and shown == states


@pytest.mark.parametrize("spilling", [False, True], ids=["backlog-in-memory", "backlog-on-disk"])
def test_a_saved_episode_whose_encoder_dies_is_reported_and_later_episodes_close_the_gap(tmp_path, spilling):
    """The encoder is killed while episode 1 is still being encoded: what that process held in memory is gone.
    The next save_episode raises saying so (and that its own episode is kept), the dataset holds what every camera
    kept of episode 1 - or nothing of it - and the episodes recorded after it follow without a gap. With a backlog
    that spilled to disk, the spilled frames are encoded from the spill file: episode 1 keeps all its timesteps,
    and only those the process held in memory repeat a neighbour, counted."""
    root = tmp_path / "ds"
    dataset = _slow_dataset(root, **({"backlog_memory_mb": 0, "backlog_disk_reserve_mb": 0} if spilling else {}))
    _record(dataset, 0, 10)
    dataset.save_episode()
    assert dataset.meta.total_episodes == 1  # episode 0 is in: the kill is about episode 1 only
    _record(dataset, 1000, 60)
    dataset.save_episode()
    assert dataset.writer.pending_episodes == 1
    os.kill(dataset.writer._streaming_encoder.worker_pids()[CAMERA], 9)
    while dataset.writer.pending_episodes:
        time.sleep(0.05)
    _record(dataset, 2000, 8)
    with pytest.raises(EpisodeSaveError, match=r"Episode 1.*SIGKILL.*Episode \d, just saved, is kept") as raised:
        dataset.save_episode()
    if spilling:
        assert "All its 60 timesteps are in the dataset" in str(raised.value), raised.value
    dataset.finalize()
    episodes, shown, states = _shown_and_states(root)
    assert [e["episode_index"] for e in episodes] == list(range(len(episodes)))
    assert states[:10] == list(range(10)) and states[-8:] == list(range(2000, 2008))
    if spilling:
        assert [e["length"] for e in episodes] == [10, 60, 8]
        differ = [t for t, (a, b) in enumerate(zip(shown, states, strict=True)) if a != b]
        assert len(differ) == episodes[1][f"videos/{CAMERA}/repeated_frames"] < 60, differ
        assert all(10 <= t < 70 for t in differ)
    else:
        assert shown == states  # whatever was kept of episode 1 is paired frame for row
        assert len(states) in (18, 18 + episodes[1]["length"])
    assert inspect_dataset(root).healthy


def test_the_thread_backend_and_the_png_path_still_save_before_returning(tmp_path):
    class ThreadBacked(LeRobotDataset):
        @staticmethod
        def _build_streaming_encoder(fps, rgb_encoder, depth_encoder, encoder_queue_maxsize, encoder_threads):
            return StreamingVideoEncoder(
                fps=fps, rgb_encoder=rgb_encoder, queue_maxsize=encoder_queue_maxsize, backend="thread"
            )

    for dataset in (
        _slow_dataset(tmp_path / "thread", ThreadBacked),
        LeRobotDataset.create("t/png", fps=FPS, features=FEATURES, root=tmp_path / "png"),
    ):
        _record(dataset, 0, 5, interval=0.0)
        dataset.save_episode()
        assert dataset.writer.pending_episodes == 0 and dataset.writer._meta.total_episodes == 1
        dataset.finalize()
