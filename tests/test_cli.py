"""The command line, run as a user runs it: real processes, real signals, real files."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from lerobot_stream.recovery.integrity import inspect_dataset

REPO_ROOT = Path(__file__).resolve().parent.parent
CLI = [sys.executable, "-m", "lerobot_stream.cli"]


def run_cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*CLI, *args], capture_output=True, text=True, timeout=timeout, env=dict(os.environ, PYTHONPATH=str(REPO_ROOT))
    )


@contextlib.contextmanager
def recording(root: Path, *args: str, poll_s: float = 0.1):
    """``lerobot-stream record --root ROOT ARGS`` in its own session, yielded once the dataset exists; killed
    with its whole group if the test leaves it running."""
    recorder = subprocess.Popen(
        [*CLI, "record", "--root", str(root), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        env=dict(os.environ, PYTHONPATH=str(REPO_ROOT)),
    )
    try:
        deadline = time.monotonic() + 60
        while not (root / "meta/info.json").exists() and time.monotonic() < deadline:
            time.sleep(poll_s)
        yield recorder
    finally:
        if recorder.poll() is None:
            os.killpg(recorder.pid, signal.SIGKILL)


def test_record_then_info_reports_a_healthy_dataset(tmp_path):
    root = tmp_path / "demo"
    result = run_cli(
        "record",
        "--root",
        str(root),
        "--cameras",
        "2",
        "--resolution",
        "96x64",
        "--episodes",
        "2",
        "--episode-seconds",
        "0.5",
    )
    assert result.returncode == 0, result.stderr
    assert "episodes / frames  2 / 30" in result.stdout and "Integrity: OK" in result.stdout
    info = run_cli("info", str(root))
    assert info.returncode == 0, info.stderr
    assert "Episodes   2 episodes, 30 frames" in info.stdout
    assert any(
        line.split()[:4] == ["observation.images.cam1", "96x64", "av1", "yuv420p"]
        for line in info.stdout.splitlines()[6:]
    )
    assert run_cli("record", "--root", str(root)).returncode == 2  # refuses to overwrite without --overwrite


def test_info_flags_a_damaged_dataset(tmp_path):
    root = tmp_path / "demo"
    assert (
        run_cli(
            "record",
            "--root",
            str(root),
            "--cameras",
            "1",
            "--resolution",
            "96x64",
            "--episodes",
            "2",
            "--episode-seconds",
            "0.3",
        ).returncode
        == 0
    )
    (root / "videos/observation.images.cam0/chunk-000/file-000.mp4").unlink()
    result = run_cli("info", str(root))
    assert result.returncode == 1 and "is missing" in result.stdout


def test_bad_arguments_get_a_clear_message():
    result = run_cli("record", "--resolution", "640by480")
    assert result.returncode == 2 and "WIDTHxHEIGHT" in result.stderr
    assert run_cli("record", "--cameras", "0").returncode == 2


@pytest.mark.parametrize(
    ("stop_signal", "name"), [(signal.SIGINT, "Ctrl-C"), (signal.SIGTERM, "SIGTERM"), (signal.SIGHUP, "SIGHUP")]
)
def test_a_stop_signal_saves_the_episode_in_progress_and_leaves_a_valid_dataset(tmp_path, stop_signal, name):
    """Ctrl-C from a terminal, SIGTERM from systemd, SIGHUP from a closed ssh session - each to the whole
    process group, as they are sent: the episode in progress is saved and the dataset finalized."""
    root = tmp_path / "demo"
    args = ["--cameras", "2", "--resolution", "160x120", "--episodes", "3", "--episode-seconds", "30"]
    with recording(root, *args) as recorder:
        time.sleep(1.5)
        workers = [p.pid for p in psutil.Process(recorder.pid).children(recursive=True)]
        os.killpg(recorder.pid, stop_signal)  # to the whole process group, as a terminal or systemd sends it
        out, err = recorder.communicate(timeout=60)
    assert recorder.returncode == 0, err
    assert "partial episode saved" in out and f"stopped by {name}" in out
    assert not (root / ".staging").exists()
    report = inspect_dataset(root)
    assert report.healthy, report.problems
    assert len(report.episodes) == 1 and 0 < report.episodes[0]["length"] < 900
    time.sleep(0.5)
    assert not [p for p in workers if psutil.pid_exists(p) and psutil.Process(p).status() != psutil.STATUS_ZOMBIE]


def test_ctrl_c_while_the_encoders_start_stops_cleanly_before_the_first_episode(tmp_path):
    """A stop signal during set-up (the dataset exists, the encoder processes are starting) is a request like any
    other: no traceback, exit 0, a valid dataset without episodes."""
    root = tmp_path / "demo"
    with recording(root, "--cameras", "2", "--resolution", "160x120", poll_s=0.005) as recorder:
        os.killpg(recorder.pid, signal.SIGINT)
        out, err = recorder.communicate(timeout=60)
    assert recorder.returncode == 0, err
    assert "Traceback" not in err
    assert "episodes / frames" in out and "stopped by Ctrl-C" in out
    info = json.loads((root / "meta/info.json").read_text())
    assert info["total_episodes"] == 0
    assert inspect_dataset(root).healthy


def test_overwrite_deletes_only_a_finished_dataset(tmp_path):
    small = ["--cameras", "1", "--resolution", "96x64", "--episodes", "1", "--episode-seconds", "0.2"]
    user_files = tmp_path / "thesis"
    user_files.mkdir()
    (user_files / "chapter1.tex").write_text("years of work")
    result = run_cli("record", "--root", str(user_files), "--overwrite", *small)
    assert result.returncode == 2 and "not a LeRobot dataset" in result.stderr and "Traceback" not in result.stderr
    assert (user_files / "chapter1.tex").read_text() == "years of work"

    here = subprocess.run(
        [*CLI, "record", "--root", ".", "--overwrite", *small],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=user_files,
        env=dict(os.environ, PYTHONPATH=str(REPO_ROOT)),
    )
    assert here.returncode == 2 and "working directory" in here.stderr and "Traceback" not in here.stderr
    assert (user_files / "chapter1.tex").exists()

    link = tmp_path / "link"
    link.symlink_to(user_files)
    result = run_cli("record", "--root", str(link), "--overwrite", *small)
    assert result.returncode == 2 and "symbolic link" in result.stderr
    assert (user_files / "chapter1.tex").exists()

    root = tmp_path / "live"
    with recording(root, *small[:4], "--episodes", "1", "--episode-seconds", "60") as recorder:
        while not list(root.glob(".staging/*/*/*.mp4")) and recorder.poll() is None:
            time.sleep(0.1)
        result = run_cli("record", "--root", str(root), "--overwrite", *small)
        assert result.returncode == 2 and f"being written by process {recorder.pid}" in result.stderr
        assert (root / "meta/info.json").exists() and list(root.glob(".staging/*/*/*.mp4"))
        recorder.send_signal(signal.SIGINT)  # the live recorder saves its episode as if nothing happened
        recorder.communicate(timeout=60)
    assert recorder.returncode == 0 and inspect_dataset(root).healthy
    assert len(inspect_dataset(root).episodes) == 1

    result = run_cli("record", "--root", str(root), "--overwrite", *small)  # a finished dataset: replaced
    assert result.returncode == 0, result.stderr
    assert len(inspect_dataset(root).episodes) == 1


@pytest.mark.parametrize("name", ["2024-06-01T10:00", "run:1"])
def test_a_root_with_a_colon_is_a_folder_not_an_ffmpeg_protocol(tmp_path, name):
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT))
    small = ["--cameras", "2", "--resolution", "96x64", "--episodes", "2", "--episode-seconds", "0.2"]
    for args in (["record", "--root", name, *small], ["info", name]):
        result = subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=120, cwd=tmp_path, env=env)
        assert result.returncode == 0, result.stdout + result.stderr
        assert "Integrity: OK" in result.stdout and "Traceback" not in result.stderr
    assert inspect_dataset(tmp_path / name).healthy


@pytest.mark.parametrize("vcodec", ["foo", "libaom-av1", "h264_nvenc"])
def test_a_codec_that_cannot_encode_here_is_refused_before_anything_is_written(tmp_path, vcodec):
    from workers.encoder_availability import usable_vcodecs

    if vcodec in usable_vcodecs():
        pytest.skip(f"{vcodec} encodes on this machine")
    root = tmp_path / "ds"
    small = ["--cameras", "1", "--resolution", "96x64", "--episodes", "1", "--episode-seconds", "0.2"]
    result = run_cli("record", "--root", str(root), "--vcodec", vcodec, *small)
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    assert f"vcodec '{vcodec}' cannot encode on this machine" in result.stderr and "usable here: " in result.stderr
    assert not root.exists()
    result = run_cli("bench", "--vcodec", vcodec, "--cameras", "1", "--seconds", "1", "--out", str(tmp_path / "b"))
    assert result.returncode == 2 and "cannot encode on this machine" in result.stderr
    from lerobot_stream.datasets.lerobot_dataset import LeRobotDataset

    spec = {"cam": {"dtype": "video", "shape": (64, 96, 3), "names": None}}
    with pytest.raises(ValueError, match=r"cannot encode on this machine|Invalid vcodec"):  # the latter: LeRobot's
        LeRobotDataset.create("t/codec", fps=30, features=spec, root=root, vcodec=vcodec)
    assert not root.exists()


def test_record_runs_a_session_with_resets_and_reports_the_backlog(tmp_path):
    root = tmp_path / "session"
    args = ["--cameras", "2", "--resolution", "96x64", "--episodes", "2", "--episode-seconds", "0.5"]
    result = run_cli("record", "--root", str(root), *args, "--reset-seconds", "0.5", "--backlog-memory-mb", "50")
    assert result.returncode == 0, result.stderr
    assert "encoder backlog    peak" in result.stdout and "Integrity: OK" in result.stdout
    assert len(inspect_dataset(root).episodes) == 2
    bad = run_cli("record", "--root", str(tmp_path / "x"), "--reset-seconds", "-1")
    assert bad.returncode == 2 and "must be 0 or more" in bad.stderr


def test_version_and_verbosity_flags_work_before_and_after_the_subcommand(tmp_path):
    version = run_cli("--version")
    assert version.returncode == 0 and version.stdout.startswith("lerobot-stream ") and "PyAV" in version.stdout
    missing = tmp_path / "missing"
    for args in (["-q", "info", str(missing)], ["info", "-v", str(missing)], ["recover", str(missing), "-q"]):
        result = run_cli(*args)
        assert result.returncode == 2 and "does not exist" in result.stderr, (args, result.stderr)  # flags accepted
    clash = run_cli("-v", "info", "-q", str(missing))
    assert clash.returncode == 2 and "contradict" in clash.stderr


def test_a_resolution_beyond_4k_is_refused_in_one_line():
    result = run_cli("record", "--resolution", "7680x4320")
    assert result.returncode == 2 and "at most 4096x2304" in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr  # not argparse's usage block before it
    assert "lerobot-stream record --help" in result.stderr


def _read_first_line_only(*args: str) -> tuple[int, bytes]:
    """``lerobot-stream ARGS | head -0``: the pipe closes before the output is written."""
    reader = subprocess.Popen(
        [*CLI, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=dict(os.environ, PYTHONPATH=str(REPO_ROOT)),
    )
    reader.stdout.close()  # before the program has written anything: its first write meets a closed pipe
    _, stderr = reader.communicate(timeout=60)
    return reader.returncode, stderr


def test_a_reader_that_stops_early_gets_no_traceback():
    returncode, stderr = _read_first_line_only("--version")
    assert returncode == 141 and not stderr, stderr.decode()


def test_ctrl_c_while_the_cameras_are_prepared_exits_cleanly(tmp_path):
    root = tmp_path / "ds"
    recorder = subprocess.Popen(
        [*CLI, "record", "--root", str(root), "--cameras", "16", "--resolution", "1920x1080"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=dict(os.environ, PYTHONPATH=str(REPO_ROOT)),
        start_new_session=True,
    )
    try:
        assert recorder.stdout.readline().startswith("Preparing 16 camera(s)")
        time.sleep(0.5)
        recorder.send_signal(signal.SIGINT)
        _, stderr = recorder.communicate(timeout=60)
    finally:
        if recorder.poll() is None:
            os.killpg(recorder.pid, signal.SIGKILL)
    assert recorder.returncode == 130 and "Traceback" not in stderr and "interrupted" in stderr, stderr
    assert not root.exists()  # nothing was created yet


def test_record_tasks_depth_and_resume_append_to_the_dataset(tmp_path):
    from lerobot_stream.datasets.lerobot_dataset import LeRobotDataset

    root = tmp_path / "ds"
    common = ["--resolution", "160x120", "--episode-seconds", "1", "--content", "synthetic"]
    first = run_cli("record", "--root", str(root), "--cameras", "2", "--episodes", "2", "--depth", *common,
                    "--task", "stack the cubes", "--task", "wipe the table", timeout=180)  # fmt: skip
    assert first.returncode == 0, first.stderr[-2000:]
    more = run_cli("record", "--root", str(root), "--resume", "--episodes", "1", "--task", "sort parts", *common)
    assert more.returncode == 0 and "after the 2 already in the dataset" in more.stdout, more.stderr[-2000:]
    dataset = LeRobotDataset("local/x", root=root)
    assert dataset.num_episodes == 3 and dataset.meta.depth_keys == [
        "observation.images.cam0_depth",
        "observation.images.cam1_depth",
    ]
    starts = [0, 30, 60]
    assert [dataset[i]["task"] for i in starts] == ["stack the cubes", "wipe the table", "sort parts"]
    assert tuple(dataset[61]["observation.images.cam1_depth"].shape[-2:]) == (120, 160)
    assert inspect_dataset(root).healthy
    for args, message in (
        (["--cameras", "3"], "was recorded with --cameras 2, not 3"),
        (["--overwrite"], "choose one"),
    ):
        refused = run_cli("record", "--root", str(root), "--resume", *args)
        assert refused.returncode == 2 and message in refused.stderr, refused.stderr
    assert LeRobotDataset("local/x", root=root).num_episodes == 3  # refusals changed nothing
    not_there = run_cli("record", "--root", str(tmp_path / "none"), "--resume")
    assert not_there.returncode == 2 and "is not a dataset to append to" in not_there.stderr
    returncode, stderr = _read_first_line_only("info", str(root))
    assert returncode == 141 and not stderr, stderr.decode()
