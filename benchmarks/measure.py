"""How the benchmark measures a run: the paced loop (lateness of each tick, time of each feed), the CPU and
memory of the recorder's process tree, and the fidelity of what was written against what was fed.

The loop is paced by the wall clock: tick ``i`` is scheduled at ``start + i / fps``; a late tick runs at once
(the loop catches up) and its lateness is recorded. Every tick feeds one frame per camera and then optionally
burns ``loop_work_ms`` of Python work standing in for the robot's control code.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import av
import numpy as np
import psutil

from workers.media_paths import ffmpeg_path

#: The first ticks of an episode, reported separately: where start-up costs would show.
FIRST_TICKS = 30


def summary(values: list[float]) -> dict[str, float]:
    if not values:
        return {"p50": 0.0, "p99": 0.0, "max": 0.0}
    p50, p99 = np.percentile(values, [50, 99])
    return {"p50": float(p50), "p99": float(p99), "max": float(max(values))}


class TreeMonitor:
    """Samples CPU time and RSS of this process and its children in a background thread (2 Hz)."""

    def __init__(self, interval_s: float = 0.5):
        self.interval_s = interval_s
        self.peak_rss = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="bench-monitor")
        self._me = psutil.Process()
        self._cpu_seen: dict[int, float] = {}

    def _tree(self) -> list[psutil.Process]:
        return [self._me, *self._me.children(recursive=True)]

    def _sample(self) -> None:
        rss = 0
        for process in self._tree():
            try:
                times = process.cpu_times()
                self._cpu_seen[process.pid] = times.user + times.system
                rss += process.memory_info().rss
            except psutil.Error:
                continue
        self.peak_rss = max(self.peak_rss, rss)

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            self._sample()

    def __enter__(self) -> TreeMonitor:
        self._sample()
        self._cpu_start = dict(self._cpu_seen)
        self._wall_start = time.perf_counter()
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()
        self.wall_s = time.perf_counter() - self._wall_start
        used = sum(t - self._cpu_start.get(pid, 0.0) for pid, t in self._cpu_seen.items())
        self.cpu_percent = 100.0 * used / self.wall_s if self.wall_s else 0.0


def burn(milliseconds: float) -> None:
    end = time.perf_counter() + milliseconds / 1000
    x = 0
    while time.perf_counter() < end:
        x += 1


@dataclass
class LoopTrace:
    feed_us: list[float] = field(default_factory=list)
    lateness_ms: list[float] = field(default_factory=list)
    #: The frames fed to stream 0, in order (references into its pool, not copies).
    first_stream: list[np.ndarray] = field(default_factory=list)
    start_ms: float = 0.0

    def record_into(self, result: Any) -> None:
        """Fill a `benchmarks.designs.RunResult`'s loop measurements."""
        result.feed_us, result.lateness_ms = summary(self.feed_us), summary(self.lateness_ms)
        result.start_ms = self.start_ms
        result.first_ticks_late_ms = max(self.lateness_ms[:FIRST_TICKS], default=0.0)


def paced_loop(
    ticks: int,
    fps: int,
    loop_work_ms: float,
    cameras: list[Any],
    feed: Callable[[int, np.ndarray], None],
    begin: Callable[[], None] | None = None,
) -> LoopTrace:
    """Run the ticks; ``feed(stream_index, frame)`` is timed. ``begin()`` runs inside the first tick, before
    its frames, as LeRobot starts an episode inside its first ``add_frame`` (timed as ``start_ms``)."""
    trace = LoopTrace()
    feed_us, lateness_ms = trace.feed_us, trace.lateness_ms
    start = time.perf_counter()
    for tick in range(ticks):
        scheduled = start + tick / fps
        delay = scheduled - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        lateness_ms.append((time.perf_counter() - scheduled) * 1000)
        if tick == 0 and begin is not None:
            began = time.perf_counter()
            begin()
            trace.start_ms = (time.perf_counter() - began) * 1000
        for index, camera in enumerate(cameras):
            frame = camera.read()
            began = time.perf_counter()
            feed(index, frame)
            feed_us.append((time.perf_counter() - began) * 1e6)
            if index == 0:
                trace.first_stream.append(frame)
        if loop_work_ms:
            burn(loop_work_ms)
    return trace


def fidelity(video: Path, fed: list[np.ndarray]) -> tuple[float, float]:
    """(mean PSNR, worst-frame PSNR) in dB of the decoded ``video`` against the frames ``fed`` (RGB)."""
    errors = []
    with av.open(ffmpeg_path(video)) as container:
        for index, frame in enumerate(container.decode(video=0)):
            if index >= len(fed):
                break
            decoded = frame.to_ndarray(format="rgb24").astype(np.float32)
            errors.append(float(np.mean((decoded - fed[index]) ** 2)))
    if len(errors) < len(fed):
        return 0.0, 0.0  # frames are missing: no honest PSNR

    def psnr(mse: float) -> float:
        return 99.0 if mse == 0 else float(10 * np.log10(255.0**2 / mse))

    return psnr(float(np.mean(errors))), psnr(max(errors))
