"""The main job: record a real LeRobot dataset from built-in synthetic cameras, with live progress.

Used by ``lerobot-stream record``. The loop is paced by the wall clock at ``fps``: every tick it takes
one frame per camera plus a joint state and action, and hands them to `LeRobotDataset.add_frame`
(streaming encoding by default). Ctrl-C, SIGTERM (``systemctl stop``) and SIGHUP (a closed ssh session)
stop cleanly: the episode being recorded is saved with the frames it has (a second signal during that save
is ignored; the dataset is finalized either way).
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

import numpy as np

from lerobot_stream.cli.dataset_info import size_on_disk
from lerobot_stream.cli.live_display import capture_logging
from lerobot_stream.cli.record_config import DEFAULT_TASK, RecordConfig, ResumeRefused, dataset_features, settle
from lerobot_stream.cli.record_status import StatusDisplay, TolerantWriter, video_keys
from lerobot_stream.datasets.lerobot_dataset import LeRobotDataset
from lerobot_stream.errors import EpisodeSaveError, OverwriteRefused
from lerobot_stream.sources.cameras import depth_cameras, make_cameras
from lerobot_stream.sources.synthetic import SyntheticRobot
from lerobot_stream.storage.layout import INFO_PATH
from lerobot_stream.storage.writer_lock import DatasetLocked, LockUnavailable, WriterLock
from lerobot_stream.utils.constants import ACTION, OBS_STATE
from workers.encoder_availability import check_encoder_usable

__all__ = ["DEFAULT_TASK", "RecordConfig", "RecordSummary", "ResumeRefused", "dataset_features", "run_record"]

logger = logging.getLogger(__name__)


@dataclass
class RecordSummary:
    root: Path
    #: The dataset's episodes before this recording (``resume``); the counts below are this recording's.
    first_episode: int = 0
    #: Frames in the whole dataset at the end.
    dataset_frames: int = 0
    episodes: int = 0
    frames: int = 0
    repeated: dict[str, int] = field(default_factory=dict)
    save_seconds: list[float] = field(default_factory=list)
    #: How long the end of the session waited for the encoders to finish the saved episodes.
    finalize_seconds: float = 0.0
    add_frame_ms: list[float] = field(default_factory=list)
    lateness_ms: list[float] = field(default_factory=list)
    interrupted: bool = False
    #: What stopped the recording early ("Ctrl-C", "SIGTERM", "SIGHUP"), if anything did.
    stopped_by: str = ""
    #: Why an episode could not be saved, if one could not (the recording then stops; see `run_record`).
    save_error: str = ""
    size_mb: float = 0.0
    #: The largest backlog (MB, all cameras together) any status update saw.
    peak_backlog_mb: float = 0.0


#: Signals that stop a recording cleanly: Ctrl-C, ``systemctl stop``/``kill`` and a closed ssh session.
STOP_SIGNALS = tuple(getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name))


class _StopRequest:
    """The first stop signal asks the loop to stop after saving the episode in progress; later ones are
    acknowledged, not obeyed (the dataset is being closed cleanly)."""

    def __init__(self, say: Callable[[str], None]):
        self.requested = False
        self.signal_name = ""
        self._say = say
        self._previous: dict[int, object] = {}

    def __enter__(self) -> _StopRequest:
        for number in STOP_SIGNALS:
            self._previous[number] = signal.signal(number, self._handle)
        return self

    def _handle(self, signum, frame) -> None:
        name = "Ctrl-C" if signum == signal.SIGINT else signal.Signals(signum).name
        if not self.requested:
            self._say(f"{name}: stopping; the episode in progress will be saved...")
        else:
            self._say("Still saving, please wait (the dataset is being closed cleanly).")
        if not self.requested:
            self.requested, self.signal_name = True, name

    def __exit__(self, *exc) -> None:
        for number, previous in self._previous.items():
            signal.signal(number, previous)


def _wait_for_encoders(dataset: LeRobotDataset, display: StatusDisplay, summary: RecordSummary) -> None:
    """Show the encoders finishing the saved episodes (``finalize`` waits for them), with the time left."""
    writer = dataset.writer
    while writer is not None and writer.pending_episodes:
        statuses = writer.camera_status()
        frames = sum(status.backlog_frames for status in statuses.values())
        seconds = max((status.backlog_seconds or 0.0 for status in statuses.values()), default=0.0)
        left = f", about {seconds:.0f} s" if seconds else ""
        header = f"finishing: {writer.pending_episodes} saved episode(s) still encoding, {frames} frame(s) left{left}"
        display.update(dataset, header)
        time.sleep(0.1)


def _percentiles(values: list[float]) -> str:
    if not values:
        return "n/a"
    p50, p99 = np.percentile(values, [50, 99])
    return f"p50 {p50:.2f}  p99 {p99:.2f}  max {max(values):.2f}"


def _reset_period(
    dataset: LeRobotDataset,
    config: RecordConfig,
    episode: int,
    stop: _StopRequest,
    display: StatusDisplay,
    summary: RecordSummary,
) -> None:
    """``reset_seconds`` without recording, before the episode is saved (as lerobot-record does it): the robot
    would be reset now, and the encoders work through their backlog meanwhile - shown live."""
    start = time.monotonic()
    while not stop.requested and (elapsed := time.monotonic() - start) < config.reset_seconds:
        header = f"reset after episode {episode + 1}/{config.episodes}  {elapsed:5.1f}/{config.reset_seconds:.1f} s"
        display.update(dataset, header)
        time.sleep(0.05)


def _record_episode(
    dataset: LeRobotDataset,
    config: RecordConfig,
    cameras: list,
    robot: SyntheticRobot,
    episode: int,
    stop: _StopRequest,
    display: StatusDisplay,
    summary: RecordSummary,
) -> int:
    ticks = round(config.episode_seconds * config.fps)
    keys = video_keys(dataset)
    start = time.perf_counter()
    tick = 0

    def header() -> str:
        seconds = f"{tick / config.fps:5.1f}/{ticks / config.fps:.1f} s"
        return f"episode {episode + 1}/{config.episodes}  {seconds}  {tick} frame(s)"

    while tick < ticks and not stop.requested:
        scheduled = start + tick / config.fps
        delay = scheduled - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        began = time.perf_counter()
        summary.lateness_ms.append((began - scheduled) * 1000)
        t = tick / config.fps
        frame = {key: camera.read() for key, camera in zip(keys, cameras, strict=True)}
        frame[OBS_STATE] = robot.state(episode * config.episode_seconds + t)
        frame[ACTION] = robot.action(episode * config.episode_seconds + t)
        frame["task"] = config.tasks[episode % len(config.tasks)]
        dataset.add_frame(frame)
        summary.add_frame_ms.append((time.perf_counter() - began) * 1000)
        tick += 1
        display.update(dataset, header())
    display.update(dataset, header(), force=True)
    return tick


def remove_dataset(root: Path) -> None:
    """Delete the dataset at ``root`` for ``--overwrite`` - and only a dataset: a folder with a
    ``meta/info.json`` that no live recorder holds (its writer lock), that is not a symbolic link and does not
    contain the working directory. Anything else raises `OverwriteRefused`, having deleted nothing: a mistyped
    ``--root`` must never cost a user their files. An empty folder is removed too (nothing to lose)."""
    if root.is_symlink():
        raise OverwriteRefused(f"--overwrite: {root} is a symbolic link; not deleting what it points to")
    if not root.is_dir():
        raise OverwriteRefused(f"--overwrite: {root} is not a folder; not deleting it")
    if not any(root.iterdir()):
        root.rmdir()
        return
    resolved, here = root.resolve(), Path.cwd().resolve()
    if resolved == here or resolved in here.parents:
        raise OverwriteRefused(f"--overwrite: {root} is (or contains) the working directory; not deleting it")
    info = root / INFO_PATH
    if info.is_symlink() or not info.is_file():
        raise OverwriteRefused(
            f"--overwrite: {root} is not a LeRobot dataset (no {INFO_PATH}); --overwrite replaces only datasets, "
            "so it was left alone. Choose another --root."
        )
    lock = WriterLock(root)
    try:
        lock.acquire("overwriting it")
    except (DatasetLocked, LockUnavailable) as exc:
        raise OverwriteRefused(f"--overwrite: {exc}") from None
    try:
        shutil.rmtree(root)
    finally:
        lock.release()


def run_record(config: RecordConfig, out: TextIO = sys.stdout) -> RecordSummary:
    """Record the configured episodes; a stop signal saves the episode in progress and finalizes. An
    episode that cannot be saved (`EpisodeSaveError`) ends the recording: it is reported in the summary
    (``save_error``) and every earlier episode stays in the dataset."""
    out = TolerantWriter(out)
    display = StatusDisplay(out)
    with capture_logging(display.block):
        return _run_record(config, out, display)


def _open_dataset(config: RecordConfig, robot: SyntheticRobot) -> LeRobotDataset:
    encoding = {
        "streaming_encoding": config.streaming,
        "encoder_queue_maxsize": config.queue_size,
        "encoder_threads": config.encoder_threads,
        "backlog_memory_mb": config.backlog_memory_mb,
        "backlog_disk_reserve_mb": config.backlog_disk_reserve_mb,
        "vcodec": config.vcodec,
    }
    if config.resume:
        return LeRobotDataset.resume(config.repo_id, root=config.root, **encoding)
    return LeRobotDataset.create(
        config.repo_id,
        fps=config.fps,
        features=dataset_features(config.cameras, config.height, config.width, robot.joints, config.depth),
        root=config.root,
        robot_type="synthetic",
        **encoding,
    )


def _run_record(config: RecordConfig, out: TextIO, display: StatusDisplay) -> RecordSummary:
    check_encoder_usable(config.vcodec)  # before --overwrite deletes anything
    robot = SyntheticRobot()
    config = settle(config, robot.joints)
    root = Path(config.root)
    if config.resume:
        if config.overwrite:
            raise ResumeRefused("--resume appends to the dataset at --root and --overwrite replaces it: choose one")
    elif os.path.lexists(root):
        if not config.overwrite:
            raise FileExistsError(
                f"{root} already exists; pass --resume to add episodes to it, --overwrite to replace it, or choose "
                "another --root"
            )
        remove_dataset(root)
    what = f"footage from {config.source}" if config.source else f"{config.content} content"
    depth = " (RGB-D)" if config.depth else ""
    display.say(f"Preparing {config.cameras} camera(s){depth} at {config.width}x{config.height}, {what}...")
    cameras = make_cameras(
        config.cameras,
        config.height,
        config.width,
        config.content,
        config.source,
        config.fps,
        progress=display.progress,
    )
    if config.depth:
        cameras += depth_cameras(config.cameras, config.height, config.width)
    summary = RecordSummary(root)
    # From here on a stop signal is a request, not an exception: one that arrives while the dataset and its
    # encoders are being set up stops the recording before its first episode, with a valid, empty dataset.
    with _StopRequest(display.say) as stop:
        dataset = _open_dataset(config, robot)
        summary.first_episode = dataset.num_episodes
        mode = "streaming (one encoder process per camera)" if config.streaming else "PNG staging, encoded at save"
        display.say(
            f"Recording {config.episodes} episode(s) of {config.episode_seconds:g} s at {config.fps} fps into {root}\n"
            f"  codec {dataset.writer.config_for(dataset.meta.video_keys[0]).vcodec}, {mode}"
        )
        try:
            for episode in range(config.episodes):
                frames = _record_episode(dataset, config, cameras, robot, episode, stop, display, summary)
                if frames == 0:  # stopped before this episode's first frame (during set-up, or at a boundary)
                    summary.interrupted, summary.stopped_by = stop.requested, stop.signal_name
                    break
                if episode < config.episodes - 1 and not stop.requested:
                    _reset_period(dataset, config, episode, stop, display, summary)
                started = time.perf_counter()
                if not config.streaming:  # the PNG path encodes now: say so rather than sit silent
                    display.say(f"episode {episode + 1}/{config.episodes}: encoding its {frames} PNG frames...")
                try:
                    dataset.save_episode()
                except EpisodeSaveError as exc:
                    # The earlier episodes are intact; a recorder that cannot save (disk full, a dead encoder
                    # during save) stops here rather than record more it may not be able to keep.
                    summary.save_error = str(exc)
                    display.say(f"episode {episode + 1}/{config.episodes} could not be saved: {exc}")
                    break
                summary.save_seconds.append(time.perf_counter() - started)
                summary.episodes += 1
                summary.frames += frames
                state = "partial episode saved" if stop.requested else "saved"
                pending = dataset.writer.pending_episodes
                display.say(
                    f"episode {episode + 1}/{config.episodes}: {frames} frames {state} in "
                    f"{summary.save_seconds[-1] * 1000:.0f} ms" + (f" ({pending} still encoding)" if pending else "")
                )
                if stop.requested:
                    summary.interrupted, summary.stopped_by = True, stop.signal_name
                    break
        finally:
            waiting = time.perf_counter()
            with contextlib.suppress(Exception):
                _wait_for_encoders(dataset, display, summary)
            try:
                dataset.finalize()
            except EpisodeSaveError as exc:  # an episode saved while its videos were encoded could not be kept
                summary.save_error = str(exc)
                display.say(f"could not save every episode: {exc}")
            except Exception as exc:
                display.say(f"finalize failed: {type(exc).__name__}: {exc}")
            summary.finalize_seconds = time.perf_counter() - waiting
            display.clear()
            summary.peak_backlog_mb = display.peak_backlog_mb
            _count_repeated(dataset, summary)
    summary.size_mb = size_on_disk(root) / 1e6  # as info counts it
    _print_summary(summary, config, out)
    return summary


def _count_repeated(dataset: LeRobotDataset, summary: RecordSummary) -> None:
    """Frames repeated in the saved videos (encoder overload), per camera, and what was saved, from the
    finished dataset."""
    with contextlib.suppress(Exception):
        everything = list(dataset.meta.episodes)
        summary.dataset_frames = sum(int(episode["length"]) for episode in everything)
        episodes = everything[summary.first_episode :]
        summary.episodes = len(episodes)
        summary.frames = sum(int(episode["length"]) for episode in episodes)
        for key in video_keys(dataset):
            summary.repeated[key] = sum(int(episode.get(f"videos/{key}/repeated_frames", 0)) for episode in episodes)


def _print_summary(summary: RecordSummary, config: RecordConfig, out: TextIO) -> None:
    minutes = summary.dataset_frames / config.fps / 60 * max(1, config.cameras)  # the size is the dataset's
    print("\nSummary", file=out)
    print(f"  dataset            {summary.root}", file=out)
    print(
        f"  episodes / frames  {summary.episodes} / {summary.frames}"
        f"{f'  (after the {summary.first_episode} already in the dataset)' if summary.first_episode else ''}"
        f"{f'  (stopped by {summary.stopped_by})' if summary.interrupted else ''}",
        file=out,
    )
    repeated = ", ".join(f"{k.rsplit('.', 1)[-1]} {v}" for k, v in summary.repeated.items()) or "none"
    print(f"  repeated frames    {repeated}", file=out)
    if summary.save_seconds:
        print(
            f"  save_episode       mean {np.mean(summary.save_seconds) * 1000:.0f} ms, "
            f"max {max(summary.save_seconds) * 1000:.0f} ms",
            file=out,
        )
    if config.streaming:
        print(f"  encoder backlog    peak {summary.peak_backlog_mb:.0f} MB (all cameras)", file=out)
    print(f"  finalize           {summary.finalize_seconds:.1f} s (encoders finishing saved episodes)", file=out)
    print(f"  loop lateness ms   {_percentiles(summary.lateness_ms)}", file=out)
    print(f"  add_frame ms       {_percentiles(summary.add_frame_ms)}", file=out)
    per_minute = summary.size_mb / minutes if minutes else 0.0
    print(f"  output size        {summary.size_mb:.1f} MB ({per_minute:.1f} MB per camera-minute)", file=out)
    print(f"  check it with      lerobot-stream info {summary.root}", file=out, flush=True)
