"""A recorder run in a child process by the reliability tests, so that it can be killed for real.

Usage: ``python recorder_child.py MODE ROOT [ARG]``; it prints ``READY <json>`` lines the test waits for.

Modes:
* ``mid-episode``: save 2 episodes, then record frames of a 3rd until killed;
* ``die-at-commit``: save 2 episodes, then die (``os._exit``) inside the 3rd ``save_episode`` right
  after its videos and data are on disk and before its metadata row is written;
* ``die-after-commit``: the same, right after its metadata row is written (its journal not deleted yet);
* ``first-episode-h264``: record the first episode of an H.264 dataset until killed;
* ``behind``: record with encoders far behind real time until killed;
* ``behind-saved``: the same, after saving 2 short episodes that the encoders are still working on;
* ``behind-spilling``: ``behind`` with a backlog memory budget of one frame: the rest spills to disk;
* ``fill-disk``: record episodes until the disk is full, then report what the user saw (JSON).
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from helpers import identity_frame

from lerobot_stream.datasets.lerobot_dataset import LeRobotDataset
from lerobot_stream.storage.metadata import LeRobotDatasetMetadata

H, W = 64, 96
KEYS = ["observation.images.cam0", "observation.images.cam1"]
#: Frames in each episode ``behind-saved`` saves before the one it is killed in.
SAVED_LENGTH = 20


def features(height: int = H, width: int = W) -> dict:
    spec = {
        key: {"dtype": "video", "shape": (height, width, 3), "names": ["height", "width", "channels"]} for key in KEYS
    }
    spec["observation.state"] = {"dtype": "float32", "shape": (3,), "names": ["a", "b", "c"]}
    return spec


def add(dataset: LeRobotDataset, g: int, height: int = H, width: int = W) -> None:
    frame = {key: identity_frame(g, height, width, camera=c) for c, key in enumerate(KEYS)}
    frame["observation.state"] = np.full(3, g, dtype=np.float32)
    frame["task"] = "task"
    dataset.add_frame(frame)


def ready(**info) -> None:
    print("READY " + json.dumps(info), flush=True)


def main() -> None:
    mode, root = sys.argv[1], Path(sys.argv[2])
    # To the test's log file (stderr), with the encoder processes' lines (they log at this level too): what a
    # failed reliability test happened to be doing.
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(process)d %(name)s %(levelname)s %(message)s")
    if mode == "fill-disk":
        fill_disk(root)
        return
    if mode == "first-episode-h264":
        first_episode(root)
        return
    if mode in ("behind", "behind-saved", "behind-spilling"):
        behind(root, saved=2 if mode == "behind-saved" else 0, memory_mb=1.0 if mode == "behind-spilling" else None)
        return
    dataset = LeRobotDataset.create("test/child", fps=30, features=features(), root=root, streaming_encoding=True)
    g = 0
    for length in (6, 4):
        for _ in range(length):
            add(dataset, g)
            g += 1
        dataset.save_episode()
    encoder = dataset.writer._streaming_encoder
    if mode in ("die-at-commit", "die-after-commit"):
        dataset.meta  # noqa: B018 - the 2 episodes committed (in the background) before the trap is set
        original = LeRobotDatasetMetadata.save_episode

        def die(self, *args, **kwargs):
            if mode == "die-after-commit":
                original(self, *args, **kwargs)  # the commit point passed; the journal is still there
            os._exit(9)

        LeRobotDatasetMetadata.save_episode = die
        for _ in range(5):
            add(dataset, g)
            g += 1
        ready(workers=list(encoder.worker_pids().values()))
        dataset.save_episode()
        dataset.meta  # noqa: B018 - waits for the episode's commit (in the background), where it dies
        LeRobotDatasetMetadata.save_episode = original
        return
    for _ in range(8):
        add(dataset, g)
        g += 1
    ready(workers=list(encoder.worker_pids().values()))
    while True:
        time.sleep(1 / 30)
        add(dataset, g % 30 + 10)
        g += 1


def first_episode(root: Path) -> None:
    """Record the dataset's first episode in H.264 until killed. READY once every camera's encoder has encoded
    frames: an encoder process still starting when its recorder dies never maps the frame ring (the recorder's
    segments go with it), so that episode could not be salvaged - a different case from the one tested here."""
    dataset = LeRobotDataset.create(
        "test/child", fps=30, features=features(), root=root, streaming_encoding=True, vcodec="h264"
    )
    g = 0
    deadline = time.monotonic() + 60
    while g < 40 or (
        time.monotonic() < deadline and not all(s.frames_encoded for s in dataset.writer.camera_status().values())
    ):
        add(dataset, g % 100)
        g += 1
        time.sleep(1 / 30)
    ready(workers=list(dataset.writer._streaming_encoder.worker_pids().values()))
    while True:
        time.sleep(1 / 30)
        add(dataset, g % 100)
        g += 1


def behind(root: Path, saved: int = 0, memory_mb: float | None = None) -> None:
    """Record with encoders far behind real time (x264 veryslow, one thread, 640x480) until killed: their
    backlogs hold most of the episode - and of the ``saved`` episodes of `SAVED_LENGTH` frames before it, which
    ``save_episode`` did not wait for. READY says how many frames of the last episode were added when the journal
    last flushed, and how many saved episodes were still being encoded right after the last save."""
    from lerobot_stream.configs.video import RGBEncoderConfig

    height, width = 480, 640
    rng = np.random.default_rng(0)
    frames = [[identity_frame(g, height, width, camera=c) for c in range(len(KEYS))] for g in range(120)]
    for pair in frames:  # noise below the identity band: costly to encode, as sensor noise is
        for frame in pair:
            frame[height // 2 :] = rng.integers(0, 256, frame[height // 2 :].shape, dtype=np.uint8)
    dataset = LeRobotDataset.create(
        "test/child",
        fps=30,
        features=features(height, width),
        root=root,
        streaming_encoding=True,
        rgb_encoder=RGBEncoderConfig(vcodec="h264", preset="veryslow"),
        encoder_threads=1,
        backlog_memory_mb=memory_mb,
        backlog_disk_reserve_mb=None if memory_mb is None else 0,
    )

    def add_tick(g: int) -> None:
        frame = dict(zip(KEYS, frames[g % 120], strict=True))
        frame["observation.state"] = np.full(3, g % 120, dtype=np.float32)
        frame["task"] = "task"
        dataset.add_frame(frame)

    g = 0
    for _ in range(saved):
        for _ in range(SAVED_LENGTH):
            add_tick(g)
            g += 1
            time.sleep(1 / 30)
        dataset.save_episode()
    pending = dataset.writer.pending_episodes  # right after the last save
    start = g
    for _ in range(45 if saved or memory_mb is not None else 90):  # spilling: every frame is there to recover
        add_tick(g)
        g += 1
        time.sleep(1 / 30)
    deadline = time.monotonic() + 60  # every encoder has mapped its ring (see `first_episode`)
    while time.monotonic() < deadline and not all(s.frames_encoded for s in dataset.writer.camera_status().values()):
        add_tick(g)
        g += 1
        time.sleep(1 / 30)
    workers = list(dataset.writer._streaming_encoder.worker_pids().values())
    ready(workers=workers, added=g - start, pending=pending)
    while True:
        add_tick(g)
        g += 1
        time.sleep(1 / 30)


def fill_disk(root: Path) -> None:
    """Record 160x120 episodes until the (small) filesystem is full; report what happened."""
    report: dict = {"saved": 0, "errors": []}
    dataset = LeRobotDataset.create(
        "test/full", fps=30, features=features(120, 160), root=root, streaming_encoding=True
    )
    g = 0
    for _ in range(200):
        try:
            for _ in range(30):
                add(dataset, g, 120, 160)
                g += 1
            dataset.save_episode()
        except Exception as exc:  # what the user sees
            report["errors"].append(f"{type(exc).__name__}: {exc}")
            if dataset.has_pending_frames():
                dataset.clear_episode_buffer()
            if len(report["errors"]) >= 2:
                break
    try:
        dataset.finalize()  # waits for the episodes saved while their videos were encoded: their errors too
    except Exception as exc:
        report["errors"].append(f"{type(exc).__name__}: {exc}")
    report["saved"] = dataset.num_episodes
    from lerobot_stream.recovery.integrity import inspect_dataset

    inspection = inspect_dataset(root)
    report["healthy"] = inspection.healthy
    report["problems"] = inspection.problems
    report["episodes"] = len(inspection.episodes)
    report["leftovers"] = sorted(p.name for p in root.iterdir() if p.name not in ("data", "meta", "videos"))
    print("REPORT " + json.dumps(report), flush=True)


if __name__ == "__main__":
    main()
