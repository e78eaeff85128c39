"""``lerobot-stream info``: what a dataset holds, for people and (``--json``) for scripts - checked against what
was recorded, through the real command."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import psutil
from helpers import H, W, features, frame

from lerobot_stream.datasets.lerobot_dataset import LeRobotDataset

REPO_ROOT = Path(__file__).resolve().parent.parent
CAM = "observation.images.cam0"
FROZEN, OVERLOADED = 5, 9


def info(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "lerobot_stream.cli", "info", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=dict(os.environ, PYTHONPATH=str(REPO_ROOT)),
    )


def _record_22_episodes(root: Path) -> list[int]:
    """22 short episodes; in episode 5 the camera freezes (one image for 40 frames), in episode 9 its encoder
    process is stopped for 40 frames, so its ring of 30 fills and frames are repeated."""
    dataset = LeRobotDataset.create("t/info", fps=30, features=features(1), root=root, streaming_encoding=True)
    lengths = []
    g = 0
    for episode in range(22):
        length = 40 if episode in (FROZEN, OVERLOADED) else 3
        worker = None
        for t in range(length):
            item = frame(0 if episode == FROZEN else g, 1, f"task {episode % 2}")
            dataset.add_frame(item)
            time.sleep(0.01)  # a camera's pace, not a burst the encoder must absorb
            if episode == OVERLOADED and t == 0:
                worker = psutil.Process(dataset.writer._streaming_encoder.worker_pids()[CAM])
                worker.suspend()
            g += 1
        if worker is not None:
            worker.resume()
            time.sleep(1.0)  # a reset: the encoder drains its ring before the next episode comes
        dataset.save_episode()
        lengths.append(length)
    dataset.finalize()
    return lengths


def test_info_describes_what_was_recorded_and_lists_the_episodes_that_need_a_look(tmp_path):
    root = tmp_path / "ds"
    lengths = _record_22_episodes(root)

    described = json.loads(info(str(root), "--json").stdout)
    assert (described["episodes"], described["frames"]) == (22, sum(lengths))
    assert abs(described["duration_s"] - sum(lengths) / 30) < 1e-9
    on_disk = sum(p.stat().st_size for p in root.rglob("*") if p.is_file())
    assert described["size_bytes"] == on_disk
    assert {t["task"]: t["episodes"] for t in described["tasks"]} == {"task 0": 11, "task 1": 11}
    assert {f["name"]: (f["dtype"], f["shape"]) for f in described["features"]} == {
        CAM: ("video", [H, W, 3]),
        "observation.state": ("float32", [6]),
        "action": ("float32", [2]),
    }
    (camera,) = described["cameras"]
    assert (camera["codec"], camera["pix_fmt"], camera["width"], camera["height"]) == ("av1", "yuv420p", W, H)
    video_bytes = sum(p.stat().st_size for p in (root / "videos").rglob("*.mp4"))
    assert camera["bytes"] == video_bytes and camera["bitrate_kbps"] > 0
    episodes = described["episode_list"]
    assert [e["frames"] for e in episodes] == lengths
    assert episodes[FROZEN]["health"] == {CAM: ["frozen"]}
    assert episodes[OVERLOADED]["repeated_frames"][CAM] > 0
    flagged = [e["episode_index"] for e in episodes if e["health"] or any(e["repeated_frames"].values())]
    assert flagged == [FROZEN, OVERLOADED]
    assert described["integrity"]["healthy"]

    text = info(str(root))
    assert text.returncode == 0, text.stderr
    assert "Episodes   22 episodes," in text.stdout and '"task 0" (11 episodes)' in text.stdout
    rows = [line.split() for line in text.stdout.splitlines() if line.startswith("  ") and line.split()[0].isdigit()]
    assert [int(row[0]) for row in rows] == [FROZEN, OVERLOADED]  # a long dataset lists what needs a look
    assert "frozen" in " ".join(rows[0]) and "2 episodes with repeated frames or health flags listed, of 22" in (
        text.stdout
    )
    every = info(str(root), "--episodes").stdout
    assert sum(1 for line in every.splitlines() if line.startswith("  ") and line.split()[0].isdigit()) == 22


def _one_episode(root: Path, task: str) -> None:
    dataset = LeRobotDataset.create("t/one", fps=30, features=features(1), root=root, streaming_encoding=True)
    for g in range(3):
        dataset.add_frame(frame(g, 1, task))
    dataset.save_episode()
    dataset.finalize()


def test_info_counts_in_words_a_person_reads(tmp_path):
    root = tmp_path / "one"
    _one_episode(root, "the only task")
    text = info(str(root)).stdout
    assert "Episodes   1 episode, 3 frames, 0.1 s" in text and '"the only task" (1 episode)' in text


def test_info_survives_a_link_that_loops_back_into_the_dataset(tmp_path):
    """``videos/`` may be a link to another disk, so linked folders are counted - each once."""
    root = tmp_path / "looped"
    _one_episode(root, "task")
    size = sum(p.stat().st_size for p in root.rglob("*") if p.is_file())
    (root / "meta" / "back_to_root").symlink_to(root)
    described = json.loads(info(str(root), "--json").stdout)  # would never finish following the loop
    assert described["size_bytes"] == size
