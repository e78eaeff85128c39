"""The benchmark harness runs end to end and reports every design side by side (tiny sizes: this checks
that the harness works, not how fast anything is)."""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import av
import numpy as np
import pytest
from helpers import identity_frame, write_h264

from benchmarks.designs import RunResult
from benchmarks.record_bench import report_failures
from lerobot_stream.cli.arguments import camera_counts
from workers.codecs import EncoderSettings
from workers.encode import EpisodeEncoder

REPO_ROOT = Path(__file__).resolve().parent.parent


def test_camera_counts_and_their_refusals():
    assert camera_counts("3") == [3]
    assert camera_counts("1-3,6") == [1, 2, 3, 6]
    for text, message in (("abc", "expected camera counts such as"), ("3-1", "is empty"), ("0-2", "1 or more")):
        with pytest.raises(argparse.ArgumentTypeError, match=message):
            camera_counts(text)


def _bench(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "lerobot_stream.cli", "bench", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=dict(os.environ, PYTHONPATH=str(REPO_ROOT)),
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--seconds", "-1"], "must be a number above 0"),
        (["--fps", "0"], "must be 1 or more"),
        (["--cameras", "abc"], "expected camera counts such as 3, 1,2,4 or 1-8"),
        (["--cameras", "3-1"], "the range 3-1 is empty"),
        (["--resolution", "7680x4320"], "at most 4096x2304"),
        (["--crf", "x"], "expected a whole number"),
    ],
)
def test_bad_bench_arguments_are_refused_before_anything_is_measured(args, message):
    started = time.monotonic()
    result = _bench(*args)
    assert result.returncode == 2 and message in result.stderr and "Traceback" not in result.stderr, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "Machine:" not in result.stdout and time.monotonic() - started < 30


@pytest.mark.skipif(importlib.util.find_spec("lerobot") is not None, reason="LeRobot is installed here")
def test_the_lerobot_design_without_lerobot_is_refused_at_once():
    result = _bench("--designs", "lerobot")
    assert result.returncode == 2 and "install LeRobot" in result.stderr and "Machine:" not in result.stdout


def test_a_failed_run_makes_the_bench_fail_and_says_why(capsys):
    ok = RunResult("process", 1)
    failed = RunResult("lerobot", 2)
    failed.error = "ModuleNotFoundError: No module named 'lerobot'"
    assert report_failures([ok]) == 0
    assert report_failures([ok, failed]) == 1
    err = capsys.readouterr().err
    assert "1 of 2 run(s) failed" in err and "lerobot with 2 camera(s): ModuleNotFoundError" in err, err


def test_harness_compares_all_designs_and_writes_json(tmp_path):
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks.record_bench",
            "--cameras",
            "2",
            "--seconds",
            "0.5",
            "--resolution",
            "96x64",
            "--limit-seconds",
            "0.5",
            "--out",
            str(tmp_path),
            "--no-plot",
            "--workloads",
            "rgb,rgbd",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env=dict(os.environ, PYTHONPATH=str(REPO_ROOT)),
    )
    assert result.returncode == 0, result.stderr
    assert "Capacity" in result.stdout and "process capacity / encode limit" in result.stdout
    assert "6 run(s) planned, about" in result.stdout and "floor n/a:" in result.stdout  # rgbd has no floor
    report = json.loads(next(tmp_path.glob("record_bench-*.json")).read_text())
    runs = {(r["design"], r["cameras"]): r for r in report["runs"]}
    labels = ("process", "thread", "png", "process-rgbd", "thread-rgbd", "png-rgbd")
    assert set(runs) == {(d, 2) for d in labels}
    for run in runs.values():
        assert run["error"] is None
        streams = 2 if run["design"].endswith("-rgbd") else 1  # an RGB-D camera records RGB and depth
        assert run["frames_fed"] == 15 * run["cameras"] * streams
        assert run["frames_encoded_own"] + run["frames_dropped"] == run["frames_fed"]
        assert run["feed_us"]["p99"] > 0 and run["lateness_ms"]["max"] >= run["lateness_ms"]["p50"]
        assert run["lateness_ms"]["max"] >= run["first_ticks_late_ms"] >= 0
        # What was still waiting at the end: known for the streaming designs, at most a buffer.
        if run["design"] in ("process", "thread", "process-rgbd", "thread-rgbd"):
            assert 0 <= run["end_backlog"] <= run["buffer_size"]
        assert run["realtime"] <= run["sustained"] <= run["zero_drops"]
        # The first camera's video decoded against what was fed (a wrong frame order would score ~10 dB).
        assert 25 < run["worst_psnr_db"] <= run["psnr_db"] < 99
        # Each RGB camera count has its own floor (a bare loop beside that many paced worker-like encoders).
        row_floor = run["floor_late_ms"]
        assert (row_floor is None) == run["design"].endswith("-rgbd")
        assert row_floor is None or 0 <= row_floor["p50"] <= row_floor["p99"] <= row_floor["max"]
    assert report["limit"]["limit_cameras"] > 0 and report["limit"]["parallel_limit_cameras"] > 0
    floor = report["limit"]["floor_lateness_ms"]  # a bare paced loop beside idle-priority encoders
    assert 0 <= floor["p50"] <= floor["p99"] <= floor["max"] and "environment floor" in result.stdout
    assert set(report["capacity"]) == set(labels)
    assert "RGB-D capacity process" in result.stdout
    assert "process: latest tick within floor + 5 ms" in result.stdout
    assert report["machine"]["cores"] >= 1


def test_harness_benchmarks_the_users_own_footage(tmp_path):
    footage = tmp_path / "footage.mp4"
    write_h264(footage, 128, 96, [(index * 10) % 256 for index in range(20)])
    command = [sys.executable, "-m", "benchmarks.record_bench", "--designs", "process", "--cameras", "1"]
    command += ["--seconds", "0.5", "--resolution", "64x48", "--limit-seconds", "0", "--no-plot"]
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT))
    result = subprocess.run(
        [*command, "--source", str(footage), "--out", str(tmp_path / "out")],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert result.returncode == 0, result.stderr
    assert f"footage from {footage}" in result.stdout
    run = json.loads(next((tmp_path / "out").glob("record_bench-*.json")).read_text())["runs"][0]
    assert run["error"] is None and run["frames_fed"] == 15 and run["psnr_db"] > 25

    missing = subprocess.run(
        [*command, "--source", str(tmp_path / "nothing.mp4")], capture_output=True, text=True, timeout=60, env=env
    )
    assert missing.returncode == 2 and "nothing.mp4: no such file or folder" in missing.stderr


def test_content_calibration_compares_photographs_with_the_scene(tmp_path, capsys):
    from benchmarks.calibrate_content import main as calibrate

    picture = tmp_path / "photo.png"
    canvas = (np.random.default_rng(0).random((80, 100, 3)) * 255).astype(np.uint8)
    frame = av.VideoFrame.from_ndarray(canvas, format="rgb24")
    with av.open(str(picture), "w", format="image2") as container:
        stream = container.add_stream("png", rate=1)
        stream.width, stream.height, stream.pix_fmt = 100, 80, "rgb24"
        container.mux(stream.encode(frame))
    assert calibrate([str(picture), "--resolution", "64x48", "--frames", "8", "--scene-seeds", "1"]) == 0
    out = capsys.readouterr().out
    assert "photo photo.png" in out and "scene (seed 0)" in out and "scene / photographs: encode time x" in out


def test_svt_av1_holds_frames_back_so_the_limit_counts_packets_out(tmp_path):
    """Why `benchmarks.limit` measures packets out in the steady state: SVT-AV1 takes frames for a long while
    before it returns any, so counting frames put in over a few seconds measures its queue, not its speed."""
    settings = EncoderSettings(30, "libsvtav1", "yuv420p", 2, 30, None, 1)
    encoder = EpisodeEncoder(tmp_path / "a.mp4", settings)
    for index in range(20):
        encoder.add(index, identity_frame(index, 64, 96))
    assert encoder.frames_written == 20 and encoder.packets_written <= 10  # SVT-AV1 3 and 4 hold 16-20 back here
    encoder.finish()
    assert encoder.packets_written == 20


def test_session_harness_runs_sessions_with_and_without_the_backlog(tmp_path):
    command = [sys.executable, "-m", "benchmarks.session_bench", "--cameras", "1", "--episodes", "2"]
    command += ["--episode-seconds", "0.5", "--reset-seconds", "0.3", "--resolution", "96x64", "--limit-seconds", "0"]
    result = subprocess.run(
        [*command, "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=300,
        env=dict(os.environ, PYTHONPATH=str(REPO_ROOT)),
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "process-no-backlog" in result.stdout and "frames lost" in result.stdout
    report = json.loads(next(tmp_path.glob("session_bench-*.json")).read_text())
    runs = {run["design"]: run for run in report["runs"]}
    assert set(runs) == {"process", "process-no-backlog"}
    for run in runs.values():
        assert run["frames"] == 2 * 15 and run["lost"] == 0 and len(run["save_s"]) == 2 and not run["error"]
    bad = subprocess.run([sys.executable, "-m", "benchmarks.session_bench", "--designs", "gpu"], capture_output=True)
    assert bad.returncode == 2


def test_microbench_measures_what_the_code_comments_cite(tmp_path):
    """The cheap measurements of `benchmarks.microbench` (the others run for seconds each): a table on stdout and
    the JSON results file the comments' numbers come from."""
    command = [
        sys.executable,
        "-m",
        "benchmarks.microbench",
        "--only",
        "copy_into_ring",
        "spawn",
        "--out",
        str(tmp_path),
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120, cwd=Path(__file__).parent.parent)
    assert result.returncode == 0, result.stderr
    assert "copy of one 900 KiB frame" in result.stdout and "BackgroundSpawn keeps the caller" in result.stdout
    report = json.loads(next(tmp_path.glob("*-microbench.json")).read_text())
    copies = report["results"]["copy_into_ring"]["copy_ms"]
    assert set(copies) == {"never touched", "reserved (posix_fallocate)", "mapped (written once)"}
    assert all(ms > 0 for ms in copies.values())
    spawn = report["results"]["spawn"]
    assert len(spawn["caller_ms"]) == 3 and max(spawn["caller_ms"]) < min(spawn["process_exists_ms"])
