"""The small measurements design comments in the code rely on, reproducible: each prints what it measured and the
comparison it backs, so a reader can check a claim on their own machine instead of taking it on trust.

    python -m benchmarks.microbench [--out benchmarks/results] [--only NAME ...]

* ``copy_into_ring``: one 640x480 RGB frame copied into a fresh shared-memory page, a reserved one
  (``posix_fallocate``) and a mapped one (`shm.prefault`);
* ``gil``: how fast a Python thread spins while another thread encodes with x264 - the codecs release the GIL
  (`workers.episode_pipeline` drains the ring while its encode thread works);
* ``thread_split``: SVT-AV1 on every core in one encoder against one single-threaded encoder per core
  (`workers.codecs.default_encoder_threads`);
* ``spawn``: how long `workers.spawn.BackgroundSpawn` keeps the caller, and how long the process takes to exist.

Results: a table on stdout and ``<date>-microbench.json`` in ``--out``. Absolute numbers depend on the machine;
the ratios are what the comments cite.
"""

from __future__ import annotations

import argparse
import json
import mmap
import os
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import date
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from lerobot_stream.configs.video import rgb_encoder_defaults
from lerobot_stream.sources.scene import PannedImageCamera
from workers.codecs import resolve_settings
from workers.spawn import BackgroundSpawn

FRAME = (480, 640, 3)


def _copy_ms(target: np.ndarray, frame: np.ndarray, repeats: int) -> float:
    """Median time (ms) of copying ``frame`` into successive frame-sized slices of ``target``."""
    times = []
    for index in range(repeats):
        start = time.perf_counter()
        target[index] = frame
        times.append(time.perf_counter() - start)
    return 1000 * float(np.median(times))


def copy_into_ring(repeats: int = 30) -> dict:
    frame = np.random.default_rng(0).integers(0, 256, FRAME, dtype=np.uint8)
    size = repeats * frame.nbytes
    results = {}
    for state in ("never touched", "reserved (posix_fallocate)", "mapped (written once)"):
        with tempfile.TemporaryFile(dir="/dev/shm" if os.path.isdir("/dev/shm") else None) as file:
            file.truncate(size)
            if state != "never touched" and hasattr(os, "posix_fallocate"):
                os.posix_fallocate(file.fileno(), 0, size)
            with mmap.mmap(file.fileno(), size) as mapping:
                target = np.frombuffer(mapping, dtype=np.uint8).reshape(repeats, *FRAME)
                if state == "mapped (written once)":
                    target[:] = 0
                results[state] = _copy_ms(target, frame, repeats)
                del target
    return {"copy_ms": results, "frame_kib": frame.nbytes // 1024}


def _spin_rate(seconds: float, busy: Callable[[threading.Event], None] | None) -> float:
    """Iterations per second of a Python loop while ``busy`` runs in another thread."""
    stop = threading.Event()
    worker = threading.Thread(target=busy, args=(stop,)) if busy else None
    if worker:
        worker.start()
    count, end = 0, time.perf_counter() + seconds
    while time.perf_counter() < end:
        count += 1
    stop.set()
    if worker:
        worker.join()
    return count / seconds


def _encode_while(vcodec: str, options: dict[str, str], frames: list[np.ndarray], running: Callable[[], bool]) -> int:
    """Encode ``frames`` over and over while ``running()``; returns the packets the codec turned out meanwhile."""
    packets = 0
    with tempfile.TemporaryDirectory() as folder, av.open(os.path.join(folder, "out.mp4"), "w") as out:
        stream = out.add_stream(vcodec, rate=30, options=options)
        stream.width, stream.height, stream.pix_fmt = FRAME[1], FRAME[0], "yuv420p"
        index = 0
        while running():
            frame = av.VideoFrame.from_ndarray(frames[index % len(frames)], format="rgb24")
            frame.pts, frame.time_base = index, Fraction(1, 30)
            for packet in stream.encode(frame):
                out.mux(packet)
                packets += 1
            index += 1
        out.mux(stream.encode(None))
    return packets


def _x264_until(stop: threading.Event) -> None:
    camera = PannedImageCamera(FRAME[0], FRAME[1], seed=1, pool=30)
    frames = [camera.read() for _ in range(30)]
    _encode_while("libx264", {"preset": "medium", "threads": "1"}, frames, lambda: not stop.is_set())


def gil(seconds: float = 3.0) -> dict:
    alone = _spin_rate(seconds, None)
    beside = _spin_rate(seconds, _x264_until)
    return {"spins_per_s_alone": alone, "spins_per_s_beside_x264": beside, "kept": beside / alone}


def _svt_frames_per_s(frames: list[np.ndarray], threads: int, seconds: float) -> float:
    """Frames per second one SVT-AV1 encoder bound to ``threads`` threads turns out (packets out), opened with
    the options a recording uses (LeRobot's defaults, `workers.codecs.EncoderSettings.stream_options`)."""
    options = resolve_settings(rgb_encoder_defaults(), 30, threads).stream_options()
    start = time.perf_counter()
    packets = _encode_while("libsvtav1", options, frames, lambda: time.perf_counter() - start < seconds)
    return packets / seconds


def thread_split(seconds: float = 8.0) -> dict:
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    camera = PannedImageCamera(FRAME[0], FRAME[1], seed=2, pool=60)
    frames = [camera.read() for _ in range(60)]
    one_wide = _svt_frames_per_s(frames, cores, seconds)
    rates: list[float] = []
    threads = [
        threading.Thread(target=lambda: rates.append(_svt_frames_per_s(frames, 1, seconds))) for _ in range(cores)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return {"cores": cores, "one_encoder_all_cores_fps": one_wide, "one_encoder_per_core_total_fps": sum(rates)}


def spawn(processes: int = 3) -> dict:
    caller_ms, exists_ms = [], []
    started = []
    for _ in range(processes):
        start = time.perf_counter()
        background = BackgroundSpawn([sys.executable, "-c", "pass"], [], dict(os.environ), "idle", close_after=[])
        caller_ms.append(1000 * (time.perf_counter() - start))
        started.append((background, start))
    for background, start in started:
        process = background.result()
        exists_ms.append(1000 * (time.perf_counter() - start))
        process.wait()
    return {"caller_ms": caller_ms, "process_exists_ms": exists_ms}


MEASUREMENTS: dict[str, Callable[[], dict]] = {
    "copy_into_ring": copy_into_ring,
    "gil": gil,
    "thread_split": thread_split,
    "spawn": spawn,
}


def _report(name: str, result: dict) -> str:
    if name == "copy_into_ring":
        rows = [f"  {state:28s} {ms:6.3f} ms" for state, ms in result["copy_ms"].items()]
        return f"copy of one {result['frame_kib']} KiB frame into shared memory pages:\n" + "\n".join(rows)
    if name == "gil":
        return f"a Python thread beside an x264 encode keeps {100 * result['kept']:.0f} % of its spin rate"
    if name == "thread_split":
        ratio = result["one_encoder_per_core_total_fps"] / result["one_encoder_all_cores_fps"]
        return (
            f"SVT-AV1 on {result['cores']} cores: one encoder with every core {result['one_encoder_all_cores_fps']:.0f}"
            f" frames/s, one single-threaded encoder per core {result['one_encoder_per_core_total_fps']:.0f} in all"
            f" ({ratio:.2f}x)"
        )
    caller = max(result["caller_ms"])
    exists = np.median(result["process_exists_ms"])
    return f"BackgroundSpawn keeps the caller at most {caller:.2f} ms; the process exists after {exists:.0f} ms"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"), help="folder for the JSON results")
    parser.add_argument("--only", nargs="*", choices=sorted(MEASUREMENTS), help="run only these")
    args = parser.parse_args(argv)
    os.environ.setdefault("SVT_LOG", "0")  # SVT-AV1's banner on every encoder opened here
    results = {}
    for name in args.only or MEASUREMENTS:
        results[name] = MEASUREMENTS[name]()
        print(_report(name, results[name]), flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"{date.today().isoformat()}-microbench.json"
    machine = {"cpu_count": os.cpu_count(), "platform": sys.platform, "pyav": av.__version__}
    path.write_text(json.dumps({"machine": machine, "results": results}, indent=2) + "\n")
    print(f"written: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
