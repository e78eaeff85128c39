"""Recorders run on a real, small filesystem (a tmpfs the test mounts in a private mount namespace, as root).

Usage: ``python full_disk_child.py MODE MOUNT_POINT``; prints one ``REPORT <json>`` line.

Modes:
* ``save-sweep``: fill the disk - leaving 0, 1, 2, ... free inodes, then 0, 4, 8, ... KiB free - before each
  ``save_episode`` (and its commit, awaited with ``wait_for_saved_episodes``), so saves (the first, which creates
  every file, and later ones) run out of space at every file they write. After each failed
  save it checks that the dataset's files are byte for byte what they were, frees the space and goes on.
* ``mid-episode``: fill the disk while an episode is being recorded; report every error ``add_frame`` raised,
  then free the space and record one more episode.
* ``backlog-reserve``: an encoder far behind, whose backlog spills to disk: the free space must stay above the
  reserve it was given.
* ``spill-recovery``: recover a killed encoder's spilled frames on a full disk (it must fail and change nothing),
  then with room again; and start spilling on the full disk (no spill file with a header cut short is left).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from helpers import dataset_tables, decode_identities, identities_shown, identity_frame

from lerobot_stream.datasets.lerobot_dataset import LeRobotDataset
from lerobot_stream.datasets.video_utils import StreamingVideoEncoder
from lerobot_stream.errors import EpisodeSaveError
from lerobot_stream.recovery.integrity import inspect_dataset

H, W = 64, 96
KEYS = ["observation.images.cam0", "observation.images.cam1"]
FEATURES = {key: {"dtype": "video", "shape": (H, W, 3), "names": ["height", "width", "channels"]} for key in KEYS}
FEATURES["observation.state"] = {"dtype": "float32", "shape": (3,), "names": ["a", "b", "c"]}


class Filler:
    """Takes the filesystem's free inodes or bytes away, and gives them back."""

    def __init__(self, mount: Path):
        self.folder = mount / "filler"
        self.folder.mkdir(exist_ok=True)
        self._count = 0

    def leave_inodes(self, free: int) -> None:
        while os.statvfs(self.folder).f_favail > free:
            (self.folder / f"i{self._count}").touch()
            self._count += 1

    def leave_bytes(self, free: int) -> None:
        big = self.folder / f"b{self._count}"
        self._count += 1
        # Unbuffered: a buffered file keeps what a full disk refused and raises again when it is closed.
        with open(big, "wb", buffering=0) as f, contextlib.suppress(OSError):
            while True:
                f.write(b"\0" * 65536)
        size = big.stat().st_size
        os.truncate(big, max(0, size - free))

    def release(self) -> None:
        for path in self.folder.iterdir():
            path.unlink()


def snapshot(root: Path) -> dict[str, str]:
    """Every dataset file (not staging, not the lock) and its content hash."""
    files = {}
    for path in sorted(root.rglob("*")):
        relative = path.relative_to(root).as_posix()
        if path.is_file() and not relative.startswith(".staging") and not relative.endswith(".writer.lock"):
            files[relative] = hashlib.sha256(path.read_bytes()).hexdigest()
    return files


def record(dataset: LeRobotDataset, start: int, length: int) -> None:
    for g in range(start, start + length):
        frame = {key: identity_frame(g, H, W, camera=c) for c, key in enumerate(KEYS)}
        frame["observation.state"] = np.full(3, g, dtype=np.float32)
        frame["task"] = f"task {g % 3}"
        dataset.add_frame(frame)


def aligned(root: Path) -> bool:
    """Every data row shows, in every camera, the frame recorded with it."""
    data, episodes = dataset_tables(root)
    states = [int(row["observation.state"][0]) for row in data]
    return all(identities_shown(root, key, data, episodes, 30) == states for key in KEYS)


def save_sweep(mount: Path) -> dict:
    root = mount / "ds"
    filler = Filler(mount)
    dataset = LeRobotDataset.create("test/full", fps=30, features=FEATURES, root=root, streaming_encoding=True)
    report: dict = {"failures": [], "saved": 0, "unchanged": [], "errors": []}
    g = 0
    # The first saves create every file; the later ones extend them (a new copy of each beside it).
    inodes = [("inodes", n) for n in range(16)]
    steps = inodes + inodes + [("bytes", kib * 1024) for kib in range(0, 1024, 4)]  # a tmpfs page at a time
    saved_with_bytes_left = 0
    for kind, amount in steps:
        if saved_with_bytes_left == 2:
            break  # space enough for whole saves: every step of one has been cut short before
        record(dataset, g, 5)
        g += 5
        before = snapshot(root)
        totals = (dataset.meta.total_episodes, dataset.meta.total_frames)
        filler.leave_inodes(amount) if kind == "inodes" else filler.leave_bytes(amount)
        try:
            dataset.save_episode()
            dataset.wait_for_saved_episodes()  # the commit runs in the background: on this full disk
            report["saved"] += 1
            saved_with_bytes_left += kind == "bytes"
        except EpisodeSaveError as exc:
            report["failures"].append(f"{kind}={amount}")
            report["errors"].append(str(exc))
            report["unchanged"].append(
                snapshot(root) == before and (dataset.meta.total_episodes, dataset.meta.total_frames) == totals
            )
        finally:
            filler.release()
    record(dataset, g, 5)  # the writer still works once space is back
    dataset.save_episode()
    report["saved"] += 1
    dataset.finalize()
    inspection = inspect_dataset(root)
    report["healthy"], report["problems"] = inspection.healthy, inspection.problems
    report["episodes"] = len(inspection.episodes)
    reader = LeRobotDataset("test/full", root=root)
    report["reader_items"] = len(reader)
    report["total_frames"] = reader.meta.total_frames
    report["aligned"] = aligned(root)
    report["leftovers"] = sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.name.startswith("."))
    return report


def mid_episode(mount: Path) -> dict:
    """The disk fills while episodes are recorded: one ends in ``save_episode``, the next in
    ``clear_episode_buffer``; then space comes back and recording goes on."""
    root = mount / "ds"
    filler = Filler(mount)
    dataset = LeRobotDataset.create("test/full", fps=30, features=FEATURES, root=root, streaming_encoding=True)
    report: dict = {"errors": [[], []], "buffered": [], "saved": 0}
    record(dataset, 0, 5)
    dataset.save_episode()
    dataset.wait_for_saved_episodes()  # in the dataset before the disk fills (a saved episode still being
    report["saved"] += 1  # encoded when it fills would fail too, as the README says)
    g = 5
    for phase in (0, 1):
        record(dataset, g, 5)
        g += 5
        filler.leave_bytes(0)
        for _ in range(45):  # a loop that goes on whatever add_frame says
            try:
                record(dataset, g, 1)
            except Exception as exc:
                report["errors"][phase].append(f"{type(exc).__name__}: {exc}")
            g += 1
            time.sleep(1 / 60)
        report["buffered"].append(dataset.writer.episode_buffer["size"])
        if phase == 0:
            try:
                dataset.save_episode()
                report["saved"] += 1
            except EpisodeSaveError as exc:
                report["save_error"] = str(exc)
        else:
            dataset.clear_episode_buffer()
        if phase == 0:
            filler.release()
    try:  # the disk is still full: the next episode is refused at its first frame
        record(dataset, g, 1)
    except Exception as exc:
        report["refused"] = f"{type(exc).__name__}: {exc}"
    report["buffered"].append(dataset.writer.episode_buffer["size"])
    filler.release()
    record(dataset, 1000, 6)
    dataset.save_episode()
    report["saved"] += 1
    dataset.finalize()
    inspection = inspect_dataset(root)
    report["healthy"], report["problems"] = inspection.healthy, inspection.problems
    report["lengths"] = [e["length"] for e in inspection.episodes]
    report["aligned"] = aligned(root)
    return report


def backlog_reserve(mount: Path) -> dict:
    """An encoder far behind (x264 veryslow, one thread, 640x480 at full speed) whose backlog may spill until the
    disk has 40 MB free: the free space, sampled every 10 ms, must never go below that."""
    import threading

    reserve_mb, lowest = 40, [float("inf")]
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            st = os.statvfs(mount)
            lowest[0] = min(lowest[0], st.f_bavail * st.f_frsize / 1e6)
            time.sleep(0.01)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    frames = [identity_frame(i, 480, 640) for i in range(8)]
    with StreamingVideoEncoder(
        fps=30,
        vcodec="h264",
        preset="veryslow",
        encoder_threads=1,
        backlog_memory_mb=1,
        backlog_disk_reserve_mb=reserve_mb,
    ) as encoder:
        encoder.warm_up(["cam"], frame_shapes={"cam": (480, 640, 3)})
        encoder.start_episode(["cam"], mount / "staging", frame_shapes={"cam": (480, 640, 3)})
        peak_disk = 0.0
        for i in range(150):
            encoder.feed_frame("cam", frames[i % 8])
            peak_disk = max(peak_disk, encoder.status()["cam"].backlog_disk_mb)
            time.sleep(0.005)
        encoder.cancel_episode()  # the point is the disk while recording, not the encode afterwards
        dropped = encoder.dropped_frames["cam"]
    done.set()
    sampler.join()
    return {"lowest_free_mb": lowest[0], "reserve_mb": reserve_mb, "dropped": dropped, "peak_disk_mb": peak_disk}


def spill_recovery(mount: Path) -> dict:
    """A dead encoder's MP4 (10 frames) and spill file (frames 10..59, 320x240), on a full disk: recovering them
    must raise ``OSError`` and leave both files as they were; with room again it appends the 50 frames."""
    import av

    from lerobot_stream.recorder.video_prefix import append_spilled_frames
    from workers.backlog import BacklogBudget, FrameBacklog, SpillFile, spill_path_for
    from workers.codecs import EncoderSettings
    from workers.encode import EpisodeEncoder

    settings = EncoderSettings(fps=30, vcodec="h264", g=2, crf=10)
    video = mount / "cam_streaming.mp4"
    encoder = EpisodeEncoder(video, settings, fragmented=True)
    rng = np.random.default_rng(0)
    noisy = [identity_frame(i, 240, 320) for i in range(60)]
    for frame in noisy:  # costly to compress: the appended frames need room
        frame[120:] = rng.integers(0, 256, frame[120:].shape, dtype=np.uint8)
    for index in range(10):
        encoder.add(index, noisy[index])
    encoder.finish()
    backlog = FrameBacklog(BacklogBudget(0, 0), spill_path_for(video), None, settings)
    backlog.push(9, av.VideoFrame.from_ndarray(noisy[9], format="rgb24").reformat(format="yuv420p"))
    for index in range(10, 60):
        backlog.push(index, av.VideoFrame.from_ndarray(noisy[index], format="rgb24").reformat(format="yuv420p"))
    backlog.pop()
    del backlog
    before = {path.name: hashlib.sha256(path.read_bytes()).hexdigest() for path in (video, spill_path_for(video))}
    filler = Filler(mount)
    filler.leave_bytes(0)
    try:
        append_spilled_frames(video, 30)
        error = None
    except OSError as exc:
        error = f"{type(exc).__name__}: {exc}"
    after = {path.name: hashlib.sha256(path.read_bytes()).hexdigest() for path in (video, spill_path_for(video))}
    leftovers = sorted(p.name for p in mount.iterdir() if p.name not in (*before, "filler"))
    filler.leave_bytes(0)  # what the failed recovery freed is taken again
    fresh_path = mount / "fresh.backlog"
    fresh = FrameBacklog(BacklogBudget(0, 0), fresh_path, None, settings)  # a spill begun on the full disk
    fresh.push(0, av.VideoFrame.from_ndarray(noisy[0], format="rgb24").reformat(format="yuv420p"))  # in memory
    try:
        fresh.push(1, av.VideoFrame.from_ndarray(noisy[1], format="rgb24").reformat(format="yuv420p"))
        spill_error = None
    except OSError as exc:
        spill_error = f"{type(exc).__name__}: {exc}"
    try:  # a spill file left behind has its whole header: recovery can read it
        fresh_readable = not fresh_path.exists() or SpillFile.open(fresh_path) is not None
    except ValueError:
        fresh_readable = False
    filler.release()
    missing = append_spilled_frames(video, 30)
    return {
        "error": error,
        "spill_error": spill_error,
        "fresh_readable": fresh_readable,
        "unchanged": before == after,
        "leftovers": leftovers,
        "missing": missing,
        "identities": decode_identities(video),
        "spill_left": spill_path_for(video).exists(),
    }


def main() -> None:
    mode, mount = sys.argv[1], Path(sys.argv[2])
    modes = {
        "save-sweep": save_sweep,
        "mid-episode": mid_episode,
        "backlog-reserve": backlog_reserve,
        "spill-recovery": spill_recovery,
    }
    report = modes[mode](mount)
    print("REPORT " + json.dumps(report), flush=True)


if __name__ == "__main__":
    main()
