"""One benchmark run: a paced recording loop feeding N synthetic cameras into one design.

Designs (the README's "Results" section shows what they measure on a real machine):

* ``process`` - this project: shared-memory rings + one encoder process per camera;
* ``thread``  - LeRobot's design: in-process encoder threads fed by queues (this project's
  ``_CameraEncoderThread``, same encode core) with LeRobot's thread settings - without
  ``--encoder-threads`` every encoder may use every core;
* ``png``     - the legacy path: PNG files written by background threads during the episode, encoded
  (cameras in parallel, same encode core) at save time;
* ``lerobot`` - LeRobot's own ``StreamingVideoEncoder`` (threads, PIL, its own statistics), when LeRobot is
  installed: what a LeRobot user runs today.

How the loop is paced and measured: `benchmarks.measure`. Every run is a first episode: encoders are
created for it and nothing is warmed up (LeRobot's writer never calls ``warm_up``), and its first 30 ticks
are reported on their own.

Fidelity: after each run the first camera's video is decoded and compared with the frames that were fed
(PSNR in RGB, mean over frames and the worst frame); a dropped frame shows there as the repeat it became.

Workload ``rgbd`` gives every camera a depth stream too (uint16 millimetres, LeRobot v0.6's depth
defaults: 12-bit log quantization, lossless HEVC); its results are labelled ``<design>-rgbd``.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from lerobot_stream.configs.video import DepthEncoderConfig, rgb_config_from_keywords
from lerobot_stream.datasets.video_utils import StreamingVideoEncoder, count_video_frames, encode_video_frames
from lerobot_stream.recorder.image_writer import AsyncImageWriter
from lerobot_stream.sources.synthetic import SyntheticDepthCamera
from workers.codecs import resolve_settings

from .measure import TreeMonitor, fidelity, paced_loop

DESIGNS = ("process", "thread", "png", "lerobot")
#: Run when --designs is not given; ``lerobot`` (LeRobot's own encoder) needs LeRobot installed.
DEFAULT_DESIGNS = ("process", "thread", "png")
#: What a run records per camera: RGB only, or RGB plus a depth stream (an RGB-D camera).
WORKLOADS = ("rgb", "rgbd")
#: Anything with ``read() -> frame`` (`lerobot_stream.sources.cameras`, `SyntheticDepthCamera`).
Source = Any


@dataclass
class Workload:
    cameras: int
    width: int = 640
    height: int = 480
    fps: int = 30
    seconds: float = 10.0
    vcodec: str = "libsvtav1"
    preset: int | None = None
    crf: int = 30
    g: int = 2
    encoder_threads: int | None = None
    queue_size: int = 30
    loop_work_ms: float = 0.0
    worker_priority: str = "idle"
    #: RGB-D: every camera also has a depth stream at the same resolution (LeRobot v0.6's depth defaults).
    depth: bool = False
    #: x265 preset of the depth streams (None: LeRobot's default, x265's "medium"); lossless either way.
    depth_preset: str | None = None

    def depth_config(self) -> DepthEncoderConfig:
        return DepthEncoderConfig(preset=self.depth_preset)

    @property
    def ticks(self) -> int:
        return round(self.seconds * self.fps)

    @property
    def streams(self) -> int:
        return self.cameras * (2 if self.depth else 1)


@dataclass
class RunResult:
    design: str
    cameras: int
    frames_fed: int = 0
    frames_encoded_own: int = 0
    frames_dropped: int = 0
    dropped_per_camera: list[int] = field(default_factory=list)
    feed_us: dict[str, float] = field(default_factory=dict)
    lateness_ms: dict[str, float] = field(default_factory=dict)
    #: The latest of the first `FIRST_TICKS` ticks (ms): start-up costs of a first episode.
    first_ticks_late_ms: float = 0.0
    #: The floor of this camera count (`benchmarks.limit.camera_floor`): p50/p99/max ms; None if not measured.
    floor_late_ms: dict[str, float] | None = None
    #: Decoded first camera against what was fed: mean and worst-frame PSNR (dB, RGB).
    psnr_db: float = 0.0
    worst_psnr_db: float = 0.0
    finish_ms: float = 0.0
    #: Frames still waiting in the fullest camera buffer when the episode ended (process and thread designs): a
    #: backlog that a short run ends before it overflows - the sign of a deficit a longer episode would show.
    end_backlog: int | None = None
    #: Frames each camera's buffer holds (the backlog that would overflow it).
    buffer_size: int = 30
    #: ``start_episode`` (ms): LeRobot calls it inside the first ``add_frame`` of every episode.
    start_ms: float = 0.0
    cpu_percent: float = 0.0
    peak_rss_mb: float = 0.0
    shm_mb: float = 0.0
    mb_per_camera_minute: float = 0.0
    period_ms: float = 1000 / 30
    error: str | None = None

    @property
    def zero_drops(self) -> bool:
        return self.error is None and self.frames_fed > 0 and self.frames_dropped == 0

    @property
    def sustained(self) -> bool:
        """Zero drops, and at the end at most a quarter of a buffer waiting (unknown backlog: zero drops only)."""
        return self.zero_drops and (self.end_backlog is None or 4 * self.end_backlog <= self.buffer_size)

    @property
    def realtime(self) -> bool:
        """Sustained, and the loop kept its schedule (lateness p99 under one frame period)."""
        return self.sustained and self.lateness_ms.get("p99", np.inf) < self.period_ms

    def to_json(self) -> dict:
        return {**asdict(self), "zero_drops": self.zero_drops, "sustained": self.sustained, "realtime": self.realtime}


def _keys(workload: Workload) -> list[str]:
    """One key per stream, in the order of `sources`: RGB cameras, then their depth streams."""
    rgb = [f"observation.images.cam{i}" for i in range(workload.cameras)]
    return rgb + ([f"{key}_depth" for key in rgb] if workload.depth else [])


def sources(workload: Workload, rgb: list[Source], depth: list[SyntheticDepthCamera]) -> list[Source]:
    """The frame sources of a run, in the order of `_keys`."""
    return rgb[: workload.cameras] + (depth[: workload.cameras] if workload.depth else [])


def _output_mb_per_camera_minute(paths: list[Path], workload: Workload) -> float:
    size = sum(p.stat().st_size for p in paths if p.exists()) / 2**20
    minutes = workload.streams * workload.seconds / 60
    return size / minutes if minutes else 0.0


def run_streaming(design: str, workload: Workload, cameras: list[Source], workdir: Path) -> RunResult:
    result = RunResult(design, workload.cameras)
    keys = _keys(workload)
    depth_keys = keys[workload.cameras :]
    encoder = StreamingVideoEncoder(
        fps=workload.fps,
        vcodec=workload.vcodec,
        g=workload.g,
        crf=workload.crf,
        preset=workload.preset,
        queue_maxsize=workload.queue_size,
        encoder_threads=workload.encoder_threads,
        backend=design,
        depth_encoder=workload.depth_config() if workload.depth else None,
        # The thread design is LeRobot's: without an explicit encoder_threads every encoder may use every core.
        bound_threads=design == "process",
        **({"worker_priority": workload.worker_priority} if design == "process" else {}),
    )
    try:
        with TreeMonitor() as monitor:
            # LeRobot's call sequence: no warm_up, no frame shapes, start_episode inside the first tick.
            trace = paced_loop(
                workload.ticks,
                workload.fps,
                workload.loop_work_ms,
                cameras,
                lambda i, f: encoder.feed_frame(keys[i], f),
                begin=lambda: encoder.start_episode(keys, workdir, depth_keys),
            )
            result.end_backlog = max(status.buffered for status in encoder.status().values())
            result.buffer_size = workload.queue_size
            began = time.perf_counter()
            finished = encoder.finish_results()
            result.finish_ms = (time.perf_counter() - began) * 1000
        result.frames_fed = workload.ticks * workload.streams
        result.dropped_per_camera = [encoder.dropped_frames[k] for k in keys]
        result.frames_dropped = sum(result.dropped_per_camera)
        result.frames_encoded_own = sum(r.frames - r.repeated for r in finished.values())
        trace.record_into(result)
        result.psnr_db, result.worst_psnr_db = fidelity(finished[keys[0]].path, trace.first_stream)
        result.cpu_percent, result.peak_rss_mb = monitor.cpu_percent, monitor.peak_rss / 2**20
        if design == "process":
            bytes_per_pixel = 3 + (2 if workload.depth else 0)  # RGB, and uint16 depth
            pixels = workload.cameras * workload.queue_size * workload.height * workload.width
            result.shm_mb = pixels * bytes_per_pixel / 2**20
        result.mb_per_camera_minute = _output_mb_per_camera_minute([r.path for r in finished.values()], workload)
    finally:
        encoder.close()
    return result


def run_png(workload: Workload, cameras: list[Source], workdir: Path) -> RunResult:
    result = RunResult("png", workload.cameras)
    keys = _keys(workload)
    depth_keys = set(keys[workload.cameras :])
    # LeRobot's recorder uses 4 PNG-writer threads per camera.
    writer = AsyncImageWriter(num_threads=4 * len(keys), max_pending=64 * len(keys))
    folders = [workdir / key for key in keys]
    for folder in folders:
        folder.mkdir(parents=True)
    suffixes = ["tiff" if key in depth_keys else "png" for key in keys]  # depth maps go to TIFF, as in LeRobot
    counters = [0] * len(keys)

    def feed(index: int, frame: np.ndarray) -> None:
        writer.save_image(frame, folders[index] / f"frame-{counters[index]:06d}.{suffixes[index]}", compress_level=1)
        counters[index] += 1

    # Bounded like the library's own PNG path: SVT-AV1 encoders with unbounded threads running at the same
    # time in one process were seen to deadlock inside svt_av1_enc_send_picture on a 2-core machine.
    rgb = rgb_config_from_keywords(workload.vcodec, "yuv420p", workload.g, workload.crf, workload.preset)
    depth = workload.depth_config()

    def encode(index: int) -> None:
        config = depth if keys[index] in depth_keys else rgb
        threads = resolve_settings(config, workload.fps, workload.encoder_threads, len(keys)).threads
        encode_video_frames(folders[index], outputs[index], workload.fps, config, threads, overwrite=True)

    try:
        with TreeMonitor() as monitor:
            trace = paced_loop(workload.ticks, workload.fps, workload.loop_work_ms, cameras, feed)
            began = time.perf_counter()
            writer.check_errors()
            outputs = [workdir / f"{key}.mp4" for key in keys]
            with ThreadPoolExecutor(max_workers=len(keys)) as pool:
                list(pool.map(encode, range(len(keys))))
            result.finish_ms = (time.perf_counter() - began) * 1000
        result.frames_fed = result.frames_encoded_own = workload.ticks * workload.streams
        result.dropped_per_camera = [0] * len(keys)
        trace.record_into(result)
        result.psnr_db, result.worst_psnr_db = fidelity(outputs[0], trace.first_stream)
        result.cpu_percent, result.peak_rss_mb = monitor.cpu_percent, monitor.peak_rss / 2**20
        result.mb_per_camera_minute = _output_mb_per_camera_minute(outputs, workload)
    finally:
        writer.stop()
    return result


def lerobot_encoder(workload: Workload):
    """LeRobot's own ``StreamingVideoEncoder`` with this workload's settings (v0.6 configs or v0.5 keywords)."""
    from lerobot.datasets.video_utils import StreamingVideoEncoder as LeRobotStreamingVideoEncoder

    common = {"fps": workload.fps, "queue_maxsize": workload.queue_size, "encoder_threads": workload.encoder_threads}
    try:
        from lerobot.configs.video import DepthEncoderConfig as TheirDepth
        from lerobot.configs.video import RGBEncoderConfig as TheirRGB
    except ImportError:  # LeRobot v0.5
        settings = {"vcodec": workload.vcodec, "g": workload.g, "crf": workload.crf, "preset": workload.preset}
        return LeRobotStreamingVideoEncoder(**common, **settings), False
    rgb = TheirRGB(vcodec=workload.vcodec, g=workload.g, crf=workload.crf, preset=workload.preset)
    return LeRobotStreamingVideoEncoder(
        **common, rgb_encoder=rgb, depth_encoder=TheirDepth(preset=workload.depth_preset)
    ), True


def run_lerobot(workload: Workload, cameras: list[Source], workdir: Path) -> RunResult:
    """LeRobot's own threaded encoder in the same paced loop (its call sequence: no warm-up). Its videos are
    shorter than the data when it drops frames, so frames encoded are counted in its files."""
    result = RunResult("lerobot", workload.cameras)
    keys = _keys(workload)
    depth_keys = keys[workload.cameras :]
    encoder, takes_depth = lerobot_encoder(workload)
    if depth_keys and not takes_depth:
        raise RuntimeError("this LeRobot has no depth streams (v0.6 does)")
    try:
        with TreeMonitor() as monitor:

            def begin() -> None:
                if takes_depth:
                    encoder.start_episode(keys, workdir, depth_video_keys=depth_keys)
                else:
                    encoder.start_episode(keys, workdir)

            first_depth = workload.cameras  # LeRobot's depth thread wants (H, W, 1), as its dataset passes them

            def feed(i: int, frame: np.ndarray) -> None:
                encoder.feed_frame(keys[i], frame[..., None] if i >= first_depth else frame)

            trace = paced_loop(workload.ticks, workload.fps, workload.loop_work_ms, cameras, feed, begin)
            began = time.perf_counter()
            outputs = encoder.finish_episode()
            result.finish_ms = (time.perf_counter() - began) * 1000
        result.frames_fed = workload.ticks * workload.streams
        result.dropped_per_camera = [encoder._dropped_frames.get(k, 0) for k in keys]
        result.frames_dropped = sum(result.dropped_per_camera)
        result.frames_encoded_own = sum(count_video_frames(path) for path, _ in outputs.values())
        trace.record_into(result)
        result.psnr_db, result.worst_psnr_db = fidelity(outputs[keys[0]][0], trace.first_stream)
        result.cpu_percent, result.peak_rss_mb = monitor.cpu_percent, monitor.peak_rss / 2**20
        result.mb_per_camera_minute = _output_mb_per_camera_minute([p for p, _ in outputs.values()], workload)
    finally:
        encoder.close()
    return result


def run_design(design: str, workload: Workload, cameras: list[Source]) -> RunResult:
    workdir = Path(tempfile.mkdtemp(prefix=f"lrs-bench-{design}-"))
    try:
        if design == "png":
            result = run_png(workload, cameras, workdir)
        elif design == "lerobot":
            result = run_lerobot(workload, cameras, workdir)
        else:
            result = run_streaming(design, workload, cameras, workdir)
    except Exception as exc:  # a design that breaks is a result, not a crash of the whole sweep
        result = RunResult(design, workload.cameras)
        result.error = f"{type(exc).__name__}: {exc}"
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    result.period_ms = 1000 / workload.fps
    if workload.depth:
        result.design = f"{design}-rgbd"
    return result
