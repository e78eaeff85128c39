"""Against the real LeRobot (skipped where it is not installed; ``tests/real_lerobot/run.sh`` builds an
environment with it and runs this file): LeRobot's own recorder with our encoder plugged in, and our
RGB-D datasets read back by LeRobot's own reader."""

from __future__ import annotations

import time

import numpy as np
import pytest
from helpers import dataset_tables, depth_error_bound, identity_frame, read_identity

lerobot = pytest.importorskip("lerobot", reason="LeRobot is not installed (tests/real_lerobot/run.sh installs it)")
from lerobot.datasets.lerobot_dataset import LeRobotDataset as TheirDataset  # noqa: E402

import lerobot_stream.dropin as dropin  # noqa: E402
from lerobot_stream.datasets.lerobot_dataset import LeRobotDataset as OurDataset  # noqa: E402

H, W, FPS = 48, 64, 30
RGB, DEPTH = "observation.images.front", "observation.images.front_depth"
HAS_DEPTH = hasattr(TheirDataset, "depth_output_unit")  # LeRobot v0.6


def features(depth: bool) -> dict:
    spec = {
        RGB: {"dtype": "video", "shape": (H, W, 3), "names": ["height", "width", "channels"]},
        "action": {"dtype": "float32", "shape": (2,), "names": ["a", "b"]},
    }
    if depth:
        spec[DEPTH] = {
            "dtype": "video",
            "shape": (H, W, 1),
            "names": ["height", "width", "channels"],
            "info": {"is_depth_map": True},
        }
    return spec


def depth_map(g: int) -> np.ndarray:
    yy, xx = np.mgrid[0:H, 0:W]
    return (400 + 40 * xx + 10 * yy + 20 * g).astype(np.uint16)


def record(dataset, lengths: list[int], depth: bool) -> None:
    g = 0
    for length in lengths:
        for _ in range(length):
            frame = {RGB: identity_frame(g, H, W), "action": np.array([g, -g], np.float32), "task": "t"}
            if depth:
                frame[DEPTH] = depth_map(g)[..., None]
            dataset.add_frame(frame)
            g += 1
        dataset.save_episode()


def _backends() -> list[str]:
    """LeRobot's decoders usable here: PyAV always; torchcodec where its FFmpeg libraries load."""
    try:
        import torchcodec.decoders  # noqa: F401  (raises when no FFmpeg shared libraries are installed)
    except Exception:
        return ["pyav"]
    return ["pyav", "torchcodec"]


def check_with_lerobot(root, total: int, depth: bool) -> None:
    """LeRobot's reader returns, for every row, the frame and the depth map that were recorded (with each of
    its video decoders that works here)."""
    for backend in _backends():
        check_rows(TheirDataset("test/rt", root=root, video_backend=backend), total, depth)


def check_rows(dataset, total: int, depth: bool) -> None:
    assert len(dataset) == total
    for g in range(total):
        item = dataset[g]
        rgb = (item[RGB].numpy().transpose(1, 2, 0) * 255).round().astype(np.uint8)
        assert read_identity(rgb) == g
        assert item["action"].tolist() == [g, -g]
        if depth:
            back = item[DEPTH].numpy().reshape(H, W)  # millimetres, LeRobot's default output unit
            assert np.all(np.abs(back - depth_map(g)) <= depth_error_bound(depth_map(g), "mm"))


@pytest.fixture
def plugged_in():
    version = dropin.install()
    yield version
    dropin.uninstall()


def test_lerobot_records_through_our_encoder_processes(tmp_path, plugged_in):
    kwargs = {}
    if HAS_DEPTH:
        from lerobot.configs.video import DepthEncoderConfig, RGBEncoderConfig

        kwargs = {"rgb_encoder": RGBEncoderConfig(), "depth_encoder": DepthEncoderConfig()}
    root = tmp_path / "ds"
    dataset = TheirDataset.create(
        "test/rt", fps=FPS, features=features(HAS_DEPTH), root=root, streaming_encoding=True, **kwargs
    )
    encoder = dataset.writer._streaming_encoder if hasattr(dataset, "writer") else dataset._streaming_encoder
    assert isinstance(encoder, dropin.LeRobotSeamEncoder)
    # The encoder processes run before the first frame: LeRobot's first add_frame does not wait for them.
    assert set(encoder.worker_pids()) == ({RGB, DEPTH} if HAS_DEPTH else {RGB})
    record(dataset, [5, 3], HAS_DEPTH)
    assert set(encoder.worker_pids()) == ({RGB, DEPTH} if HAS_DEPTH else {RGB})
    dataset.finalize()
    check_with_lerobot(root, 8, HAS_DEPTH)


@pytest.mark.parametrize("streaming", [True, False], ids=["stream", "png"])
def test_lerobot_reads_our_datasets(tmp_path, streaming):
    root = tmp_path / "ds"
    dataset = OurDataset.create(
        "test/rt", fps=FPS, features=features(HAS_DEPTH), root=root, streaming_encoding=streaming
    )
    record(dataset, [4, 1, 6], HAS_DEPTH)
    dataset.finalize()
    check_with_lerobot(root, 11, HAS_DEPTH)
    if HAS_DEPTH:
        in_metres = TheirDataset("test/rt", root=root, depth_output_unit="m", video_backend="pyav")
        assert np.allclose(in_metres[3][DEPTH].numpy().reshape(H, W), depth_map(3) / 1000, atol=0.002)
        assert in_metres.meta.stats[DEPTH]["max"].reshape(-1)[0] == pytest.approx(depth_map(10).max() / 1000)


def test_the_benchmark_runs_lerobots_own_encoder_beside_ours(tmp_path):
    """``--designs lerobot`` puts LeRobot's threaded encoder in the same paced loop as the process design."""
    import json
    import subprocess
    import sys
    from pathlib import Path

    repo = Path(__file__).resolve().parent.parent
    args = ["--designs", "process,lerobot", "--cameras", "1", "--seconds", "0.5", "--resolution", "96x64"]
    args += ["--limit-seconds", "0.5", "--out", str(tmp_path), "--no-plot"]
    if HAS_DEPTH:
        args += ["--workloads", "rgb,rgbd"]
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks.record_bench", *args], capture_output=True, text=True, timeout=300, cwd=repo
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(next(tmp_path.glob("record_bench-*.json")).read_text())
    runs = {r["design"]: r for r in report["runs"]}
    assert {"process", "lerobot"} <= set(runs) and (not HAS_DEPTH or "lerobot-rgbd" in runs)
    for run in runs.values():
        assert run["error"] is None, run
        assert run["frames_encoded_own"] + run["frames_dropped"] == run["frames_fed"]


def test_lerobot_reads_episodes_saved_while_their_encoders_were_behind(tmp_path):
    """`save_episode` returned while the encoders were still working through the episode (x264 veryslow on noise,
    far slower than the 100 frames/s fed): the videos were committed later, in order - and LeRobot's reader finds
    every row's own frame."""
    from lerobot_stream.configs.video import RGBEncoderConfig

    height, width = 240, 320
    rng = np.random.default_rng(0)
    spec = {RGB: {"dtype": "video", "shape": (height, width, 3), "names": ["height", "width", "channels"]}}
    spec["action"] = {"dtype": "float32", "shape": (2,), "names": ["a", "b"]}
    root = tmp_path / "ds"
    dataset = OurDataset.create(
        "test/rt",
        fps=FPS,
        features=spec,
        root=root,
        streaming_encoding=True,
        rgb_encoder=RGBEncoderConfig(vcodec="h264", preset="veryslow"),
        encoder_threads=1,
    )
    pending = []
    g = 0
    for length in (30, 20, 25):
        for _ in range(length):
            frame = identity_frame(g, height, width)
            frame[height // 2 :] = rng.integers(0, 256, frame[height // 2 :].shape, dtype=np.uint8)
            dataset.add_frame({RGB: frame, "action": np.array([g, -g], np.float32), "task": "t"})
            g += 1
            time.sleep(0.01)
        dataset.save_episode()
        pending.append(dataset.writer.pending_episodes)
    assert max(pending) >= 1, "save_episode returned before the episode's video was encoded"
    dataset.finalize()
    _, episodes = dataset_tables(root)
    assert [e[f"videos/{RGB}/repeated_frames"] for e in episodes] == [0, 0, 0], "the backlog held every frame"
    check_with_lerobot(root, g, depth=False)
