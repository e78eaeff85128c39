"""A /dev/shm too small for the frame rings: a private small tmpfs mounted over /dev/shm in a mount namespace
(root only; CI runs as root)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
CHILD = TESTS / "small_shm_child.py"


def run_with_small_shm(tmp_path: Path, mode: str) -> dict:
    script = 'mount -t tmpfs -o size=60m tmpfs /dev/shm && exec "$@"'
    command = ["unshare", "-m", "sh", "-c", script, "sh", sys.executable, str(CHILD), mode, str(tmp_path)]
    probe = subprocess.run(["unshare", "-m", "sh", "-c", script, "sh", "true"], capture_output=True)
    if probe.returncode != 0:
        pytest.skip("cannot mount a private /dev/shm here (needs root and a mount namespace)")
    env = dict(os.environ, PYTHONPATH=str(TESTS.parent))
    result = subprocess.run(command, capture_output=True, text=True, timeout=180, env=env)
    assert result.returncode == 0, f"the recorder died ({result.returncode}): {result.stderr[-2000:]}"
    lines = [line for line in result.stdout.splitlines() if line.startswith("REPORT ")]
    return json.loads(lines[0].split(" ", 1)[1])


def test_rings_created_in_the_loop_count_the_space_promised_to_each_other(tmp_path):
    """LeRobot's call sequence: each ring is created on its camera's first frame and reserved later by its
    encoder; the check per camera saw the space the others had not taken yet, and the recorder died of
    SIGBUS copying a frame into a full /dev/shm."""
    report = run_with_small_shm(tmp_path, "lerobot-sequence")
    assert (
        report["error"].startswith("SharedMemorySpaceError") and "promised to rings created earlier" in report["error"]
    )
    assert "--shm-size" in report["error"]


def test_a_create_that_fails_leaves_nothing_behind_and_can_be_retried(tmp_path):
    report = run_with_small_shm(tmp_path, "create")
    assert report["error"].startswith("SharedMemorySpaceError") and "MiB of shared memory" in report["error"]
    assert report["left_behind"] is False  # no meta/info.json, no lock: the retry used to say "File exists"
    assert report["retry_frames"] == 3
