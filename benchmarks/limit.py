"""The most cameras this machine could ever encode.

Two figures, both on pre-converted (yuv420p) frames of the run's content (encode cost depends on it by
2x and more) so that neither colour conversion nor the recorder is counted:

* ``limit_cameras`` (the benchmark protocol's definition): one encoder with one
  thread, encoding back to back, times the number of cores, divided by fps;
* ``parallel_limit_cameras``: one such encoder per core, all running at once. On machines whose cores
  share caches or are SMT siblings (a 2-vCPU cloud VM typically is one physical core) this is what the
  hardware really gives, and it is lower.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import tempfile
import time
from pathlib import Path

import av
import numpy as np

from lerobot_stream.cameras import make_cameras
from workers.codecs import EncoderSettings, available_cores, is_hardware_encoder
from workers.scheduling import demote_all_threads

_WARM_UP_FRAMES = 5


def _encoder(container, vcodec: str, width: int, height: int, fps: int, g: int, crf: int, preset: int | None):
    threads = None if is_hardware_encoder(vcodec) else 1
    options = EncoderSettings(fps, vcodec, "yuv420p", g, crf, preset, threads).stream_options()
    stream = container.add_stream(vcodec, rate=fps, options=options)
    stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
    return stream


def _frames(width: int, height: int, count: int, content: tuple[str, str | None]) -> list[av.VideoFrame]:
    """``count`` frames of the run's content, converted as the encoders convert them."""
    kind, source = content
    camera = make_cameras(1, height, width, kind, None if source is None else Path(source))[0]
    return [
        av.VideoFrame.from_ndarray(camera.frame(i), format="rgb24").reformat(format="yuv420p") for i in range(count)
    ]


def _encode_for(workload: tuple, ready, start, seconds: float, results, idle: bool = False) -> None:
    """Child process: encode as many frames as possible during ``seconds`` after ``start`` is set (at
    ``SCHED_IDLE``, like the process design's encoders, with ``idle``)."""
    os.environ.setdefault("SVT_LOG", "0")  # this child's own environment: SVT-AV1 reads it when it opens
    width, height, fps, vcodec, g, crf, preset, content = workload
    frames = _frames(width, height, 48, content)
    with (
        tempfile.TemporaryDirectory(prefix="lrs-limit-") as directory,
        av.open(str(Path(directory) / "limit.mp4"), "w") as container,
    ):
        stream = _encoder(container, vcodec, width, height, fps, g, crf, preset)
        for index in range(_WARM_UP_FRAMES):
            frames[index].pts = index
            container.mux(stream.encode(frames[index]))
        if idle:
            demote_all_threads("idle")  # after the codec opened: its threads exist now
        ready.put(True)
        start.wait()
        encoded, index = 0, _WARM_UP_FRAMES
        deadline = time.perf_counter() + seconds
        while time.perf_counter() < deadline:
            frame = frames[index % len(frames)]
            frame.pts = index
            container.mux(stream.encode(frame))
            index += 1
            encoded += 1
        results.put(encoded / seconds)
        container.mux(stream.encode(None))


def measure_limit(
    width: int,
    height: int,
    fps: int,
    vcodec: str = "libsvtav1",
    g: int = 2,
    crf: int = 30,
    preset: int | None = None,
    frames: int = 150,
    parallel_seconds: float = 3.0,
    content: str = "scene",
    source: Path | None = None,
) -> dict[str, float]:
    """The encode limits of this machine for the run's ``content`` (or ``source`` footage)."""
    what = (content, None if source is None else str(source))
    converted = _frames(width, height, frames, what)
    with (
        tempfile.TemporaryDirectory(prefix="lrs-limit-") as directory,
        av.open(str(Path(directory) / "limit.mp4"), "w") as container,
    ):
        stream = _encoder(container, vcodec, width, height, fps, g, crf, preset)
        for index, frame in enumerate(converted[:_WARM_UP_FRAMES]):  # includes opening the codec
            frame.pts = index
            container.mux(stream.encode(frame))
        began = time.perf_counter()
        for index, frame in enumerate(converted[_WARM_UP_FRAMES:], start=_WARM_UP_FRAMES):
            frame.pts = index
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
        elapsed = time.perf_counter() - began
    per_encoder = (frames - _WARM_UP_FRAMES) / elapsed
    cores = available_cores()
    result = {"encoder_fps_one_core": per_encoder, "cores": cores, "limit_cameras": per_encoder * cores / fps}
    if parallel_seconds > 0 and not is_hardware_encoder(vcodec):
        workload = (width, height, fps, vcodec, g, crf, preset, what)
        start, results, children = _run_encoders(workload, cores, parallel_seconds, idle=False)
        start.set()
        total = sum(results.get(timeout=120) for _ in children)
        for child in children:
            child.join(30)
        result["parallel_fps"] = total
        result["parallel_limit_cameras"] = total / fps
        result["floor_lateness_ms"] = _loop_floor(workload, fps, cores, parallel_seconds)
    return result


def _run_encoders(workload: tuple, count: int, seconds: float, idle: bool):
    """Start ``count`` warm encoder processes; returns (start event, results queue, processes)."""
    context = mp.get_context("spawn")
    ready, start, results = context.Queue(), context.Event(), context.Queue()
    children = [
        context.Process(target=_encode_for, args=(workload, ready, start, seconds, results, idle)) for _ in range(count)
    ]
    for child in children:
        child.start()
    for _ in children:  # every encoder is open and warm before the clock starts
        ready.get(timeout=120)
    return start, results, children


def _loop_floor(workload: tuple, fps: int, cores: int, seconds: float) -> dict[str, float]:
    """The environment's floor: how late a bare paced loop (no frames, no work) runs while one encoder per core
    runs at ``SCHED_IDLE`` - what any design's lateness is measured against on this machine."""
    start, results, children = _run_encoders(workload, cores, seconds, idle=True)
    lateness: list[float] = []
    start.set()
    began = time.perf_counter()
    for tick in range(int(seconds * fps)):
        scheduled = began + tick / fps
        delay = scheduled - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        lateness.append((time.perf_counter() - scheduled) * 1000)
    for _ in children:
        results.get(timeout=120)
    for child in children:
        child.join(30)
    p50, p99 = np.percentile(lateness, [50, 99])
    return {"p50": float(p50), "p99": float(p99), "max": float(max(lateness))}
