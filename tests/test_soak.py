"""Soak: many short episodes in one process; resources must stay flat.

The full size (200 episodes x 3 cameras) runs with LEROBOT_STREAM_FULL_SOAK=1; CI runs a reduced size.
"""

from __future__ import annotations

import gc
import os

import numpy as np
import psutil
import pytest
from helpers import encoder_children, identity_frame, own_segments

from lerobot_stream.datasets.lerobot_dataset import LeRobotDataset
from lerobot_stream.recovery.integrity import inspect_dataset

FULL = os.environ.get("LEROBOT_STREAM_FULL_SOAK") == "1"
EPISODES = 200 if FULL else 40
WARM_UP = 10
KEYS = [f"observation.images.cam{c}" for c in range(3)]


def _resources() -> dict[str, float]:
    me = psutil.Process()
    workers = encoder_children()
    return {
        "rss_mb": me.memory_info().rss / 2**20,
        "worker_rss_mb": sum(w.memory_info().rss for w in workers) / 2**20,
        "fds": me.num_fds(),
        "threads": me.num_threads(),
        "children": len(workers),
        "segments": len(own_segments()),
    }


@pytest.mark.slow
@pytest.mark.timeout(1800 if FULL else 300)
def test_many_short_episodes_keep_resources_flat(tmp_path):
    features = {key: {"dtype": "video", "shape": (64, 96, 3), "names": None} for key in KEYS}
    features["action"] = {"dtype": "float32", "shape": (2,), "names": None}
    dataset = LeRobotDataset.create(
        "test/soak", fps=30, features=features, root=tmp_path / "ds", streaming_encoding=True
    )
    samples = []
    g = 0
    for episode in range(EPISODES):
        for _ in range(4):
            frame = {key: identity_frame(g % 4000, camera=c) for c, key in enumerate(KEYS)}
            frame["action"] = np.zeros(2, np.float32)
            frame["task"] = "soak"
            dataset.add_frame(frame)
            g += 1
        if episode % 7 == 3:
            dataset.clear_episode_buffer()  # exercise cancel too
        else:
            dataset.save_episode()
        if episode == WARM_UP or episode == EPISODES - 1:
            dataset.wait_for_saved_episodes()  # the background commit's thread is gone then
            gc.collect()
            samples.append(_resources())
    dataset.finalize()
    before, after = samples
    assert after["children"] == before["children"] == 3
    assert after["segments"] == before["segments"] == 3
    assert after["fds"] <= before["fds"] + 2, (before, after)
    assert after["threads"] <= before["threads"] + 1, (before, after)
    assert after["rss_mb"] - before["rss_mb"] < 40, (before, after)
    assert after["worker_rss_mb"] - before["worker_rss_mb"] < 60, (before, after)
    report = inspect_dataset(tmp_path / "ds", decode_videos=not FULL)
    assert report.healthy, report.problems
    assert len(report.episodes) == EPISODES - len([e for e in range(EPISODES) if e % 7 == 3])
