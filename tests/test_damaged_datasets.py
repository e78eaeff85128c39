"""Damaged and busy datasets (issue: hardening): what ``recover``, ``info`` and ``resume`` do with a dataset
missing its metadata, steered by hostile metadata, being recorded, or left by a killed recorder; and the
flushes that make a save survive a power cut."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from helpers import identity_frame

from lerobot_stream.datasets.lerobot_dataset import LeRobotDataset

FPS = 30


def _recorded_dataset(root: Path, episodes: int = 3, frames: int = 5) -> None:
    features = {
        "observation.images.cam0": {"dtype": "video", "shape": (48, 64, 3), "names": ["h", "w", "c"]},
        "action": {"dtype": "float32", "shape": (2,), "names": ["a", "b"]},
    }
    dataset = LeRobotDataset.create("t/dmg", fps=FPS, features=features, root=root, streaming_encoding=True)
    for e in range(episodes):
        for i in range(frames):
            dataset.add_frame(
                {
                    "observation.images.cam0": identity_frame(e * frames + i, 48, 64),
                    "action": np.zeros(2, np.float32),
                    "task": "t",
                }
            )
        dataset.save_episode()
    dataset.finalize()


def _start_recorder(root: Path, cameras: int, resolution: str, episodes: int, seconds: float) -> subprocess.Popen:
    """``lerobot-stream record`` in its own process group (to signal it like a terminal or systemd does)."""
    args = ["--root", str(root), "--cameras", str(cameras), "--resolution", resolution]
    args += ["--episodes", str(episodes), "--episode-seconds", str(seconds)]
    return subprocess.Popen(
        [sys.executable, "-m", "lerobot_stream.cli", "record", *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "lerobot_stream.cli", *args], capture_output=True, text=True, timeout=120
    )


def _files(root: Path) -> dict[str, bytes]:
    """Every file's bytes, but the writer lock's (it names the last process that took it)."""
    files = {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}
    files.pop("meta/.writer.lock", None)
    return files


def test_recover_changes_nothing_when_the_episodes_table_is_missing(tmp_path):
    """recover (and resume) used to delete the data parquet and every MP4 - 15 intact frames - and then
    report the dataset as healthy."""
    import shutil

    from lerobot_stream.recovery.recover import RecoveryRefused, recover_dataset

    root = tmp_path / "ds"
    _recorded_dataset(root)
    shutil.rmtree(root / "meta/episodes")
    before = _files(root)
    result = _cli("recover", str(root))
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "says 3 saved episode(s) but meta/episodes lists 0" in result.stderr
    assert _files(root) == before
    with pytest.raises(RecoveryRefused):
        recover_dataset(root)
    assert _files(root) == before


def test_metadata_cannot_steer_recovery_outside_the_dataset(tmp_path):
    """A feature key such as ../../other/videos/cam0 in info.json made recover delete another dataset's file."""
    import json

    root, other = tmp_path / "ds", tmp_path / "other"
    _recorded_dataset(root)
    victim = other / "videos/cam0/chunk-000/file-000.mp4"
    victim.parent.mkdir(parents=True)
    victim.write_bytes(b"someone else's video")
    info_path = root / "meta/info.json"
    info = json.loads(info_path.read_text())
    info["features"]["../../other/videos/cam0"] = dict(info["features"]["observation.images.cam0"])
    info_path.write_text(json.dumps(info))
    result = _cli("recover", str(root))
    assert result.returncode == 1 and "Feature names" in result.stderr and "Traceback" not in result.stderr
    assert victim.read_bytes() == b"someone else's video"


@pytest.mark.parametrize(
    "damage",
    [
        "no root",
        "root is a file",
        "truncated info.json",
        "no fps",
        "empty mp4",
        "truncated data parquet",
        "truncated episodes parquet",
        "no data parquet",
    ],
)
def test_info_and_recover_report_damage_in_one_line_with_distinct_exit_codes(tmp_path, damage):
    import json

    root = tmp_path / "ds"
    if damage == "root is a file":
        root.write_text("not a dataset")
    elif damage != "no root":
        _recorded_dataset(root, episodes=1)
        info_path = root / "meta/info.json"
        if damage == "truncated info.json":
            info_path.write_text(info_path.read_text()[:40])
        elif damage == "no fps":
            info = json.loads(info_path.read_text())
            del info["fps"]
            info_path.write_text(json.dumps(info))
        elif damage == "empty mp4":
            (root / "videos/observation.images.cam0/chunk-000/file-000.mp4").write_bytes(b"")
        elif damage in ("truncated data parquet", "truncated episodes parquet"):
            folder = "data" if damage.startswith("truncated data") else "meta/episodes"
            path = root / folder / "chunk-000/file-000.parquet"
            path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
        elif damage == "no data parquet":
            (root / "data/chunk-000/file-000.parquet").unlink()
    for command in ("info", "recover"):
        result = _cli(command, str(root))
        assert "Traceback" not in result.stderr, result.stderr
        if damage not in ("no root", "root is a file", "truncated info.json", "no fps"):
            # readable info.json, damaged files: problems found, and recover (changing nothing) agrees
            assert result.returncode == 1, (command, result.stdout, result.stderr)
        else:
            assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1, result.stderr


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc to name the synced files")
def test_save_episode_flushes_files_and_directories_before_and_after_publishing(tmp_path, monkeypatch):
    """Atomic renames protect against a crashed process, not against a power cut: every file an episode
    publishes is fsynced before its rename, and its directory after it. (A power cut cannot be staged
    here, so the flushes themselves are observed - the real os.fsync still runs.)"""
    synced: list[str] = []
    real_fsync = os.fsync

    def spy(fd: int) -> None:
        synced.append(os.readlink(f"/proc/self/fd/{fd}"))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", spy)
    root = (tmp_path / "ds").resolve()
    _recorded_dataset(root, episodes=1)
    published = {
        "data/chunk-000/file-000.parquet",
        "videos/observation.images.cam0/chunk-000/file-000.mp4",
        "meta/episodes/chunk-000/file-000.parquet",
        "meta/info.json",
        "meta/stats.json",
        "meta/tasks.parquet",
    }
    names = {str(Path(p).relative_to(root)) for p in synced if p.startswith(str(root))}
    directories = {str(Path(p).parent) for p in published}
    assert directories <= names, directories - names
    # files are synced under their temporary names, just before the rename publishes them
    for relative in published:
        folder, stem = str(Path(relative).parent), Path(relative).stem
        temps = [n for n in names if n.startswith(folder + "/.") and stem in n and n.endswith(".tmp")]
        assert temps, relative


def test_recover_and_resume_refuse_a_dataset_that_is_being_recorded(tmp_path):
    """recover used to delete the live episode's staging MP4s, and the recorder then crashed at save."""
    import signal
    import time

    from lerobot_stream.datasets.lerobot_dataset import LeRobotDataset
    from lerobot_stream.storage.writer_lock import DatasetLocked

    root = tmp_path / "live"
    recorder = _start_recorder(root, cameras=1, resolution="96x64", episodes=1, seconds=60)
    try:
        deadline = time.monotonic() + 60
        while not list(root.glob(".staging/*/*/*.mp4")) and time.monotonic() < deadline:
            time.sleep(0.1)
        staged = list(root.glob(".staging/*/*/*.mp4"))
        assert staged, "the recorder is recording"
        result = _cli("recover", str(root))
        assert result.returncode == 1 and f"being written by process {recorder.pid}" in result.stderr
        assert all(p.exists() for p in staged)
        with pytest.raises(DatasetLocked, match=str(recorder.pid)):
            LeRobotDataset.resume("t/live", root=root)
        os.killpg(recorder.pid, signal.SIGKILL)  # the kernel drops a dead holder's lock: recovery proceeds
        recorder.wait(timeout=30)
        result = _cli("recover", str(root))
        assert result.returncode == 0, result.stderr
        assert not (root / ".staging").exists()
    finally:
        if recorder.poll() is None:
            os.killpg(recorder.pid, signal.SIGKILL)


def _journaled_rows(path: Path) -> int:
    from lerobot_stream.recorder.journal import read_journal

    try:
        contents = read_journal(path)
    except Exception:  # not there yet, or being written: no rows to count
        return 0
    return 0 if contents is None else contents.rows.num_rows


def test_a_recorder_killed_mid_episode_loses_seconds_not_the_episode(tmp_path):
    """SIGKILL during an episode: recover turns the journal and the cameras' fragmented MP4s into a saved
    episode whose frames match its rows, cut to what every camera and the journal hold."""
    import signal
    import time

    import av

    from lerobot_stream.recovery.integrity import inspect_dataset

    root = tmp_path / "killed"
    recorder = _start_recorder(root, cameras=2, resolution="160x120", episodes=2, seconds=2.5)
    try:
        deadline = time.monotonic() + 60
        while not (root / "meta/episodes").exists() and time.monotonic() < deadline:
            time.sleep(0.05)  # the first episode is saved ...
        journal = root / ".staging/journal-000001.arrow"
        while _journaled_rows(journal) < 30 and time.monotonic() < deadline:
            time.sleep(0.05)  # ... and the second has journaled a second of rows, however loaded the machine
        os.killpg(recorder.pid, signal.SIGKILL)
        recorder.wait(timeout=30)
    finally:
        if recorder.poll() is None:
            os.killpg(recorder.pid, signal.SIGKILL)
    assert list(root.glob(".staging/journal-000001.arrow")), "the second episode was being recorded"
    result = _cli("recover", str(root))
    assert result.returncode == 0, result.stderr
    assert "salvaged an episode the recorder had not committed when it died as episode 1" in result.stdout
    report = inspect_dataset(root)
    assert report.healthy, report.problems
    assert len(report.episodes) == 2 and report.episodes[0]["length"] == 75
    salvaged = report.episodes[1]["length"]
    assert 15 <= salvaged < 75, salvaged
    assert not (root / ".staging").exists()
    for camera in ("cam0", "cam1"):
        key = f"observation.images.{camera}"
        episode = report.episodes[1]
        video = root / (
            f"videos/{key}/chunk-{episode[f'videos/{key}/chunk_index']:03d}/"
            f"file-{episode[f'videos/{key}/file_index']:03d}.mp4"
        )
        start = episode[f"videos/{key}/from_timestamp"]
        with av.open(str(video)) as container:
            times = [float(f.pts * f.time_base) - start for f in container.decode(video=0)]
        times = [t for t in times if t >= -1e-6]
        assert times == pytest.approx([i / FPS for i in range(salvaged)], abs=1e-4)


@pytest.mark.parametrize("template", ["/dev/stdin", "../outside/{video_key}/file-{file_index:03d}.mp4"])
def test_a_video_path_template_outside_the_dataset_is_refused_not_followed(tmp_path, template):
    import json

    root = tmp_path / "ds"
    _recorded_dataset(root, episodes=1)
    outside = tmp_path / "outside" / "observation.images.cam0"
    outside.mkdir(parents=True)
    (outside / "file-000.mp4").write_bytes(
        (root / "videos/observation.images.cam0/chunk-000/file-000.mp4").read_bytes()
    )
    info = json.loads((root / "meta/info.json").read_text())
    info["video_path"] = template
    (root / "meta/info.json").write_text(json.dumps(info))
    result = _cli("info", str(root))  # used to hang reading /dev/stdin
    assert result.returncode in (1, 2) and "video_path must be a file name relative to the dataset" in (
        result.stdout + result.stderr
    )
    assert "Traceback" not in result.stderr
    with pytest.raises(ValueError, match="video_path must be a file name relative to the dataset"):
        LeRobotDataset("t/dmg", root=root)


def test_a_video_file_that_is_a_device_or_a_fifo_is_not_read(tmp_path):
    root = tmp_path / "ds"
    _recorded_dataset(root, episodes=1)
    video = root / "videos/observation.images.cam0/chunk-000/file-000.mp4"
    video.unlink()
    video.symlink_to("/dev/zero")
    with pytest.raises(ValueError, match="not a regular file"):
        LeRobotDataset("t/dmg", root=root)[0]
    video.unlink()
    os.mkfifo(video)
    result = _cli("info", str(root))  # opening a FIFO would wait for a writer forever
    assert result.returncode == 1 and "not a regular file" in result.stdout


def test_a_staging_folder_replaced_by_a_symlink_stops_the_next_episode_cleanly(tmp_path):
    from lerobot_stream.recovery.recover import recover_dataset
    from lerobot_stream.storage.layout import PrivateFolderError

    root = tmp_path / "ds"
    features = {"observation.images.cam0": {"dtype": "video", "shape": (48, 64, 3), "names": ["h", "w", "c"]}}
    dataset = LeRobotDataset.create("t/link", fps=FPS, features=features, root=root, streaming_encoding=True)
    for i in range(3):
        dataset.add_frame({"observation.images.cam0": identity_frame(i, 48, 64), "task": "t"})
    dataset.save_episode()
    dataset.wait_for_saved_episodes()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "precious").write_text("not the recorder's")
    if (root / ".staging").exists():
        (root / ".staging").rmdir()
    (root / ".staging").symlink_to(elsewhere)
    with pytest.raises(PrivateFolderError, match="symbolic link"):  # before the episode starts: nothing lost
        dataset.add_frame({"observation.images.cam0": identity_frame(3, 48, 64), "task": "t"})
    assert dataset.writer.episode_buffer["size"] == 0
    dataset.finalize()  # used to fail on the link and leave the dataset locked
    assert not (root / "meta/.writer.lock").exists()
    report = recover_dataset(root)
    assert "a symbolic link" in report.summary() and not (root / ".staging").exists()
    assert (elsewhere / "precious").read_text() == "not the recorder's"
    resumed = LeRobotDataset.resume("t/link", root=root, streaming_encoding=True)
    resumed.add_frame({"observation.images.cam0": identity_frame(3, 48, 64), "task": "t"})
    resumed.save_episode()
    resumed.finalize()
    assert resumed.meta.total_episodes == 2


def test_recover_cleans_temporary_files_behind_a_symlinked_videos_folder(tmp_path):
    from lerobot_stream.recovery.recover import recover_dataset

    root = tmp_path / "ds"
    _recorded_dataset(root, episodes=1)
    bigger_disk = tmp_path / "bigger_disk"
    (root / "videos").rename(bigger_disk)
    (root / "videos").symlink_to(bigger_disk)  # a user's choice: videos on another disk
    folder = root / "videos/observation.images.cam0/chunk-000"
    leftovers = [
        folder / ".file-000.mp4.1a2b3c4d.tmp",
        folder / ".file-000.pending.mp4",
        folder / ".file-000.mp4.1a2b3c4d.bak",
    ]
    for path in leftovers:  # what a recorder killed inside save_episode leaves
        path.write_bytes(b"partial")
    report = recover_dataset(root)
    assert not any(path.exists() for path in leftovers), report.summary()
    assert (folder / "file-000.mp4").exists()
    result = _cli("info", str(root))
    assert result.returncode == 0, result.stdout


def _read_only_command(root: Path, args: list[str]) -> list[str] | None:
    """``lerobot-stream ARGS`` with ``root`` bind-mounted read-only in a private mount namespace (root only)."""
    script = f'mount --bind {root} {root} && mount -o remount,bind,ro {root} && exec "$@"'
    probe = subprocess.run(["unshare", "-m", "sh", "-c", script, "sh", "true"], capture_output=True)
    if probe.returncode != 0:
        return None
    return ["unshare", "-m", "sh", "-c", script, "sh", sys.executable, "-m", "lerobot_stream.cli", *args]


def test_recover_on_a_read_only_dataset_writes_nothing_and_says_whether_it_had_to(tmp_path):
    root = tmp_path / "ds"
    _recorded_dataset(root, episodes=2)
    command = _read_only_command(root, ["recover", str(root)])
    if command is None:
        pytest.skip("cannot bind-mount read-only here (needs root and a mount namespace)")
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parent.parent))
    result = subprocess.run(command, capture_output=True, text=True, timeout=120, env=env)
    assert result.returncode == 0, result.stderr  # was exit 2: "cannot read the dataset" (the lock file)
    assert "consistent (2 episodes, 10 frames); nothing to do (read-only" in result.stdout
    (root / ".staging").mkdir()
    (root / ".staging" / "journal-000002.arrow").write_bytes(b"left by a killed recorder")
    result = subprocess.run(command, capture_output=True, text=True, timeout=120, env=env)
    assert result.returncode == 1 and "needs recovery but cannot be written" in result.stderr
    assert "Traceback" not in result.stderr
    assert (root / ".staging" / "journal-000002.arrow").exists()


def _damage_episodes(root: Path, change) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = root / "meta/episodes/chunk-000/file-000.parquet"
    rows = pq.read_table(path).to_pylist()
    change(rows)
    pq.write_table(pa.Table.from_pylist(rows), path)


def _overlap(rows):
    rows[1]["dataset_from_index"] -= 2


def _negative_length(rows):
    rows[2]["length"] = -5


def _nan_timestamp(rows):
    rows[1]["videos/observation.images.cam0/from_timestamp"] = float("nan")


@pytest.mark.parametrize("damage", ["overlap", "negative-length", "nan-timestamp", "fps-29.97", "truncated-mp4"])
def test_info_and_recover_agree_on_hand_damaged_metadata(tmp_path, damage):
    import json

    root = tmp_path / "ds"
    _recorded_dataset(root)
    if damage == "fps-29.97":
        info = json.loads((root / "meta/info.json").read_text())
        info["fps"] = 29.97
        (root / "meta/info.json").write_text(json.dumps(info))
    elif damage == "truncated-mp4":
        video = root / "videos/observation.images.cam0/chunk-000/file-000.mp4"
        video.write_bytes(video.read_bytes()[: video.stat().st_size // 2])
    else:
        _damage_episodes(
            root, {"overlap": _overlap, "negative-length": _negative_length, "nan-timestamp": _nan_timestamp}[damage]
        )
    info = _cli("info", str(root))
    recover = _cli("recover", str(root))
    assert info.returncode in (1, 2), info.stdout
    assert recover.returncode == info.returncode, (info.stdout + info.stderr, recover.stdout + recover.stderr)
    assert "Traceback" not in info.stderr + recover.stderr


def test_info_without_decoding_says_what_it_did_not_check(tmp_path):
    root = tmp_path / "ds"
    _recorded_dataset(root, episodes=1)
    result = _cli("info", "--no-decode", str(root))
    assert result.returncode == 0 and "videos not decoded" in result.stdout
    assert "video frames match data rows" not in result.stdout
