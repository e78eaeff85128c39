"""A recording session as ``lerobot-record`` runs one, past the machine's real-time capacity.

``python -m benchmarks.session_bench --cameras 4,6,8`` records, for each design and camera count, E episodes of T s
with R s resets between them - the 30 Hz loop running throughout, episode then reset then ``save_episode``, the
order of lerobot-record - through the ``LeRobotDataset`` API with streaming encoding, first episode included (no
warm-up). It reports the frames lost (repeated in the videos), the loop's lateness, each ``save_episode``, the
largest encoder backlog, how long ``finalize`` waited and the session's wall time, next to the machine's
parallel encode limit measured in the same run (`benchmarks.limit`). Designs:

* ``process``: lerobot_stream as shipped (encoder processes with their backlog, `workers.backlog`);
* ``process-no-backlog``: the same with no backlog (the ring is all there is: lerobot_stream before the backlog);
* ``lerobot``: LeRobot's own ``LeRobotDataset`` and encoder, when LeRobot is installed.
"""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import os
import shutil
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from lerobot_stream.cli.arguments import ArgumentParser, camera_counts, resolution
from lerobot_stream.cli.record import dataset_features
from lerobot_stream.sources.cameras import make_cameras
from lerobot_stream.sources.synthetic import SyntheticRobot
from lerobot_stream.utils.constants import ACTION, OBS_STATE

from .limit import measure_limit
from .measure import summary
from .record_bench import machine_description

SESSION_DESIGNS = ("process", "process-no-backlog", "lerobot")


@dataclass
class SessionResult:
    design: str
    cameras: int
    frames: int = 0
    lost: int = 0
    late_ms: dict[str, float] = field(default_factory=dict)
    save_s: list[float] = field(default_factory=list)
    peak_backlog_mb: float = 0.0
    finalize_s: float = 0.0
    wall_s: float = 0.0
    error: str = ""


def _dataset_class(design: str):
    package = "lerobot" if design == "lerobot" else "lerobot_stream"
    return importlib.import_module(f"{package}.datasets.lerobot_dataset").LeRobotDataset


def _lost_frames(dataset, design: str) -> int:
    """Frames the videos repeat (ours: counted per episode in the episodes table) or dropped (LeRobot's)."""
    if design == "lerobot":
        encoder = getattr(dataset.writer if hasattr(dataset, "writer") else dataset, "_streaming_encoder", None)
        dropped = getattr(encoder, "_dropped_frames", None) or {}
        return int(sum(dropped.values())) if isinstance(dropped, dict) else 0
    return sum(
        int(episode.get(f"videos/{key}/repeated_frames", 0) or 0)
        for episode in dataset.meta.episodes or []
        for key in dataset.meta.video_keys
    )


def run_session(design: str, cameras: int, args: argparse.Namespace, sources: list, folder: Path) -> SessionResult:
    result = SessionResult(design, cameras)
    robot = SyntheticRobot()
    keywords = {"streaming_encoding": True}
    if design == "process-no-backlog":
        keywords.update(backlog_memory_mb=0, backlog_disk_reserve_mb=float("inf"))
    features = dataset_features(cameras, args.height, args.width, robot.joints)
    dataset = _dataset_class(design).create(
        "bench/session", fps=args.fps, features=features, root=folder / design, **keywords
    )
    keys = [key for key, feature in features.items() if feature["dtype"] == "video"]
    status = getattr(dataset.writer, "camera_status", None)
    lateness: list[float] = []
    began = time.perf_counter()
    tick_s = 1 / args.fps
    next_status = 0.0

    def loop(seconds: float, record: bool, episode: int) -> None:
        nonlocal next_status
        start = time.perf_counter()
        for tick in range(round(seconds * args.fps)):
            scheduled = start + tick * tick_s
            delay = scheduled - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            lateness.append((time.perf_counter() - scheduled) * 1000)
            frame = {key: camera.read() for key, camera in zip(keys, sources, strict=False)}
            if record:
                t = episode * args.episode_seconds + tick * tick_s
                frame[OBS_STATE], frame[ACTION] = robot.state(t), robot.action(t)
                frame["task"] = "session"
                dataset.add_frame(frame)
            if status is not None and time.perf_counter() >= next_status:
                next_status = time.perf_counter() + 0.5
                backlog = sum(s.backlog_mb for s in status().values())
                result.peak_backlog_mb = max(result.peak_backlog_mb, backlog)

    try:
        for episode in range(args.episodes):
            loop(args.episode_seconds, True, episode)
            if episode < args.episodes - 1:
                loop(args.reset_seconds, False, episode)
            started = time.perf_counter()
            dataset.save_episode()
            result.save_s.append(time.perf_counter() - started)
        lost = _lost_frames(dataset, design) if design == "lerobot" else None  # its encoder's counts, before finalize
        started = time.perf_counter()
        dataset.finalize()  # ours: waits for the saved episodes still encoding, then reads the episodes table
        result.finalize_s = time.perf_counter() - started
        result.lost = lost if lost is not None else _lost_frames(dataset, design)
    except Exception as exc:  # a design that fails is a result too
        result.error = f"{type(exc).__name__}: {exc}"
        dataset.finalize()
    result.wall_s = time.perf_counter() - began
    result.frames = args.episodes * round(args.episode_seconds * args.fps) * cameras
    result.late_ms = summary(lateness)
    return result


def format_result(result: SessionResult, limit: float) -> str:
    if result.error:
        return f"{result.design:<19} {result.cameras:>3}  ERROR {result.error}"
    saves = np.asarray(result.save_s) * 1000
    return (
        f"{result.design:<19} {result.cameras:>3} {result.cameras / limit:5.2f}x  "
        f"{result.lost:>6} of {result.frames:<6} {100 * result.lost / max(1, result.frames):5.1f} %  "
        f"{result.late_ms['p99']:8.1f} {result.late_ms['max']:8.1f}  "
        f"{np.median(saves):8.0f} {saves.max():8.0f}  {result.peak_backlog_mb:8.0f}  "
        f"{result.finalize_s:6.1f}  {result.wall_s:6.1f}"
    )


HEADER = (
    f"{'design':<19} {'cams':>3} {'xlim':>6}  {'frames lost':<22}  {'late p99':>8} {'max ms':>8}  "
    f"{'save p50':>8} {'max ms':>8}  {'backlog':>8}  {'final':>6}  {'wall s':>6}"
)


def build_parser() -> argparse.ArgumentParser:
    p = ArgumentParser(prog="python -m benchmarks.session_bench", description=__doc__.split("\n\n")[0])
    p.add_argument("--cameras", type=camera_counts, default=camera_counts("4,6,8"), help="camera counts (4,6,8)")
    p.add_argument("--designs", default="process,process-no-backlog", help=f"among {', '.join(SESSION_DESIGNS)}")
    p.add_argument("--episodes", type=int, default=3, help="episodes per session (default: %(default)s)")
    p.add_argument("--episode-seconds", type=float, default=20.0, help="(default: %(default)s)")
    p.add_argument("--reset-seconds", type=float, default=20.0, help="(default: %(default)s)")
    p.add_argument("--resolution", type=resolution, default=(640, 480), help="WIDTHxHEIGHT (default: 640x480)")
    p.add_argument("--fps", type=int, default=30, help="(default: %(default)s)")
    p.add_argument("--limit-seconds", type=float, default=3.0, help="parallel encode limit run; 0: skip (default 3)")
    p.add_argument("--out", type=Path, default=Path("bench_results"), help="folder for the JSON (default: %(default)s)")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    designs = [d.strip() for d in args.designs.split(",") if d.strip()]
    bad = [d for d in designs if d not in SESSION_DESIGNS]
    if bad or args.episodes < 1 or args.episode_seconds <= 0 or args.reset_seconds < 0 or args.fps < 1:
        print(f"error: designs among {SESSION_DESIGNS}, episodes >= 1, positive seconds and fps", file=sys.stderr)
        return 2
    if "lerobot" in designs and importlib.util.find_spec("lerobot") is None:
        print("error: --designs lerobot needs LeRobot installed in this environment", file=sys.stderr)
        return 2
    os.environ.setdefault("SVT_LOG", "0")
    logging.basicConfig(level=logging.ERROR)  # repeated frames are expected here; the table reports them
    args.width, args.height = args.resolution
    machine = machine_description()
    print(f"Machine: {machine['cpu']}, {machine['cores']} cores, PyAV {machine['pyav']}", flush=True)
    print("Preparing the cameras and measuring the parallel encode limit...", flush=True)
    sources = make_cameras(max(args.cameras), args.height, args.width, "scene", None, args.fps)
    limit_info = measure_limit(args.width, args.height, args.fps, parallel_seconds=args.limit_seconds)
    limit = limit_info.get("parallel_limit_cameras", limit_info["limit_cameras"])
    print(
        f"Parallel encode limit: {limit:.1f} cameras. Sessions of {args.episodes} x {args.episode_seconds:g} s "
        f"episodes with {args.reset_seconds:g} s resets, {args.width}x{args.height} @ {args.fps} fps, scene content.\n",
        flush=True,
    )
    print(HEADER, flush=True)
    results = []
    for cameras in args.cameras:
        for design in designs:
            folder = Path(tempfile.mkdtemp(prefix="session_bench_"))
            try:
                result = run_session(design, cameras, args, sources, folder)
            finally:
                shutil.rmtree(folder, ignore_errors=True)
            results.append(result)
            print(format_result(result, limit), flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
    path = args.out / f"session_bench-{stamp}.json"
    report = {"machine": machine, "limit": limit_info, "arguments": {k: str(v) for k, v in vars(args).items()}}
    report["runs"] = [asdict(r) for r in results]
    path.write_text(json.dumps(report, indent=2))
    print(f"\nJSON written to {path}")
    return 1 if any(r.error for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
