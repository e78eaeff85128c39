"""The most cameras this machine could ever encode.

Two figures, both on pre-converted (yuv420p) frames of the run's content (encode cost depends on it by
2x and more) so that neither colour conversion nor the recorder is counted, and both in the encoder's steady
state: frames that came *out* of the encoder per second, after it has been producing packets for a while.
Counting the frames put *in* over a few seconds overstates the limit by ~20 % with SVT-AV1, which queues ~40
frames before its first packet and then emits its pipeline's backlog in a burst (measured 2026-11-30: one
encoder 97 frames/s in vs 83 out over 3 s; two encoders 210 packets in the first second after the first
packets, ~145 in every later one). This harness counted frames in until 2026-11-30.

* ``limit_cameras`` (docs/benchmark-protocol.md): one encoder with one
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

from lerobot_stream.sources.cameras import make_cameras
from workers.codecs import EncoderSettings, available_cores, is_hardware_encoder
from workers.encode import EpisodeEncoder
from workers.media_paths import ffmpeg_path
from workers.scheduling import demote_all_threads, drop_realtime_privilege

#: How long an encoder keeps running after its first packet before the clock starts: its pipeline's backlog
#: comes out in the first second (see the module docstring).
_STEADY_AFTER_FIRST_PACKET_S = 1.5
#: An encoder that has returned nothing after this many frames is broken, not deep (SVT-AV1: ~40).
_MAX_FRAMES_BEFORE_FIRST_PACKET = 1000


def _run_to_steady_state(feed, packets_out) -> int:
    """Feed frames flat out until the encoder has produced packets for ``_STEADY_AFTER_FIRST_PACKET_S``; returns
    how many frames went in. ``feed(index)`` encodes frame ``index``; ``packets_out()`` counts packets so far."""
    index, steady_from = 0, None
    while steady_from is None or time.perf_counter() < steady_from:
        feed(index)
        index += 1
        if steady_from is None and packets_out() > 0:
            steady_from = time.perf_counter() + _STEADY_AFTER_FIRST_PACKET_S
        elif steady_from is None and index >= _MAX_FRAMES_BEFORE_FIRST_PACKET:
            raise RuntimeError(f"the encoder returned no packet for {index} frames; it cannot be measured")
    return index


def open_encoder(container, vcodec: str, width: int, height: int, fps: int, g: int, crf: int, preset: int | None):
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


def _encode_for(workload: tuple, ready, start, seconds: float, results) -> None:
    """Child process: the packets per second one encoder produces in its steady state, over ``seconds`` after
    ``start``, on pre-converted frames."""
    os.environ.setdefault("SVT_LOG", "0")  # this child's own environment: SVT-AV1 reads it when it opens
    width, height, fps, vcodec, g, crf, preset, content = workload
    frames = _frames(width, height, 48, content)
    with (
        tempfile.TemporaryDirectory(prefix="lrs-limit-") as directory,
        av.open(ffmpeg_path(Path(directory) / "limit.mp4"), "w") as container,
    ):
        stream = open_encoder(container, vcodec, width, height, fps, g, crf, preset)
        packets = 0

        def feed(index: int) -> None:
            nonlocal packets
            frame = frames[index % len(frames)]
            frame.pts = index
            encoded = stream.encode(frame)
            packets += len(encoded)
            container.mux(encoded)

        index = _run_to_steady_state(feed, lambda: packets)
        ready.put(True)
        start.wait()
        before = packets
        deadline = time.perf_counter() + seconds
        while time.perf_counter() < deadline:
            feed(index)
            index += 1
        results.put((packets - before) / seconds)
        container.mux(stream.encode(None))


def measure_limit(
    width: int,
    height: int,
    fps: int,
    vcodec: str = "libsvtav1",
    g: int = 2,
    crf: int = 30,
    preset: int | None = None,
    parallel_seconds: float = 3.0,
    content: str = "scene",
    source: Path | None = None,
    one_core_seconds: float = 2.0,
) -> dict[str, float]:
    """The encode limits of this machine for the run's ``content`` (or ``source`` footage).

    Every encoder runs in a child process, never in the caller's: opening SVT-AV1 as root turns the calling
    thread ``SCHED_FIFO`` for good, and a benchmark loop running real-time measures no lateness at all
    (this harness did so until 2026-11-29; see the README).
    """
    workload = (width, height, fps, vcodec, g, crf, preset, (content, None if source is None else str(source)))
    per_encoder = _encoders_fps(workload, 1, one_core_seconds)
    cores = available_cores()
    result = {"encoder_fps_one_core": per_encoder, "cores": cores, "limit_cameras": per_encoder * cores / fps}
    if parallel_seconds > 0 and not is_hardware_encoder(vcodec):
        total = _encoders_fps(workload, cores, parallel_seconds)
        result["parallel_fps"] = total
        result["parallel_limit_cameras"] = total / fps
        result["floor_lateness_ms"] = _loop_floor(workload, fps, 2 * cores, parallel_seconds)
    return result


def _encoders_fps(workload: tuple, count: int, seconds: float) -> float:
    """Frames/s of ``count`` single-threaded encoders running at once, each in its own process."""
    start, results, children = _run_encoders(workload, count, seconds, like_workers=False)
    start.set()
    total = sum(results.get(timeout=120) for _ in children)
    for child in children:
        child.join(30)
    return total


def _load_like_a_worker(workload: tuple, ready, start, seconds: float, results, paced: bool = False) -> None:
    """Child process: what one of the process design's encoders does to the machine, for ``seconds`` after
    ``start``: at ``SCHED_IDLE`` without the right to go real-time, statistics, RGB -> YUV, encode and a fragmented
    MP4 written to disk per frame (`workers.encode.EpisodeEncoder`, the worker's own code). Flat out, or ``paced``:
    one frame per period as a camera delivers them (catching up when behind, as a worker drains its ring)."""
    os.environ.setdefault("SVT_LOG", "0")
    drop_realtime_privilege()
    demote_all_threads("idle")
    width, height, fps, vcodec, g, crf, preset, (kind, source) = workload
    camera = make_cameras(1, height, width, kind, None if source is None else Path(source))[0]
    settings = EncoderSettings(fps, vcodec, "yuv420p", g, crf, preset, None if is_hardware_encoder(vcodec) else 1)
    with tempfile.TemporaryDirectory(prefix="lrs-floor-") as directory:
        encoder = EpisodeEncoder(
            Path(directory) / "floor.mp4", settings, fragmented=True, on_codec_open=lambda: demote_all_threads("idle")
        )
        first = _run_to_steady_state(lambda i: encoder.add(i, camera.frame(i)), lambda: encoder.packets_written)
        ready.put(True)
        start.wait()
        index, before, began = first, encoder.packets_written, time.perf_counter()
        deadline = began + seconds
        while time.perf_counter() < deadline:
            if paced and (wait := began + (index - first) / fps - time.perf_counter()) > 0:
                time.sleep(wait)
            encoder.add(index, camera.frame(index))
            index += 1
        results.put((encoder.packets_written - before) / seconds)
        encoder.abort()


def _run_encoders(workload: tuple, count: int, seconds: float, like_workers: bool, paced: bool = False):
    """Start ``count`` warm encoder processes; returns (start event, results queue, processes)."""
    context = mp.get_context("spawn")
    ready, start, results = context.Queue(), context.Event(), context.Queue()
    if like_workers:
        target, args = _load_like_a_worker, (workload, ready, start, seconds, results, paced)
    else:
        target, args = _encode_for, (workload, ready, start, seconds, results)
    children = [context.Process(target=target, args=args) for _ in range(count)]
    for child in children:
        child.start()
    for _ in children:  # every encoder is open and warm before the clock starts
        ready.get(timeout=120)
    return start, results, children


def _loop_floor(workload: tuple, fps: int, encoders: int, seconds: float) -> dict[str, float]:
    """The environment's floor: how late a bare paced loop (no frames, no work) runs while ``encoders`` worker-like
    encoders (two per core: about what a machine runs at its capacity) keep it busy at ``SCHED_IDLE`` - what any
    design's lateness is measured against here. Every run prints it (e.g. p99 1.26 ms beside 4 encoders on 2
    vCPUs: ``benchmarks/results/2026-11-30-epyc-2vcpu-640x480-scene-pyav18-run1.txt``).

    Not a pure encoder: the kernel work of a real worker (page faults, file writes) delays a woken loop on
    kernels without full preemption (PREEMPT_NONE, common on cloud VMs) by milliseconds, where encode-only
    children measured 0.1 ms."""
    return _bare_loop_beside(workload, fps, encoders, seconds, paced=False)


def camera_floor(
    width: int,
    height: int,
    fps: int,
    cameras: int,
    vcodec: str = "libsvtav1",
    g: int = 2,
    crf: int = 30,
    preset: int | None = None,
    content: str = "scene",
    source: Path | None = None,
    seconds: float = 3.0,
) -> dict[str, float]:
    """The floor of one row of the table: how late a bare paced loop runs beside ``cameras`` encoders doing
    exactly what the process design's encoders do for that many cameras - paced at ``fps``, at ``SCHED_IDLE`` -
    but with no recorder feeding them. What a design's loop lateness adds to it is the design's own."""
    workload = (width, height, fps, vcodec, g, crf, preset, (content, None if source is None else str(source)))
    return _bare_loop_beside(workload, fps, cameras, seconds, paced=True)


def _bare_loop_beside(workload: tuple, fps: int, encoders: int, seconds: float, paced: bool) -> dict[str, float]:
    start, results, children = _run_encoders(workload, encoders, seconds, like_workers=True, paced=paced)
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
