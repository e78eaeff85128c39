"""The main job: record a real LeRobot dataset from built-in synthetic cameras, with live progress.

Used by ``lerobot-stream record``. The loop is paced by the wall clock at ``fps``: every tick it takes
one frame per camera plus a joint state and action, and hands them to `LeRobotDataset.add_frame`
(streaming encoding by default). Ctrl-C, SIGTERM (``systemctl stop``) and SIGHUP (a closed ssh session)
stop cleanly: the episode being recorded is saved with the frames it has (a second signal during that save
is ignored; the dataset is finalized either way).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TextIO

import numpy as np

from lerobot_stream.cameras import depth_cameras, make_cameras
from lerobot_stream.datasets.dataset_writer import EpisodeSaveError
from lerobot_stream.datasets.lerobot_dataset import LeRobotDataset
from lerobot_stream.datasets.utils import INFO_PATH
from lerobot_stream.datasets.writer_lock import DatasetLocked, LockUnavailable, WriterLock
from lerobot_stream.live_display import LiveBlock, capture_logging
from lerobot_stream.synthetic import SyntheticRobot
from lerobot_stream.utils.constants import ACTION, OBS_IMAGES, OBS_STATE
from workers.channel import CameraStatus
from workers.codecs import check_encoder_usable

logger = logging.getLogger(__name__)


DEFAULT_TASK = "pick up the synthetic cube"


@dataclass
class RecordConfig:
    """What ``lerobot-stream record`` records. ``cameras``, ``height``, ``width`` and ``fps`` left at None take
    the defaults (3 cameras, 640x480, 30 fps) - or, with ``resume``, the dataset's (a value given must match it)."""

    root: Path
    repo_id: str = "local/lerobot_stream_demo"
    cameras: int | None = None
    height: int | None = None
    width: int | None = None
    fps: int | None = None
    episodes: int = 3
    episode_seconds: float = 10.0
    vcodec: str = "libsvtav1"
    streaming: bool = True
    queue_size: int = 30
    encoder_threads: int | None = None
    #: The episodes' tasks, used in turn (episode i gets ``tasks[i % len(tasks)]``).
    tasks: list[str] = field(default_factory=lambda: [DEFAULT_TASK])
    #: RGB-D: every camera also records a depth stream (uint16 millimetres).
    depth: bool = False
    #: Append to the dataset at ``root`` (LeRobot's ``--resume``) instead of creating one.
    resume: bool = False
    overwrite: bool = False
    #: What the cameras film (`lerobot_stream.cameras`): "scene" or "synthetic", or footage from ``source``.
    content: str = "scene"
    source: Path | None = None
    #: Seconds between episodes, as ``lerobot-record --dataset.reset_time_s`` (none after the last one): the
    #: episode is saved after its reset, as lerobot-record does, so its encoders work through their backlog
    #: meanwhile.
    reset_seconds: float = 0.0
    #: The encoders' backlog budgets (MB; None: the defaults, see `StreamingVideoEncoder.set_backlog_budget`).
    backlog_memory_mb: float | None = None
    backlog_disk_reserve_mb: float | None = None


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


class _TolerantWriter:
    """``out`` that survives its terminal going away (SIGHUP from a closed ssh session): the recording is
    finished and saved whether or not anyone is still reading the progress."""

    def __init__(self, out: TextIO):
        self._out = out

    def write(self, text: str) -> int:
        with contextlib.suppress(OSError, ValueError):
            return self._out.write(text)
        return len(text)

    def flush(self) -> None:
        with contextlib.suppress(OSError, ValueError):
            self._out.flush()

    def isatty(self) -> bool:
        with contextlib.suppress(OSError, ValueError, AttributeError):
            return self._out.isatty()
        return False


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


def dataset_features(cameras: int, height: int, width: int, joints: int, depth: bool = False) -> dict:
    """The features of a dataset ``record`` makes: the colour cameras, then (``depth``) their depth streams."""
    features = {
        f"{OBS_IMAGES}.cam{c}": {
            "dtype": "video",
            "shape": (height, width, 3),
            "names": ["height", "width", "channels"],
        }
        for c in range(cameras)
    }
    for c in range(cameras if depth else 0):
        features[f"{OBS_IMAGES}.cam{c}_depth"] = {
            "dtype": "video",
            "shape": (height, width, 1),
            "names": ["height", "width", "channels"],
            "info": {"is_depth_map": True},
        }
    names = [f"joint_{i}" for i in range(joints)]
    features[OBS_STATE] = {"dtype": "float32", "shape": (joints,), "names": names}
    features[ACTION] = {"dtype": "float32", "shape": (joints,), "names": names}
    return features


class StatusDisplay:
    """The recording's live status: a header and one line per camera, redrawn in place on a terminal, a compact
    line every ten seconds without one (`lerobot_stream.live_display`). Messages (`say`) and log records go above
    it. Episodes are numbered from 1 here, as a person counts them; the dataset's ``episode_index`` from 0."""

    def __init__(self, out: TextIO, interval_s: float = 0.5, compact_interval_s: float = 10.0):
        self.block = LiveBlock(out, interval_s=compact_interval_s)
        self.interval_s = interval_s
        self._last = -float("inf")
        #: Frames each camera had repeated at the last draw: a camera repeating frames *now* says so.
        self._dropped: dict[str, int] = {}

    def update(
        self, dataset: LeRobotDataset, header: str, force: bool = False, summary: RecordSummary | None = None
    ) -> None:
        now = time.monotonic()
        if not force and now - self._last < self.interval_s:
            return
        self._last = now
        statuses = dataset.writer.camera_status()
        if summary is not None:
            backlog = sum(status.backlog_mb for status in statuses.values())
            summary.peak_backlog_mb = max(summary.peak_backlog_mb, backlog)
        lines = [header]
        for key in _video_keys(dataset):
            name = key.rsplit(".", 1)[-1]
            status = statuses.get(key)
            if status is None:
                lines.append(f"  {name}: PNG staging, encoded at save")
                continue
            lines.append(f"  {name:>5}: " + self._camera_line(key, status))
        self.block.draw(lines, f"{header} | {_cameras_in_one_line(statuses)}", force=force)

    def _camera_line(self, key: str, status: CameraStatus) -> str:
        """What matters first (is it in trouble?), then the numbers: a narrow terminal cuts the end."""
        losing = status.frames_dropped > self._dropped.get(key, status.frames_dropped)
        self._dropped[key] = status.frames_dropped
        state = "REPEATING FRAMES" if losing else (", ".join(status.health).upper() or "ok")
        rate = f"{status.encode_fps:4.1f} fps" if status.encode_fps is not None else "   - fps"
        backlog = f"backlog {status.backlog_frames}"
        if status.backlog_frames:
            backlog += f" ({status.backlog_mb:.0f} MB"
            backlog += f", {status.backlog_seconds:.0f} s)" if status.backlog_seconds is not None else ")"
        return (
            f"{state}  {status.frames_encoded} encoded  {rate}  ring {status.buffered}/{status.capacity}  "
            f"{backlog}  repeated {status.frames_dropped}"
        )

    def say(self, text: str) -> None:
        """A line above the status block (it stays on screen)."""
        self.block.write_above(text)

    def progress(self, done: int, total: int, what: str) -> None:
        """A step of a long preparation (``done`` of ``total`` ``what``), as the status block."""
        line = f"  {what}: {done}/{total}"
        self.block.draw([line], line.strip(), force=done == total)
        if done == total:
            self.release()

    def release(self) -> None:
        """Leave the last status on screen; what is written next goes below it."""
        self.block.release()


def _cameras_in_one_line(statuses: dict[str, CameraStatus]) -> str:
    """All cameras in a few words, for a log file."""
    if not statuses:
        return "PNG staging"
    rates = [s.encode_fps for s in statuses.values() if s.encode_fps is not None]
    speed = f"{min(rates):.1f}-{max(rates):.1f} fps" if rates else "encode rate not measured yet"
    backlog = sum(s.backlog_frames for s in statuses.values())
    megabytes = sum(s.backlog_mb for s in statuses.values())
    repeated = sum(s.frames_dropped for s in statuses.values())
    unhealthy = sorted({flag for s in statuses.values() for flag in s.health})
    return (
        f"{len(statuses)} video stream(s): {speed}, backlog {backlog} frame(s) ({megabytes:.0f} MB), "
        f"repeated {repeated}" + (f", {', '.join(unhealthy).upper()}" if unhealthy else "")
    )


def _video_keys(dataset: LeRobotDataset) -> list[str]:
    """The camera features, from the dataset's feature list: ``dataset.meta`` would wait for the episodes still
    being committed in the background, and the loop must not."""
    return [key for key, feature in dataset.features.items() if feature["dtype"] == "video"]


def _wait_for_encoders(dataset: LeRobotDataset, display: StatusDisplay, summary: RecordSummary) -> None:
    """Show the encoders finishing the saved episodes (``finalize`` waits for them), with the time left."""
    writer = dataset.writer
    while writer is not None and writer.pending_episodes:
        statuses = writer.camera_status()
        frames = sum(status.backlog_frames for status in statuses.values())
        seconds = max((status.backlog_seconds or 0.0 for status in statuses.values()), default=0.0)
        left = f", about {seconds:.0f} s" if seconds else ""
        header = f"finishing: {writer.pending_episodes} saved episode(s) still encoding, {frames} frame(s) left{left}"
        display.update(dataset, header, summary=summary)
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
        display.update(dataset, header, summary=summary)
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
    keys = _video_keys(dataset)
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
        display.update(dataset, header(), summary=summary)
    display.update(dataset, header(), force=True)
    return tick


class OverwriteRefused(FileExistsError):
    """``--overwrite`` was asked to delete something that is not a finished dataset: nothing was deleted."""


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
    out = _TolerantWriter(out)
    display = StatusDisplay(out)
    with capture_logging(display.block):
        return _run_record(config, out, display)


class ResumeRefused(ValueError):
    """``--resume`` cannot append to what is at ``--root``: nothing was changed."""


def _settle(config: RecordConfig, joints: int) -> RecordConfig:
    """``config`` with its camera count, resolution and fps decided: the defaults for a new dataset, the dataset's
    own with ``resume`` (refusing values that contradict them, or a dataset ``record`` did not make)."""
    if not config.resume:
        width, height = (config.width, config.height) if config.width else (640, 480)
        return replace(config, cameras=config.cameras or 3, width=width, height=height, fps=config.fps or 30)
    root = Path(config.root)
    try:
        info = json.loads((root / INFO_PATH).read_text())
        features, fps = info["features"], int(info["fps"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ResumeRefused(f"--resume: {root} is not a dataset to append to ({type(exc).__name__}: {exc})") from None
    rgb = [key for key, f in features.items() if f.get("dtype") == "video" and len(f.get("shape", ())) == 3]
    rgb = [key for key in rgb if features[key]["shape"][2] == 3]
    depth = any((f.get("info") or {}).get("is_depth_map") for f in features.values())
    height, width = (features[rgb[0]]["shape"][:2]) if rgb else (0, 0)
    settled = replace(config, cameras=len(rgb), height=height, width=width, fps=fps, depth=depth)
    given = {"--cameras": (config.cameras, len(rgb)), "--fps": (config.fps, fps)}
    given["--resolution"] = (config.width and (config.width, config.height), (width, height))
    for flag, (asked, found) in given.items():
        if asked and asked != found:
            raise ResumeRefused(f"--resume: {root} was recorded with {flag} {_shown(found)}, not {_shown(asked)}")
    expected = dataset_features(len(rgb), height, width, joints, depth)
    if not rgb or any(_kind(features.get(key)) != _kind(feature) for key, feature in expected.items()):
        raise ResumeRefused(
            f"--resume: {root} was not recorded by `lerobot-stream record` (its features are {sorted(features)}); "
            "append to it from your own recorder with LeRobotDataset.resume()"
        )
    return settled


def _shown(value: object) -> str:
    return f"{value[0]}x{value[1]}" if isinstance(value, tuple) else str(value)


def _kind(feature: dict | None) -> tuple | None:
    """What must match for ``record`` to add frames to a feature: its dtype and shape."""
    return None if not isinstance(feature, dict) else (feature.get("dtype"), tuple(feature.get("shape") or ()))


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
    config = _settle(config, robot.joints)
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
            display.release()
            _count_repeated(dataset, summary)
    summary.size_mb = sum(p.stat().st_size for p in root.rglob("*") if p.is_file()) / 2**20
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
        for key in _video_keys(dataset):
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
