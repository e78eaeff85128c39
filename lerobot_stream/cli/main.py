"""``lerobot-stream``: record a dataset from synthetic cameras, inspect or recover one, run the benchmarks."""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
from pathlib import Path

from lerobot_stream.cli.arguments import (
    ArgumentParser,
    non_negative_float,
    positive_float,
    positive_int,
    resolution,
)


def _add_record(subparsers) -> None:
    p = subparsers.add_parser(
        "record",
        help="record a LeRobot dataset from built-in synthetic cameras",
        description="Record a real LeRobot v3.0 dataset from synthetic cameras and a synthetic joint-state/action "
        "stream, with a live status line per camera. Ctrl-C stops cleanly: the episode in progress is "
        "saved with the frames it has and the dataset is finalized.",
    )
    p.add_argument(
        "--root",
        type=Path,
        default=Path("outputs/lerobot_stream_demo"),
        help="dataset directory to create (default: %(default)s)",
    )
    p.add_argument("--overwrite", action="store_true", help="replace --root if it exists")
    p.add_argument("--repo-id", default="local/lerobot_stream_demo", help="dataset repo id (default: %(default)s)")
    # No argparse defaults for what --resume takes from the dataset: a value given explicitly must match it.
    p.add_argument("--cameras", type=positive_int, default=None, help="number of cameras (default: 3)")
    p.add_argument("--resolution", type=resolution, default=None, help="WIDTHxHEIGHT (default: 640x480)")
    p.add_argument("--fps", type=positive_int, default=None, help="frames per second (default: 30)")
    p.add_argument("--episodes", type=positive_int, default=3, help="episodes to record (default: %(default)s)")
    p.add_argument(
        "--episode-seconds",
        type=positive_float,
        default=10.0,
        help="length of each episode in seconds (default: %(default)s)",
    )
    p.add_argument(
        "--vcodec",
        default="libsvtav1",
        help="libsvtav1, h264, hevc, auto, or a hardware encoder (default: %(default)s)",
    )
    p.add_argument(
        "--png", action="store_true", help="legacy path: write PNGs during the episode and encode at save time"
    )
    p.add_argument(
        "--queue-size",
        type=positive_int,
        default=30,
        help="frames each camera's ring buffer holds (default: %(default)s)",
    )
    p.add_argument(
        "--encoder-threads", type=positive_int, default=None, help="threads per encoder (default: cores / cameras)"
    )
    p.add_argument(
        "--reset-seconds",
        type=non_negative_float,
        default=0.0,
        help="seconds between episodes, saved after the reset as lerobot-record does: the encoders work through "
        "their backlog meanwhile (default: %(default)s)",
    )
    p.add_argument(
        "--backlog-memory-mb",
        type=non_negative_float,
        default=None,
        help="memory the encoders may fill with frames they are behind on, all cameras together "
        "(default: a quarter of the available memory)",
    )
    p.add_argument(
        "--backlog-disk-reserve-mb",
        type=non_negative_float,
        default=None,
        help="beyond that memory the backlog spills to disk while this much stays free; 'inf' never spills "
        "(default: 5%% of the disk, at least 1 GiB)",
    )
    p.add_argument(
        "--content",
        choices=("scene", "synthetic"),  # lerobot_stream.sources.cameras.CONTENTS (not imported: the CLI starts fast)
        default="scene",
        help="what the built-in cameras film: scene (a panned natural scene with sensor noise, as costly to encode "
        "as camera footage) or synthetic (a cheap moving pattern) (default: %(default)s)",
    )
    p.add_argument(
        "--source", type=Path, default=None, help="record your own footage: a video file, an image folder or a picture"
    )
    p.add_argument(
        "--task",
        action="append",
        default=None,
        metavar="TEXT",
        help="the episodes' task (LeRobot's single_task); repeat it for several tasks, used in turn across episodes "
        "(default: 'pick up the synthetic cube')",
    )
    p.add_argument(
        "--depth",
        action="store_true",
        help="RGB-D cameras: each camera also records a depth stream (uint16 millimetres, lossless 12-bit HEVC)",
    )
    p.add_argument(
        "--resume",
        action="store_true",
        help="append episodes to the dataset at --root (as lerobot-record --resume); its cameras, resolution and "
        "fps are the dataset's",
    )


def _cmd_record(args) -> int:
    from lerobot_stream.cli.record import DEFAULT_TASK, RecordConfig, ResumeRefused, run_record
    from lerobot_stream.sources.cameras import SourceError
    from lerobot_stream.storage.disk_space import DiskSpaceError
    from shm import SharedMemorySpaceError
    from workers.errors import EncoderUnavailable

    config = RecordConfig(
        root=args.root,
        repo_id=args.repo_id,
        cameras=args.cameras,
        height=args.resolution[1] if args.resolution else None,
        width=args.resolution[0] if args.resolution else None,
        fps=args.fps,
        episodes=args.episodes,
        episode_seconds=args.episode_seconds,
        vcodec=args.vcodec,
        streaming=not args.png,
        queue_size=args.queue_size,
        encoder_threads=args.encoder_threads,
        overwrite=args.overwrite,
        content=args.content,
        source=args.source,
        reset_seconds=args.reset_seconds,
        backlog_memory_mb=args.backlog_memory_mb,
        backlog_disk_reserve_mb=args.backlog_disk_reserve_mb,
        tasks=args.task or [DEFAULT_TASK],
        depth=args.depth,
        resume=args.resume,
    )
    try:
        summary = run_record(config)
    except (
        FileExistsError,
        SourceError,
        EncoderUnavailable,
        SharedMemorySpaceError,
        DiskSpaceError,
        ResumeRefused,
    ) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    from lerobot_stream.cli.dataset_info import integrity_line
    from lerobot_stream.recovery.integrity import inspect_dataset

    report = inspect_dataset(args.root)
    with contextlib.suppress(OSError):  # the terminal may be gone (SIGHUP)
        print(integrity_line(report.healthy, report.decoded, len(report.problems)))
    return 0 if report.healthy and not summary.save_error else 1


#: Exit codes of ``info`` and ``recover`` (and ``record``): documented in ``--help`` and the README.
EXIT_OK, EXIT_PROBLEMS, EXIT_UNREADABLE = 0, 1, 2


def _unreadable(root: Path, exc: BaseException) -> int:
    """One line, no traceback, for a dataset that cannot be read at all."""
    if not root.exists():
        reason = "it does not exist"
    elif not root.is_dir():
        reason = "it is not a directory"
    else:
        reason = f"{type(exc).__name__}: {exc}"
    print(f"error: cannot read the dataset at {root}: {reason}", file=sys.stderr)
    return EXIT_UNREADABLE


def _cmd_info(args) -> int:
    from lerobot_stream.cli.dataset_info import describe, format_description, to_json
    from lerobot_stream.recovery.integrity import inspect_dataset

    try:
        report = inspect_dataset(args.root, decode_videos=not args.no_decode)
        description = describe(report)
    except Exception as exc:  # a damaged dataset is an expected input here: report it, no traceback
        return _unreadable(Path(args.root), exc)
    print(to_json(description) if args.json else format_description(description, all_episodes=args.episodes))
    return EXIT_OK if report.healthy else EXIT_PROBLEMS


def _cmd_recover(args) -> int:
    from lerobot_stream.recovery.recover import RecoveryRefused, recover_dataset
    from lerobot_stream.storage.writer_lock import DatasetLocked

    try:
        report = recover_dataset(args.root)
    except (RecoveryRefused, DatasetLocked) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_PROBLEMS
    except Exception as exc:
        return _unreadable(Path(args.root), exc)
    print(report.summary())
    return EXIT_OK


def _verbosity_options(parser: argparse.ArgumentParser, top_level: bool) -> None:
    """``-v``/``-q``, accepted before the subcommand and after it (argparse would take them in one place only).
    A subcommand's copy has no default, so it does not undo one given before the subcommand."""
    default = {} if top_level else {"default": argparse.SUPPRESS}
    parser.add_argument("-v", "--verbose", action="store_true", help="log more (INFO level)", **default)
    parser.add_argument("-q", "--quiet", action="store_true", help="log errors only", **default)


def _version() -> str:
    import av

    from lerobot_stream import __version__

    return f"lerobot-stream {__version__} (PyAV {av.__version__}, FFmpeg {av.ffmpeg_version_info})"


class _Version(argparse.Action):
    """``--version``: computed only when asked (it imports PyAV)."""

    def __init__(self, option_strings, dest, **kwargs):
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, **kwargs)

    def __call__(self, parser, namespace, values, option_string=None):
        print(_version())
        parser.exit()


def build_parser() -> argparse.ArgumentParser:
    parser = ArgumentParser(  # its subcommands' parsers are of the same class (argparse's default)
        prog="lerobot-stream",
        description="Record many robot cameras to LeRobot datasets in real time (shared-memory frame bus + "
        "one encoder process per camera).",
    )
    parser.add_argument("--version", action=_Version, help="show the version (and PyAV's, FFmpeg's) and exit")
    _verbosity_options(parser, top_level=True)
    subparsers = parser.add_subparsers(dest="command", required=True)
    _add_record(subparsers)
    info = subparsers.add_parser(
        "info",
        help="show what a dataset holds and check its integrity",
        description="Describe a dataset - episodes, frames, duration, size on disk, tasks, features, each camera's "
        "codec, pixel format, resolution and bitrate, repeated frames and camera health per episode - and check "
        "that video frames match data rows. Exit codes: 0 healthy, 1 problems found, 2 the dataset cannot be read "
        "(missing, not a directory, unreadable info.json, ...).",
    )
    info.add_argument("root", type=Path, help="dataset directory")
    info.add_argument("--no-decode", action="store_true", help="skip decoding videos to count frames (faster)")
    info.add_argument("--json", action="store_true", help="print the description as JSON (for scripts)")
    info.add_argument(
        "--episodes",
        action="store_true",
        help="list every episode (by default a dataset of more than 20 lists those with repeated frames or health "
        "flags)",
    )
    recover = subparsers.add_parser(
        "recover",
        help="make a dataset left by a killed recorder consistent",
        description="Keep every saved episode, remove what belongs to the unsaved one "
        "(staging files, extra rows and frames), fix the totals, and report. Only what is proved to be an "
        "unsaved episode's remains is ever removed. Exit codes: 0 consistent (now), 1 damage recovery cannot "
        "prove safe to repair (nothing was changed), 2 the dataset cannot be read.",
    )
    recover.add_argument("root", type=Path, help="dataset directory")
    for subparser in (subparsers.choices["record"], info, recover):
        _verbosity_options(subparser, top_level=False)
    subparsers.add_parser("bench", help="run the benchmark harness (see `lerobot-stream bench --help`)", add_help=False)
    return parser


#: Where subcommands that live outside the product (the benchmark harness) are found: entry points of this group
#: (``pyproject.toml``), so the product imports nothing of them.
COMMANDS_GROUP = "lerobot_stream.commands"


def _plugged_command(name: str, parser: argparse.ArgumentParser):
    from importlib.metadata import entry_points

    found = [entry for entry in entry_points(group=COMMANDS_GROUP) if entry.name == name]
    if not found:
        parser.error(f"the '{name}' command is not installed here (pip install lerobot-stream provides it)")
    return found[0].load()


#: Exit status after Ctrl-C, as a shell reports a process stopped by SIGINT; after a closed output pipe, SIGPIPE.
EXIT_INTERRUPTED, EXIT_BROKEN_PIPE = 130, 141


def main(argv: list[str] | None = None) -> int:
    """The ``lerobot-stream`` command. No traceback reaches the user for Ctrl-C or a closed pipe (``... | head``)."""
    try:
        return _main(argv)
    except KeyboardInterrupt:
        with contextlib.suppress(OSError):
            print("\ninterrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # Whoever read the output has stopped (``| head``): nothing more to say, and Python must not fail again
        # flushing stdout at exit.
        with contextlib.suppress(OSError):
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
        return EXIT_BROKEN_PIPE


def _main(argv: list[str] | None) -> int:
    # This is our own program: keep SVT-AV1's banner out of the terminal for encoders it runs in-process
    # (the --png path, the bench's thread design). The library itself never changes the environment.
    os.environ.setdefault("SVT_LOG", "0")
    parser = build_parser()
    args, rest = parser.parse_known_args(argv)
    if args.command == "bench":  # its own parser; -v/-q may come after "bench" too
        verbosity = [arg for arg in rest if arg in ("-v", "--verbose", "-q", "--quiet")]
        rest = [arg for arg in rest if arg not in verbosity]
        args.verbose = args.verbose or bool({"-v", "--verbose"} & set(verbosity))
        args.quiet = args.quiet or bool({"-q", "--quiet"} & set(verbosity))
    if args.verbose and args.quiet:
        parser.error("-v/--verbose and -q/--quiet contradict each other: give one")
    level = logging.INFO if args.verbose else logging.ERROR if args.quiet else logging.WARNING
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    if args.command == "bench":
        return _plugged_command("bench", parser)(rest)
    if rest:
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    return {"record": _cmd_record, "info": _cmd_info, "recover": _cmd_recover}[args.command](args)
