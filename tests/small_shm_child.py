"""Recorders run with a small private /dev/shm (a tmpfs the test mounts in a mount namespace, as root).

Usage: ``python small_shm_child.py MODE DIR``; prints one ``REPORT <json>`` line.

* ``lerobot-sequence``: LeRobot's call sequence - no frame shapes before the first frame, so every camera's
  ring is created inside the loop and reserved later by its encoder process - with more cameras than
  /dev/shm holds;
* ``create``: ``LeRobotDataset.create`` with more cameras than /dev/shm holds, then again with fewer.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

from lerobot_stream.datasets.lerobot_dataset import LeRobotDataset
from lerobot_stream.datasets.video_utils import StreamingVideoEncoder

H, W = 480, 640  # a 30-frame ring: 26.4 MiB


def lerobot_sequence(directory: Path) -> dict:
    report: dict = {"fed": 0}
    keys = [f"cam{c}" for c in range(4)]
    with StreamingVideoEncoder(fps=30) as encoder:
        encoder.start_episode(keys, directory)
        try:
            for i in range(60):
                for key in keys:
                    encoder.feed_frame(key, np.full((H, W, 3), i, np.uint8))
                    report["fed"] += 1
        except Exception as exc:
            report["error"] = f"{type(exc).__name__}: {exc}"
        encoder.cancel_episode()
    return report


def create(directory: Path) -> dict:
    report: dict = {}
    root = directory / "ds"

    def features(cameras: int) -> dict:
        return {f"cam{c}": {"dtype": "video", "shape": (H, W, 3), "names": None} for c in range(cameras)}

    try:
        LeRobotDataset.create("t/shm", fps=30, features=features(4), root=root, streaming_encoding=True)
    except Exception as exc:
        report["error"] = f"{type(exc).__name__}: {exc}"
    report["left_behind"] = root.exists()
    dataset = LeRobotDataset.create("t/shm", fps=30, features=features(1), root=root, streaming_encoding=True)
    for i in range(3):
        dataset.add_frame({"cam0": np.full((H, W, 3), i, np.uint8), "task": "t"})
    dataset.save_episode()
    dataset.finalize()
    report["retry_frames"] = dataset.meta.total_frames
    return report


if __name__ == "__main__":
    mode, directory = sys.argv[1], Path(sys.argv[2])
    result = {"lerobot-sequence": lerobot_sequence, "create": create}[mode](directory)
    print("REPORT " + json.dumps(result), flush=True)
