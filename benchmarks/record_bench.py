"""How many cameras can this machine record in real time, and what does each design buy?

Run ``python -m benchmarks.record_bench --help`` (or ``lerobot-stream bench``). For each design and camera
count it runs one paced episode (`benchmarks.designs`), then prints a table, writes JSON and - with the
``bench`` extra (matplotlib) - a plot, all measured in the same run, next to the encode limit of this machine
(`benchmarks.limit`). Machines are noisy: compare the ratios between designs, not absolute times.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import av

from benchmarks.designs import DEFAULT_DESIGNS, DESIGNS, WORKLOADS, RunResult, Workload, run_design, sources
from benchmarks.limit import camera_floor, measure_limit
from benchmarks.report import HEADER, capacities, comparisons, format_row, plot
from lerobot_stream.cameras import CONTENTS, SourceError, make_cameras
from lerobot_stream.synthetic import SyntheticDepthCamera
from workers.codecs import EncoderUnavailable, available_cores, check_encoder_usable, is_hardware_encoder


def parse_counts(text: str) -> list[int]:
    """``"3"``, ``"1,2,4"`` or ``"1-8"``."""
    counts: list[int] = []
    for part in text.split(","):
        if "-" in part:
            low, high = (int(v) for v in part.split("-", 1))
            counts.extend(range(low, high + 1))
        else:
            counts.append(int(part))
    if not counts or min(counts) < 1:
        raise argparse.ArgumentTypeError(f"camera counts must be positive, got {text!r}")
    return sorted(set(counts))


def _choices(allowed: tuple[str, ...], what: str):
    def parse(text: str) -> list[str]:
        names = [d.strip() for d in text.split(",") if d.strip()]
        if not names or any(d not in allowed for d in names):
            raise argparse.ArgumentTypeError(f"{what} must be among {allowed}, got {text!r}")
        return names

    return parse


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="lerobot-stream bench",
        description="Benchmark the process, thread and png recording designs side by side on this machine and "
        "find each design's capacity (largest camera count with zero dropped frames).",
    )
    p.add_argument(
        "--cameras",
        type=parse_counts,
        default=parse_counts("1-8"),
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
    p.add_argument("--resolution", default="640x480", help="WIDTHxHEIGHT (default: %(default)s)")
    p.add_argument("--fps", type=int, default=30, help="recording rate (default: %(default)s)")
    p.add_argument("--seconds", type=float, default=10.0, help="episode length per run (default: %(default)s)")
    p.add_argument("--vcodec", default="libsvtav1", help="codec (default: %(default)s)")
    p.add_argument("--preset", type=int, default=None, help="encoder preset (default: library default, 12 for AV1)")
    p.add_argument("--crf", type=int, default=30, help="quality (default: %(default)s)")
    p.add_argument("--g", type=int, default=2, help="GOP size (default: %(default)s)")
    p.add_argument("--encoder-threads", type=int, default=None, help="threads per encoder (default: cores/cameras)")
    p.add_argument("--queue-size", type=int, default=30, help="frames buffered per camera (default: %(default)s)")
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
        type=float,
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
        type=float,
        default=3.0,
        help="how long the parallel encode limit and each camera count's floor are measured; 0 skips them "
        "(default: %(default)s)",
    )
    p.add_argument("--out", type=Path, default=Path("bench_results"), help="folder for JSON and plot")
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
    args = build_parser().parse_args(argv)
    os.environ.setdefault("SVT_LOG", "0")  # our own program: keep SVT-AV1's banner out of the table
    logging.basicConfig(level=logging.ERROR)  # drop warnings are expected here; the table reports them
    width, height = (int(v) for v in args.resolution.lower().split("x"))
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
        f"Workload: {content}, {args.resolution} @ {args.fps} fps, {args.seconds:g} s per run, {args.vcodec} "
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
                print(f"  ... {design} {kind}, {count} camera(s), {args.seconds:g} s", end="\r", flush=True)
            measure_floor = kind == "rgb" and args.limit_seconds > 0 and not is_hardware_encoder(args.vcodec)
            if measure_floor and count not in floors:
                floors[count] = camera_floor(
                    width, height, args.fps, count, args.vcodec, args.g, args.crf, args.preset,
                    args.content, args.source, args.limit_seconds,
                )  # fmt: skip
            result = run_design(design, workload, sources(workload, rgb_cameras, depth_cameras))
            result.floor_late_ms = floors.get(count) if kind == "rgb" else None
            results.append(result)
            print(format_row(result), flush=True)
            failures_in_a_row = 0 if result.realtime else failures_in_a_row + 1
            if failures_in_a_row >= 2 and not args.keep_going:
                break
            time.sleep(0.5)  # let the previous run's processes go before the next one starts
    caps = capacities(results, labels)
    print(
        "\nfloor: the latest tick (ms) of a bare paced loop beside as many idle-priority encoders doing the process"
        " design's work for that many cameras, without a recorder; first30: the latest of the first 30 ticks."
    )
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
    return 0


if __name__ == "__main__":
    sys.exit(main())
