"""Who can read a dataset, and who holds it: file modes under the user's umask, the writer lock across fork
and kill. Real files, real forks, real processes."""

from __future__ import annotations

import os
import re
import signal
import stat
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import psutil
import pytest
from helpers import features, record

from lerobot_stream.datasets.lerobot_dataset import LeRobotDataset
from lerobot_stream.recovery.recover import recover_dataset
from lerobot_stream.storage.writer_lock import LOCK_PATH

REPO_ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("umask", [0o022, 0o027])
@pytest.mark.parametrize("streaming", [True, False])
def test_dataset_files_get_the_mode_the_umask_gives_and_no_lock_file_is_left(tmp_path, umask, streaming):
    previous = os.umask(umask)
    try:
        root = tmp_path / "ds"
        dataset = LeRobotDataset.create(
            "t/modes", fps=30, features=features(2), root=root, streaming_encoding=streaming
        )
        record(dataset, [3, 2], cameras=2)
        dataset.finalize()
        resumed = LeRobotDataset.resume("t/modes", root=root, streaming_encoding=streaming)
        record(resumed, [2], cameras=2, start=5)
        resumed.finalize()
    finally:
        os.umask(previous)
    entries = [root, *root.rglob("*")]
    modes = {str(p.relative_to(root)): stat.S_IMODE(p.stat().st_mode) for p in entries}
    files = {name: mode for name, mode in modes.items() if (root / name).is_file()}
    folders = {name: mode for name, mode in modes.items() if (root / name).is_dir()}
    assert {"meta/info.json", "meta/stats.json", "meta/tasks.parquet", "data/chunk-000/file-000.parquet"} <= set(files)
    assert set(files.values()) == {0o666 & ~umask}, files
    assert set(folders.values()) == {0o777 & ~umask}, folders
    assert not (root / LOCK_PATH).exists(), "a finalized dataset carries no writer lock file"


def test_a_child_forked_while_recording_does_not_keep_the_dataset_locked(tmp_path):
    root = tmp_path / "ds"
    dataset = LeRobotDataset.create("t/fork", fps=30, features=features(1), root=root, streaming_encoding=True)
    record(dataset, [3], cameras=1)
    ready_read, ready_write = os.pipe()
    child = os.fork()
    if child == 0:  # a data-loader worker or helper that outlives the recorder
        os.write(ready_write, b"x")  # past fork's after-in-child hooks
        time.sleep(30)
        os._exit(0)
    os.read(ready_read, 1)
    try:
        dataset.finalize()
        report = recover_dataset(root)  # refused, naming this very process, when the child held the lock
        assert report.episodes == 1
        resumed = LeRobotDataset.resume("t/fork", root=root, streaming_encoding=True)
        resumed.finalize()
    finally:
        os.kill(child, signal.SIGKILL)
        os.waitpid(child, 0)
        os.close(ready_read)
        os.close(ready_write)


def test_a_killed_recorder_whose_forked_child_lives_on_leaves_the_dataset_free(tmp_path):
    root = tmp_path / "ds"
    script = textwrap.dedent(
        f"""
        import os, sys, time
        sys.path.insert(0, {str(REPO_ROOT / "tests")!r})
        from helpers import features, record
        from lerobot_stream.datasets.lerobot_dataset import LeRobotDataset
        dataset = LeRobotDataset.create("t/fork", fps=30, features=features(1), root={str(root)!r},
                                        streaming_encoding=True)
        record(dataset, [3], cameras=1)
        helper = os.fork()
        if helper == 0:
            print("helper running", flush=True)  # past fork's after-in-child hooks
            time.sleep(60)
            os._exit(0)
        print(f"pid={{helper}};", flush=True)
        time.sleep(60)
        """
    )
    recorder = subprocess.Popen(
        [sys.executable, "-c", script],
        stdout=subprocess.PIPE,
        text=True,
        env=dict(os.environ, PYTHONPATH=str(REPO_ROOT)),
        start_new_session=True,
    )
    try:
        # The two processes print at once: their texts may interleave within a line. Both must be read:
        # the helper holds the recorder's descriptors until its after-fork hooks have run.
        output = ""
        while len(output) < 200:
            found = re.search(r"pid=(\d+);", output)
            if found and "helper running" in output:
                break
            line = recorder.stdout.readline()
            if not line:
                break
            output += line
        assert found and "helper running" in output, output
        helper = int(found.group(1))
        recorder.kill()
        recorder.wait(30)
        assert os.path.exists(f"/proc/{helper}") or sys.platform != "linux"
        report = recover_dataset(root)
        assert report.episodes == 1
        # Salvage waited for the encoder process to finish the episode it held, not for the helper: the helper's
        # copies of the recorder's pipe ends were closed at the fork, so the encoder saw its recorder die at once
        # (it waited the helper's whole minute before).
        assert psutil.Process(helper).status() not in (psutil.STATUS_ZOMBIE, psutil.STATUS_DEAD)
    finally:
        os.killpg(recorder.pid, signal.SIGKILL)
        recorder.stdout.close()
