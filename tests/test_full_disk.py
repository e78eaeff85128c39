"""A full disk at every step of recording and saving, on a real small filesystem (a tmpfs mounted by the test in
a private mount namespace: root only; CI runs as root)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import small_filesystem_command

TESTS = Path(__file__).resolve().parent
CHILD = TESTS / "full_disk_child.py"


def run_on_small_filesystem(tmp_path: Path, options: str, mode: str) -> dict:
    mount_point = tmp_path / "small"
    command = small_filesystem_command(options, mount_point, [sys.executable, str(CHILD), mode, str(mount_point)])
    if command is None:
        pytest.skip("cannot mount a small tmpfs here (needs root and a mount namespace)")
    env = dict(os.environ, PYTHONPATH=str(TESTS.parent))
    result = subprocess.run(command, capture_output=True, text=True, timeout=300, env=env)
    lines = [line for line in result.stdout.splitlines() if line.startswith("REPORT ")]
    assert lines, result.stderr[-3000:]
    return json.loads(lines[0].split(" ", 1)[1])


def test_a_save_cut_short_at_any_file_leaves_the_dataset_as_before_and_the_writer_usable(tmp_path):
    report = run_on_small_filesystem(tmp_path, "size=16m,nr_inodes=400", "save-sweep")
    # Out of inodes 0..8 files into the save, then out of bytes 0, 4, 8 KiB ... into it (a tmpfs page at a time):
    # each file it writes.
    assert len(report["failures"]) >= 12, report["failures"]
    assert all(report["unchanged"]), list(zip(report["failures"], report["unchanged"], strict=True))
    for error in report["errors"]:
        assert "was not saved" in error and "exactly as after its" in error, error
        assert "No space left on device" in error, error
    assert any("restored" not in e and "videos/" in e for e in report["errors"])  # cut short at a video
    for name in ("data/", "meta/episodes/", "meta/stats.json", "meta/info.json"):
        assert any(name in e for e in report["errors"]), f"no save was cut short at {name}"
    assert report["healthy"], report["problems"]
    assert report["episodes"] == report["saved"]
    assert report["reader_items"] == report["total_frames"] == 5 * report["saved"]
    assert report["aligned"], "a data row shows another row's video frame"
    assert report["leftovers"] == []  # no backups, temporaries or lock file


def test_a_disk_that_fills_mid_episode_gives_one_clear_error_and_spares_the_next_episode(tmp_path):
    report = run_on_small_filesystem(tmp_path, "size=16m", "mid-episode")
    for phase, errors in enumerate(report["errors"]):  # phase 0 ends in save_episode, 1 in clear_episode_buffer
        assert errors, f"phase {phase}: add_frame never said the episode was lost"
        assert len(set(errors)) == 1, set(errors)  # one cause, one error: no raw OSError from the journal
        assert errors[0].startswith("CameraEncoderError") and "No space left on device" in errors[0]
        assert "cannot be saved, and this frame was not added" in errors[0]
        assert report["buffered"][phase] + len(errors) == 5 + 45  # a frame is either added whole or refused
    assert "was not saved" in report["save_error"] and "exactly as after its 1 earlier" in report["save_error"]
    assert report["refused"].startswith("DiskSpaceError") and "MiB free" in report["refused"]
    assert report["buffered"][2] == 0
    assert report["lengths"] == [5, 6] and report["saved"] == 2  # the encoders recovered with the disk
    assert report["healthy"], report["problems"]
    assert report["aligned"]


def test_a_spilling_backlog_keeps_the_disk_reserve_it_was_given(tmp_path):
    report = run_on_small_filesystem(tmp_path, "size=64m", "backlog-reserve")
    assert report["peak_disk_mb"] > 0, "the backlog spilled to disk"
    assert report["lowest_free_mb"] >= report["reserve_mb"], report  # never below the reserve
    assert report["dropped"] > 0  # memory and disk budgets spent: the ring filled, frames repeated and counted


def test_recovering_spilled_frames_on_a_full_disk_changes_nothing_until_there_is_room(tmp_path):
    report = run_on_small_filesystem(tmp_path, "size=32m", "spill-recovery")
    assert report["error"] and "No space left" in report["error"], report["error"]
    assert report["unchanged"] and not report["leftovers"], report  # the spill file kept for a retry
    assert "No space left" in report["spill_error"] and report["fresh_readable"]  # no header cut short left
    assert report["missing"] == [] and report["identities"] == list(range(60)), report["identities"]
