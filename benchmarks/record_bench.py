"""How many cameras can this machine record in real time, and what does each design buy?

Run ``python -m benchmarks.record_bench --help`` (or ``lerobot-stream bench``). For each design and camera
count it runs one paced episode (`benchmarks.designs`), then prints a table, writes JSON and - with the
``bench`` extra (matplotlib) - a plot, all measured in the same run, next to the encode limit of this machine
(`benchmarks.limit`). Machines are noisy: compare the ratios between designs, not absolute times.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import logging
import os
import platform
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import av

from lerobot_stream.cli.arguments import (
    ArgumentParser,
    camera_counts,
    non_negative_float,
    non_negative_int,
    positive_float,
    positive_int,
    resolution,
)
from lerobot_stream.sources.cameras import CONTENTS, SourceError, make_cameras
from lerobot_stream.sources.synthetic import SyntheticDepthCamera
from workers.codecs import available_cores, is_hardware_encoder
from workers.encoder_availability import check_encoder_usable
from workers.errors import EncoderUnavailable

from .designs import DEFAULT_DESIGNS, DESIGNS, WORKLOADS, RunResult, Workload, run_design, sources
from .limit import camera_floor, measure_limit
from .report import FLOOR_NOTE, HEADER, capacities, comparisons, format_row, plot


def _choices(allowed: tuple[str, ...], what: str):
    def parse(text: str) -> list[str]:
        names = [d.strip() for d in text.split(",") if d.strip()]
        if not names or any(d not in allowed for d in names):
            raise argparse.ArgumentTypeError(f"{what} must be among {allowed}, got {text!r}")
        return names

    return parse


def build_parser() -> argparse.ArgumentParser:
    p = ArgumentParser(
        prog="lerobot-stream bench",
        description="Benchmark the process, thread and png recording designs side by side on this machine and "
        "find each design's capacity (largest camera count with zero dropped frames).",
    )
    p.add_argument(
        "--cameras",
        type=camera_counts,
        default=camera_counts("1-8"),
        help="camera counts to sweep: N, N,M,... or N-M (default: 1-8)",
    )
    p.add_argument(
        "--designs",
        type=_choices(DESIGNS, "designs"),
        default=list(DEFAULT_DESIGNS),
        help="comma-separated among process, thread, png and lerobot (LeRobot's own encoder; needs LeRobot "
        "installed) (default: process,thread,png)",
    )
    p.add_argument(
        "--workloads",
        type=_choices(WORKLOADS, "workloads"),
        default=["rgb"],
        help="rgb (cameras only) and/or rgbd (each camera also records a depth stream at the same resolution, "
        "LeRobot v0.6's depth defaults); comma-separated (default: rgb)",
    )
    p.add_argument(
        "--content",
        choices=CONTENTS,
        default="scene",
        help="what the cameras film: scene (a panned natural scene with sensor noise, calibrated to cost what "
        "camera footage costs) or synthetic (a cheap moving pattern, ~2x faster to encode: an optimistic bound) "
        "(default: %(default)s)",
    )
    p.add_argument(
        "--source",
        type=Path,
        default=None,
        help="benchmark with your own footage instead: a video file, a folder of images, or one picture (panned)",
    )
    p.add_argument("--resolution", type=resolution, default=(640, 480), help="WIDTHxHEIGHT (default: 640x480)")
    p.add_argument("--fps", type=positive_int, default=30, help="recording rate (default: %(default)s)")
    p.add_argument("--seconds", type=positive_float, default=10.0, help="episode length per run (default: %(default)s)")
    p.add_argument("--vcodec", default="libsvtav1", help="codec (default: %(default)s)")
    p.add_argument(
        "--preset", type=non_negative_int, default=None, help="encoder preset (default: library default, 12 for AV1)"
    )
    p.add_argument("--crf", type=non_negative_int, default=30, help="quality (default: %(default)s)")
    p.add_argument("--g", type=positive_int, default=2, help="GOP size (default: %(default)s)")
    p.add_argument(
        "--encoder-threads", type=positive_int, default=None, help="threads per encoder (default: cores/cameras)"
    )
    p.add_argument(
        "--queue-size", type=positive_int, default=30, help="frames buffered per camera (default: %(default)s)"
    )
    p.add_argument(
        "--worker-priority",
        choices=("idle", "batch", "normal"),
        default="idle",
        help="scheduling of the process design's encoders (default: %(default)s)",
    )
    p.add_argument(
        "--depth-preset",
        default=None,
        help="x265 preset of the depth streams of --workloads rgbd (default: LeRobot's, x265's medium); depth is "
        "lossless whatever the preset, ultrafast is ~3.5x faster for ~6%% larger files",
    )
    p.add_argument(
        "--loop-work-ms",
        type=non_negative_float,
        default=0.0,
        help="Python work per tick standing in for control code (default: %(default)s)",
    )
    p.add_argument(
        "--keep-going",
        action="store_true",
        help="run every camera count even after a design missed real time (drops or a late loop) twice in a row",
    )
    p.add_argument(
        "--limit-seconds",
        type=non_negative_float,
        default=3.0,
        help="how long the parallel encode limit and each camera count's floor are measured; 0 skips them "
        "(default: %(default)s)",
    )
    p.add_argument(
        "--out", type=Path, default=Path("bench_results"), help="folder for JSON and plot (default: %(default)s)"
    )
    p.add_argument("--no-plot", action="store_true", help="do not draw the plot")
    return p


def machine_description() -> dict[str, object]:
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpu": model,
        "cores": available_cores(),
        "machine": platform.machine(),
        "system": platform.system(),
        "python": platform.python_version(),
        "pyav": av.__version__,
        "root": os.geteuid() == 0,
    }


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    os.environ.setdefault("SVT_LOG", "0")  # our own program: keep SVT-AV1's banner out of the table
    logging.basicConfig(level=logging.ERROR)  # drop warnings are expected here; the table reports them
    width, height = args.resolution
    if "lerobot" in args.designs and importlib.util.find_spec("lerobot") is None:
        parser.error("--designs lerobot measures LeRobot's own encoder: install LeRobot in this environment first")
    try:
        check_encoder_usable(args.vcodec)
    except EncoderUnavailable as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    machine = machine_description()
    print(
        f"Machine: {machine['cpu']}, {machine['cores']} cores, {machine['machine']}, PyAV {machine['pyav']}"
        f"{', running as root' if machine['root'] else ''}",
        flush=True,
    )
    content = f"footage from {args.source}" if args.source else f"{args.content} content"
    print(
        f"Workload: {content}, {width}x{height} @ {args.fps} fps, {args.seconds:g} s per run, {args.vcodec} "
        f"(g={args.g}, crf={args.crf}, preset={args.preset if args.preset is not None else 'default'})",
        flush=True,
    )
    print("Preparing the cameras and measuring the encode limit on their frames...", flush=True)
    try:
        rgb_cameras = make_cameras(max(args.cameras), height, width, args.content, args.source, args.fps)
    except SourceError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        limit = measure_limit(
            width,
            height,
            args.fps,
            args.vcodec,
            args.g,
            args.crf,
            args.preset,
            parallel_seconds=args.limit_seconds,
            content=args.content,
            source=args.source,
        )
    except Exception as exc:
        print(
            f"error: {args.vcodec} cannot encode on this machine ({exc}); try --vcodec auto, h264 or libsvtav1",
            file=sys.stderr,
        )
        return 2
    print(
        f"  one encoder on one core: {limit['encoder_fps_one_core']:.0f} frames/s -> limit "
        f"{limit['limit_cameras']:.1f} cameras at {args.fps} fps",
        flush=True,
    )
    if "parallel_limit_cameras" in limit:
        print(
            f"  {limit['cores']} encoders at once: {limit['parallel_fps']:.0f} frames/s -> parallel limit "
            f"{limit['parallel_limit_cameras']:.1f} cameras",
            flush=True,
        )
    if "floor_lateness_ms" in limit:
        floor = limit["floor_lateness_ms"]
        print(
            f"  environment floor: a bare paced loop beside {2 * limit['cores']} idle-priority encoders is late by "
            f"p99 {floor['p99']:.2f} ms (max {floor['max']:.1f} ms); no design can do better here",
            flush=True,
        )
    depth_cameras = (
        [SyntheticDepthCamera(height, width, seed=c) for c in range(max(args.cameras))]
        if "rgbd" in args.workloads
        else []
    )
    if hasattr(os, "sched_getscheduler") and os.sched_getscheduler(0) != getattr(os, "SCHED_OTHER", 0):
        print("warning: this process runs at a real-time scheduling policy; loop lateness is not comparable")
    results: list[RunResult] = []
    floors: dict[int, dict[str, float]] = {}  # by camera count, shared by the designs
    labels = [d if kind == "rgb" else f"{d}-rgbd" for kind in args.workloads for d in args.designs]
    progress = Progress(len(labels) * len(args.cameras), args.seconds + 2.0)
    print(f"{progress.planned} run(s) planned, about {progress.left()} (fewer if designs miss real time)", flush=True)
    print(HEADER, flush=True)
    for kind, design in ((kind, design) for kind in args.workloads for design in args.designs):
        failures_in_a_row = 0
        for count in args.cameras:
            workload = Workload(
                count,
                width,
                height,
                args.fps,
                args.seconds,
                args.vcodec,
                args.preset,
                args.crf,
                args.g,
                args.encoder_threads,
                args.queue_size,
                args.loop_work_ms,
                args.worker_priority,
                depth=kind == "rgbd",
                depth_preset=args.depth_preset,
            )
            if sys.stdout.isatty():
                print(f"  {progress.line()}: {design} {kind}, {count} camera(s)", end="\r", flush=True)
            measure_floor = kind == "rgb" and args.limit_seconds > 0 and not is_hardware_encoder(args.vcodec)
            if measure_floor and count not in floors:
                floors[count] = camera_floor(
                    width, height, args.fps, count, args.vcodec, args.g, args.crf, args.preset,
                    args.content, args.source, args.limit_seconds,
                )  # fmt: skip
            result = run_design(design, workload, sources(workload, rgb_cameras, depth_cameras))
            result.floor_late_ms = floors.get(count) if kind == "rgb" else None
            results.append(result)
            progress.done()
            print("\x1b[2K" * sys.stdout.isatty() + format_row(result), flush=True)
            failures_in_a_row = 0 if result.realtime else failures_in_a_row + 1
            if failures_in_a_row >= 2 and not args.keep_going:
                progress.skip(len(args.cameras) - args.cameras.index(count) - 1)
                break
            time.sleep(0.5)  # let the previous run's processes go before the next one starts
    caps = capacities(results, labels)
    print(
        "\nfloor: the latest tick (ms) of a bare paced loop beside as many idle-priority encoders doing the process"
        " design's work for that many cameras, without a recorder; first30: the latest of the first 30 ticks."
    )
    if any(r.floor_late_ms is None and not r.error for r in results):
        print(FLOOR_NOTE)
    print(
        "\nCapacity (largest camera count with zero dropped frames; sustained also needs at most a quarter of a "
        "buffer still waiting at the end - more is a deficit a longer episode would show as drops; real-time is "
        "sustained with loop lateness p99 < one frame period; an -rgbd camera records RGB and depth):"
    )
    for design, cap in caps.items():
        print(f"  {design:<13} {cap['zero_drops']}   (sustained: {cap['sustained']}, real-time: {cap['realtime']})")
    print(f"  {'limit':<13} {limit['limit_cameras']:.1f}   (one RGB encoder's throughput x cores / fps)")
    if "parallel_limit_cameras" in limit:
        print(f"  {'parallel':<13} {limit['parallel_limit_cameras']:.1f}   (one RGB encoder per core, all at once)")
    for line in comparisons(results, caps, limit):
        print("  " + line)
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
    report = {
        "machine": machine,
        "arguments": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        "limit": limit,
        "capacity": caps,
        "runs": [r.to_json() for r in results],
    }
    json_path = args.out / f"record_bench-{stamp}.json"
    json_path.write_text(json.dumps(report, indent=2))
    print(f"\nJSON written to {json_path}")
    if not args.no_plot:
        print(plot(results, caps, limit, args.out / f"record_bench-{stamp}.png"))
    return report_failures(results)


def report_failures(results: list[RunResult]) -> int:
    """The exit status: 1, with one line on stderr saying why, if any run failed (its capacity is then wrong)."""
    failed = [r for r in results if r.error]
    if not failed:
        return 0
    first = failed[0]
    print(
        f"error: {len(failed)} of {len(results)} run(s) failed, so the capacities above are incomplete; the first: "
        f"{first.design} with {first.cameras} camera(s): {first.error}",
        file=sys.stderr,
    )
    return 1


class Progress:
    """Runs done and the time left, estimated from the runs so far (before the first, from ``estimate_s``)."""

    def __init__(self, planned: int, estimate_s: float):
        self.planned = planned
        self.finished = 0
        self._estimate_s = estimate_s
        self._started = time.monotonic()

    def done(self) -> None:
        self.finished += 1

    def skip(self, runs: int) -> None:
        self.planned -= runs

    def left(self) -> str:
        per_run = (time.monotonic() - self._started) / self.finished if self.finished else self._estimate_s
        seconds = round(per_run * (self.planned - self.finished))
        return f"{seconds // 60}:{seconds % 60:02d} min left" if seconds >= 60 else f"{seconds} s left"

    def line(self) -> str:
        return f"[{self.finished + 1}/{self.planned}, {self.left()}]"


if __name__ == "__main__":
    sys.exit(main())
