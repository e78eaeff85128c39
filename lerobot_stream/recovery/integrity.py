"""What a dataset holds, and whether it is intact (``lerobot-stream info``).

Checks: the totals in info.json match the episodes table and the data rows; global and per-episode
indices and timestamps are continuous; each camera's MP4s hold exactly one decodable frame per data row
of the episodes placed in them, and every episode's ``from/to_timestamp`` span its rows.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from lerobot_stream.storage.layout import DATA_DIR, INFO_PATH, check_path_template, chunk_files, dataset_file, load_json
from lerobot_stream.storage.metadata_files import load_episode_rows
from lerobot_stream.storage.video_files import count_video_frames, count_video_packets


@dataclass
class DatasetReport:
    root: Path
    info: dict
    episodes: list[dict]
    data_rows: int
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    #: Whether every video was decoded and its frames counted (``decode_videos``; ``info --no-decode``: not).
    decoded: bool = True

    @property
    def healthy(self) -> bool:
        return not self.problems

    @property
    def video_keys(self) -> list[str]:
        return [k for k, f in self.info["features"].items() if f["dtype"] == "video"]


def _read_rows(root: Path, paths: list[Path], columns: list[str], problems: list[str]) -> list[dict]:
    """The rows of the data files; an unreadable file is a problem found, not a crash."""
    rows: list[dict] = []
    for path in sorted(paths):
        try:
            rows.extend(pq.read_table(path, columns=columns).to_pylist())
        except Exception as exc:
            problems.append(f"data file {path.relative_to(root)} is unreadable ({exc})")
    return rows


def inspect_dataset(root: str | Path, decode_videos: bool = True) -> DatasetReport:
    """Check a dataset. Raises only when it cannot be read at all (no ``info.json``, or one without
    ``fps``); everything else that is wrong - the same damage `recover` refuses or repairs - is a problem
    in the report."""
    root = Path(root).absolute()  # FFmpeg and pyarrow read a relative "name:" as a protocol
    info = load_json(root / INFO_PATH)
    fps = info["fps"]
    problems: list[str] = []
    for name in ("data_path", "video_path"):
        try:
            check_path_template(name, info.get(name), optional=name == "video_path")
        except ValueError as exc:
            problems.append(str(exc))
            info[name] = None  # not followed
    try:
        episodes = load_episode_rows(root)
    except Exception as exc:
        problems.append(f"the episodes table (meta/episodes) is unreadable ({exc})")
        episodes = []
    columns = ["index", "episode_index", "frame_index", "timestamp"]
    data = _read_rows(root, chunk_files(root / DATA_DIR, ".parquet"), columns, problems)
    report = DatasetReport(root, info, episodes, len(data), decoded=decode_videos)
    report.problems.extend(problems)
    problems = report.problems
    if isinstance(fps, bool) or not isinstance(fps, int) or fps <= 0:
        problems.append(f"info.json: fps must be a positive whole number of frames per second, got {fps!r}")
        fps = max(1, round(float(fps))) if isinstance(fps, (int, float)) and fps > 0 else 1
    for episode in episodes:
        length = episode.get("length")
        if isinstance(length, bool) or not isinstance(length, int) or length <= 0:
            problems.append(f"episode {episode.get('episode_index')}: length {length!r} is not a positive count")
            episode["length"] = 0

    total = sum(e["length"] for e in episodes)
    if info["total_episodes"] != len(episodes):
        problems.append(f"info.json says {info['total_episodes']} episodes, the episodes table has {len(episodes)}")
    if info["total_frames"] != total:
        problems.append(f"info.json says {info['total_frames']} frames, the episodes add up to {total}")
    if len(data) != total:
        problems.append(f"the data files hold {len(data)} rows, the episodes add up to {total}")
    if [e["episode_index"] for e in episodes] != list(range(len(episodes))):
        problems.append("episode indices are not 0..N-1 without gaps")

    data.sort(key=lambda r: r["index"])
    if [r["index"] for r in data] != list(range(len(data))):
        problems.append("the global 'index' column is not continuous")
    expected_from = 0
    for episode in episodes:
        e, length = episode["episode_index"], episode["length"]
        if (episode["dataset_from_index"], episode["dataset_to_index"]) != (expected_from, expected_from + length):
            problems.append(f"episode {e}: dataset_from/to_index do not follow the previous episode")
        rows = data[expected_from : expected_from + length]
        if [r["episode_index"] for r in rows] != [e] * length or [r["frame_index"] for r in rows] != list(
            range(length)
        ):
            problems.append(f"episode {e}: its rows do not carry episode_index {e} and frame_index 0..{length - 1}")
        elif not np.allclose([r["timestamp"] for r in rows], np.arange(length) / fps, atol=1e-4):
            problems.append(f"episode {e}: timestamps are not frame_index / fps")
        expected_from += length

    for key in report.video_keys:
        _check_camera(report, key, fps, decode_videos)
    for leftover in (".staging", "images"):
        if (root / leftover).exists():
            report.notes.append(
                f"{leftover}/ holds staging files of an unsaved episode (lerobot-stream recover cleans it)"
            )
    return report


def _check_camera(report: DatasetReport, key: str, fps: int, decode_videos: bool) -> None:
    if report.info.get("video_path") is None:
        return  # no usable template: already a problem of the report
    files: dict[tuple[int, int], list[dict]] = {}
    for episode in report.episodes:
        location = (episode.get(f"videos/{key}/chunk_index"), episode.get(f"videos/{key}/file_index"))
        if None in location:
            report.problems.append(f"episode {episode['episode_index']}: no video location for {key}")
            return
        files.setdefault(location, []).append(episode)
    for (chunk, file), episodes in sorted(files.items()):
        relative = report.info["video_path"].format(video_key=key, chunk_index=chunk, file_index=file)
        try:
            path = dataset_file(report.root, relative)
        except FileNotFoundError:
            report.problems.append(f"{key}: {relative} is missing")
            continue
        except ValueError as exc:
            report.problems.append(f"{key}: {exc}")
            continue
        end = 0.0
        for episode in episodes:
            start, stop = episode[f"videos/{key}/from_timestamp"], episode[f"videos/{key}/to_timestamp"]
            if not (math.isfinite(start) and math.isfinite(stop)):
                report.problems.append(f"{key}: episode {episode['episode_index']} spans {start}-{stop} s")
                stop = end + episode["length"] / fps
            elif abs(start - end) > 1e-6 or abs((stop - start) - episode["length"] / fps) > 1e-6:
                report.problems.append(
                    f"{key}: episode {episode['episode_index']} spans {start:.4f}-{stop:.4f} s, expected "
                    f"{end:.4f}-{end + episode['length'] / fps:.4f} s"
                )
            end = stop
        if decode_videos:
            try:
                frames = count_video_frames(path)
            except Exception as exc:  # truncated, empty or not a video at all
                report.problems.append(f"{key}: {path.relative_to(report.root)} cannot be decoded ({exc})")
                continue
            rows = sum(e["length"] for e in episodes)
            if frames != rows:
                packets = count_video_packets(path)  # frames never written, or written and not decodable?
                undecodable = f" ({packets} packets: some do not decode)" if packets != frames else ""
                report.problems.append(
                    f"{key}: {path.relative_to(report.root)} has {frames} frames for {rows} data rows{undecodable}"
                )
