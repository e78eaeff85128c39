"""Shared test helpers: frames that carry a visible identity, and ways to read videos back."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import av
import numpy as np
import psutil
import pyarrow.parquet as pq
import pytest

from shm import SEGMENT_PREFIX, SHM_DIR
from workers.stats import DEFAULT_QUANTILES, quantile_key, stats_sample

IDENTITY_BITS = 12
_BAND_ROWS = 2  # bits are drawn as 2 rows x 6 columns of black/white blocks


def identity_frame(index: int, height: int = 64, width: int = 96, camera: int = 0) -> np.ndarray:
    """A uint8 HWC frame whose top band encodes ``index`` in large black/white blocks.

    The blocks survive lossy compression, so the frame shown at any timestamp of a decoded video can be
    identified. The rest of the frame is a moving, camera-specific gradient with a little texture.
    """
    if index >= 2**IDENTITY_BITS:
        raise ValueError("index too large for the identity band")
    yy, xx = np.mgrid[0:height, 0:width]
    base = np.stack(
        [(xx * 2 + index * 3 + camera * 40) % 256, (yy * 2 + index) % 256, ((xx + yy) + camera * 80) % 256], axis=-1
    ).astype(np.uint8)
    band_height = height // 2
    columns = IDENTITY_BITS // _BAND_ROWS
    block_h, block_w = band_height // _BAND_ROWS, width // columns
    for bit in range(IDENTITY_BITS):
        row, col = divmod(bit, columns)
        value = 255 if (index >> bit) & 1 else 0
        base[row * block_h : (row + 1) * block_h, col * block_w : (col + 1) * block_w] = value
    return base


def read_identity(frame_hwc: np.ndarray) -> int:
    """Inverse of `identity_frame` on a decoded (lossy) frame."""
    height, width = frame_hwc.shape[:2]
    band_height = height // 2
    columns = IDENTITY_BITS // _BAND_ROWS
    block_h, block_w = band_height // _BAND_ROWS, width // columns
    index = 0
    for bit in range(IDENTITY_BITS):
        row, col = divmod(bit, columns)
        block = frame_hwc[row * block_h : (row + 1) * block_h, col * block_w : (col + 1) * block_w]
        inner = block[block_h // 4 : block_h - block_h // 4, block_w // 4 : block_w - block_w // 4]
        if inner.mean() > 127:
            index |= 1 << bit
    return index


def decode_frames(path: str | Path) -> list[np.ndarray]:
    with av.open(str(path)) as container:
        return [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]


def decode_identities(path: str | Path) -> list[int]:
    return [read_identity(frame) for frame in decode_frames(path)]


def count_frames(path: str | Path) -> int:
    with av.open(str(path)) as container:
        return sum(1 for _ in container.decode(video=0))


def video_duration(path: str | Path) -> float:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        if stream.duration is not None:
            return float(stream.duration * stream.time_base)
        return float(container.duration / av.time_base)


def frame_at_timestamps(path: str | Path, timestamps: list[float], tolerance: float = 1e-4) -> dict[float, np.ndarray]:
    """Decode ``path`` once and return the frame whose presentation time matches each timestamp."""
    wanted = sorted(timestamps)
    found: dict[float, np.ndarray] = {}
    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            t = float(frame.pts * frame.time_base)
            for ts in wanted:
                if ts not in found and abs(t - ts) < tolerance:
                    found[ts] = frame.to_ndarray(format="rgb24")
    return found


# ---- reading a dataset back with pyarrow and PyAV only (independent of the library's own reader) -----------


def read_parquet_rows(paths) -> list[dict]:
    import pyarrow.parquet as pq

    rows = []
    for path in sorted(paths):
        rows.extend(pq.read_table(path).to_pylist())
    return rows


def dataset_tables(root: Path) -> tuple[list[dict], list[dict]]:
    """(data rows, episode rows) of a dataset, in global order."""
    data = read_parquet_rows(Path(root).glob("data/chunk-*/file-*.parquet"))
    episodes = read_parquet_rows(Path(root).glob("meta/episodes/chunk-*/file-*.parquet"))
    return sorted(data, key=lambda r: r["index"]), sorted(episodes, key=lambda r: r["episode_index"])


def identities_shown(root: Path, camera: str, data: list[dict], episodes: list[dict], fps: int) -> list[int]:
    """For every data row, the identity of the video frame shown at from_timestamp + timestamp.

    Each MP4 is decoded once; a row whose timestamp matches no frame within 1e-4 s gives -1.
    """
    by_episode = {e["episode_index"]: e for e in episodes}
    per_file: dict[Path, dict[int, int]] = {}
    shown = []
    for row in data:
        episode = by_episode[row["episode_index"]]
        path = (
            Path(root)
            / "videos"
            / camera
            / (
                f"chunk-{episode[f'videos/{camera}/chunk_index']:03d}/file-{episode[f'videos/{camera}/file_index']:03d}.mp4"
            )
        )
        if path not in per_file:
            with av.open(str(path)) as container:
                per_file[path] = {
                    round(float(frame.pts * frame.time_base) * fps * 1000): read_identity(
                        frame.to_ndarray(format="rgb24")
                    )
                    for frame in container.decode(video=0)
                }
        t = episode[f"videos/{camera}/from_timestamp"] + row["timestamp"]
        key = round(t * fps * 1000)
        candidates = [k for k in (key - 1, key, key + 1) if k in per_file[path]]
        shown.append(per_file[path][candidates[0]] if candidates else -1)
    return shown


def decode_depth_codes(path: str | Path) -> list[np.ndarray]:
    """The 12-bit codes of every frame of a depth MP4 (one 16-bit grey plane, rows padded to line_size)."""
    codes = []
    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            plane = frame.planes[0]
            rows = np.frombuffer(plane, dtype=np.uint16).reshape(frame.height, plane.line_size // 2)
            codes.append(rows[:, : frame.width].copy())
    return codes


def depth_error_bound(depth: np.ndarray, unit: str, depth_min=0.01, depth_max=10.0, shift=3.5) -> np.ndarray:
    """Per pixel, the largest error 12-bit log quantization (LeRobot v0.6's defaults) may leave after a
    round trip: half a code step at that depth, plus rounding to whole millimetres for millimetre output."""
    metres = depth.astype(np.float64) / (1000.0 if unit == "mm" else 1.0)
    step = (np.log(depth_max + shift) - np.log(depth_min + shift)) / 4095
    half_step = 0.5 * (metres + shift) * (np.exp(step) - 1)
    return (half_step * 1000.0 + 0.5 + 1e-6) if unit == "mm" else (half_step + 1e-6)


def write_h264(path: str | Path, width: int, height: int, levels: list[int]) -> None:
    """An H.264 file of flat grey frames, one per entry of ``levels`` (for footage-input tests)."""
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=30)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        for level in levels:
            image = np.full((height, width, 3), level, dtype=np.uint8)
            container.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")))
        container.mux(stream.encode(None))


def numpy_stats(frames: list[np.ndarray]) -> dict[str, np.ndarray]:
    """The reference statistics of RGB frames, computed with numpy over the pixels LeRobot samples."""
    pixels = np.concatenate([stats_sample(f).reshape(-1, 3) for f in frames]).astype(np.float64)
    result = {"min": pixels.min(0), "max": pixels.max(0), "mean": pixels.mean(0), "std": pixels.std(0)}
    for q in DEFAULT_QUANTILES:
        result[quantile_key(q)] = np.quantile(pixels, q, axis=0)
    return result


def encoder_children() -> list[psutil.Process]:
    """Live encoder processes started by this test process."""
    found = []
    for child in psutil.Process().children(recursive=True):
        try:
            if "workers.process_main" in " ".join(child.cmdline()):
                found.append(child)
        except psutil.Error:
            continue
    return found


def own_segments() -> list[str]:
    """Shared-memory segments created by this test process."""
    return sorted(p.name for p in SHM_DIR.glob(f"{SEGMENT_PREFIX}{os.getpid()}_*"))


# ---- datasets recorded through LeRobotDataset (test_dataset, test_reading) ----------------------------------

FPS = 30
H, W = 64, 96


def features(cameras: int, camera_dtype: str = "video") -> dict:
    spec = {
        f"observation.images.cam{c}": {
            "dtype": camera_dtype,
            "shape": (H, W, 3),
            "names": ["height", "width", "channels"],
        }
        for c in range(cameras)
    }
    spec["observation.state"] = {"dtype": "float32", "shape": (6,), "names": [f"j{i}" for i in range(6)]}
    spec["action"] = {"dtype": "float32", "shape": (2,), "names": ["x", "y"]}
    return spec


def frame(global_index: int, cameras: int, task: str) -> dict:
    item = {f"observation.images.cam{c}": identity_frame(global_index, H, W, camera=c) for c in range(cameras)}
    item["observation.state"] = np.arange(6, dtype=np.float32) + global_index
    item["action"] = np.array([global_index, -global_index], dtype=np.float32) / 7
    item["task"] = task
    return item


def record(dataset: Any, lengths: list[int], cameras: int, start: int = 0) -> int:
    """Record episodes of the given lengths; tasks alternate. Returns the next global frame index."""
    g = start
    for episode, length in enumerate(lengths):
        for _ in range(length):
            dataset.add_frame(frame(g, cameras, f"task {episode % 2}"))
            g += 1
        dataset.save_episode()
    return g


def check_dataset(root, lengths: list[int], cameras: int, first_global: int = 0) -> tuple[list[dict], list[dict]]:
    """Every row of every episode: columns, indices, timestamps, tasks, and the video frame it shows."""
    data, episodes = dataset_tables(root)
    total = sum(lengths)
    assert len(data) == total and len(episodes) == len(lengths)
    info = json.loads((root / "meta/info.json").read_text())
    assert info["total_episodes"] == len(lengths) and info["total_frames"] == total
    assert info["splits"] == {"train": f"0:{len(lengths)}"}
    tasks = pq.read_table(root / "meta/tasks.parquet").to_pylist()
    task_names = {t["task_index"]: t["task"] for t in tasks}
    start = 0
    for e, (episode, length) in enumerate(zip(episodes, lengths, strict=True)):
        assert episode["episode_index"] == e and episode["length"] == length
        assert (episode["dataset_from_index"], episode["dataset_to_index"]) == (start, start + length)
        assert episode["tasks"] == [f"task {e % 2}"]
        rows = data[start : start + length]
        for i, row in enumerate(rows):
            g = first_global + start + i
            assert row["index"] == start + i and row["episode_index"] == e and row["frame_index"] == i
            assert row["timestamp"] == pytest.approx(i / FPS, abs=1e-6)
            assert task_names[row["task_index"]] == f"task {e % 2}"
            assert row["observation.state"] == pytest.approx((np.arange(6) + g).tolist())
            assert row["action"] == pytest.approx([g / 7, -g / 7])
        for c in range(cameras):
            key = f"observation.images.cam{c}"
            assert episode[f"videos/{key}/to_timestamp"] - episode[f"videos/{key}/from_timestamp"] == pytest.approx(
                length / FPS
            )
            assert episode[f"videos/{key}/repeated_frames"] == 0
        start += length
    for c in range(cameras):
        key = f"observation.images.cam{c}"
        shown = identities_shown(root, key, data, episodes, FPS)
        assert shown == [first_global + i for i in range(total)], key
        assert info["features"][key]["info"]["video.codec"] == "av1"
        assert info["features"][key]["info"]["video.g"] == 2
    return data, episodes


# ---- real small filesystems (root only) -----------------------------------------------------------------------


def small_filesystem_command(options: str, mount_point: Path, command: list[str]) -> list[str] | None:
    """A command that runs ``command`` with a tmpfs (mount ``options``, e.g. ``size=1m,nr_inodes=400``)
    mounted at ``mount_point`` in a private mount namespace, or None where no namespace can be made."""
    mount_point.mkdir()
    script = f'mount -t tmpfs -o {options} tmpfs {mount_point} && exec "$@"'
    for prefix in (["unshare", "-m"], ["unshare", "-rm"]):
        if shutil.which(prefix[0]) is None:
            continue
        probe = subprocess.run([*prefix, "sh", "-c", script, "sh", "true"], capture_output=True)
        if probe.returncode == 0:
            return [*prefix, "sh", "-c", script, "sh", *command]
    return None
