"""What ``lerobot-stream info`` says about a dataset: a description for people, the same as JSON for scripts.

The checks themselves are `lerobot_stream.recovery.integrity`'s; this module describes what the dataset holds - the way
``ros2 bag info`` describes a bag: how much (episodes, frames, duration, size on disk), of what (tasks, features,
cameras with codec, pixel format, resolution and bitrate) and how well (repeated frames and camera health per
episode). Long datasets list their episodes only on request (``--episodes``): a summary names the ones with
repeated frames or health flags.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path
from typing import Any

from lerobot_stream.recovery.integrity import DatasetReport
from lerobot_stream.storage.layout import DEFAULT_FEATURES

#: Up to this many episodes, the text lists every one; beyond it, only those with something to report.
LISTED_EPISODES = 20
#: Settings shown per camera, in this order (those without a value are left out).
_SETTINGS = ("g", "crf", "preset")


def plural(count: int, word: str, many: str | None = None) -> str:
    return f"{count} {word if count == 1 else many or word + 's'}"


def size_on_disk(root: Path) -> int:
    """Bytes of every file under ``root``. A linked folder (``videos/`` on another disk) counts; each folder is
    counted once, so a link that loops back cannot make this run forever."""
    total, seen, folders = 0, set(), [Path(root)]
    while folders:
        folder = folders.pop()
        try:
            identity = (folder.stat().st_dev, folder.stat().st_ino)
            if identity in seen:
                continue
            seen.add(identity)
            entries = list(os.scandir(folder))
        except OSError:
            continue
        for entry in entries:
            try:
                if entry.is_dir():
                    folders.append(Path(entry.path))
                elif entry.is_file():
                    total += entry.stat().st_size
            except OSError:
                continue
    return total


def _camera(report: DatasetReport, key: str, duration_s: float) -> dict[str, Any]:
    feature = report.info["features"][key]
    video = feature.get("info") or {}
    files = report.root / "videos" / key
    size = size_on_disk(files) if files.is_dir() else 0
    return {
        "key": key,
        "width": video.get("video.width"),
        "height": video.get("video.height"),
        "codec": video.get("video.codec"),
        "encoder": video.get("video.encoder"),
        "pix_fmt": video.get("video.pix_fmt"),
        "depth": bool(video.get("is_depth_map")),
        "depth_unit": video.get("depth_unit"),
        "settings": {name: video[f"video.{name}"] for name in _SETTINGS if video.get(f"video.{name}") is not None},
        "bytes": size,
        "bitrate_kbps": round(size * 8 / duration_s / 1000, 1) if duration_s else None,
    }


def _episode(episode: dict, fps: int, cameras: list[str]) -> dict[str, Any]:
    health = {}
    for key in cameras:
        flags = episode.get(f"videos/{key}/health") or ""
        if flags:
            health[key] = flags.split(",")
    frames = episode.get("length") or 0  # a damaged row is the report's problem, not a reason to fail here
    return {
        "episode_index": episode.get("episode_index"),
        "frames": frames,
        "duration_s": frames / fps,
        "tasks": list(episode.get("tasks") or []),
        "repeated_frames": {key: int(episode.get(f"videos/{key}/repeated_frames") or 0) for key in cameras},
        "health": health,
    }


def describe(report: DatasetReport) -> dict[str, Any]:
    """Everything ``info`` shows, as plain JSON-able values."""
    info = report.info
    fps = info.get("fps")
    fps = fps if isinstance(fps, int) and not isinstance(fps, bool) and fps > 0 else 1  # a problem of the report
    frames = sum(int(episode.get("length") or 0) for episode in report.episodes)
    duration = frames / fps
    cameras = report.video_keys
    episodes = [_episode(episode, fps, cameras) for episode in report.episodes]
    task_counts = Counter(task for episode in episodes for task in episode["tasks"])
    return {
        "root": str(report.root),
        "codebase_version": info.get("codebase_version"),
        "robot_type": info.get("robot_type"),
        "fps": fps,
        "episodes": len(episodes),
        "frames": frames,
        "duration_s": duration,
        "size_bytes": size_on_disk(report.root),
        "tasks": [{"task": task, "episodes": count} for task, count in task_counts.items()],
        "features": [
            {"name": name, "dtype": feature.get("dtype"), "shape": list(feature.get("shape") or ())}
            for name, feature in info["features"].items()
            if name not in DEFAULT_FEATURES
        ],
        "cameras": [_camera(report, key, duration) for key in cameras],
        "episode_list": episodes,
        "integrity": {
            "healthy": report.healthy,
            "videos_decoded": report.decoded,
            "problems": list(report.problems),
            "notes": list(report.notes),
        },
    }


def to_json(description: dict[str, Any]) -> str:
    return json.dumps(description, indent=2)


def _megabytes(size: int) -> str:
    return f"{size / 1e6:.1f} MB" if size < 1e9 else f"{size / 1e9:.2f} GB"


def _bitrate(kbps: float | None) -> str:
    if kbps is None:
        return "-"
    return f"{kbps:.0f} kbit/s" if kbps < 1000 else f"{kbps / 1000:.1f} Mbit/s"


def _short(key: str) -> str:
    return key.rsplit(".", 1)[-1]


def _episode_line(episode: dict[str, Any]) -> str:
    repeated = {key: n for key, n in episode["repeated_frames"].items() if n}
    repeated_text = ", ".join(f"{_short(key)} {n}" for key, n in repeated.items()) or "0"
    health = "; ".join(f"{_short(key)} {', '.join(flags)}" for key, flags in episode["health"].items()) or "ok"
    tasks = " | ".join(episode["tasks"])
    return (
        f"  {episode['episode_index']!s:>7}  {episode['frames']:>6}  {episode['duration_s']:>7.1f} s  "
        f"{repeated_text:<14}  {health:<14}  {tasks}"
    )


def format_description(description: dict[str, Any], all_episodes: bool = False) -> str:
    """The text of ``lerobot-stream info``."""
    d = description
    lines = [
        f"Dataset    {d['root']}",
        f"           LeRobot {d['codebase_version']}, robot {d['robot_type']}, {d['fps']} fps",
        f"Episodes   {plural(d['episodes'], 'episode')}, {plural(d['frames'], 'frame')}, {d['duration_s']:.1f} s",
        f"Size       {_megabytes(d['size_bytes'])} on disk",
    ]
    tasks = [f'"{t["task"]}" ({plural(t["episodes"], "episode")})' for t in d["tasks"]]
    lines.append(f"Tasks      {len(tasks)}: " + ", ".join(tasks) if tasks else "Tasks      none")
    width = max((len(f["name"]) for f in d["features"]), default=0)
    for i, feature in enumerate(d["features"]):
        label = "Features   " if i == 0 else "           "
        lines.append(f"{label}{feature['name']:<{width}}  {feature['dtype']:<7} {tuple(feature['shape'])}")
    width = max((len(c["key"]) for c in d["cameras"]), default=0)
    for i, camera in enumerate(d["cameras"]):
        label = "Cameras    " if i == 0 else "           "
        settings = " ".join(f"{name}={value}" for name, value in camera["settings"].items())
        depth = f", depth in {camera['depth_unit'] or 'its unit'}" if camera["depth"] else ""
        lines.append(
            f"{label}{camera['key']:<{width}}  {camera['width']}x{camera['height']}  {camera['codec']} "
            f"{camera['pix_fmt']}{depth}  ({camera['encoder']} {settings})  {_bitrate(camera['bitrate_kbps'])}"
        )
    episodes = d["episode_list"]
    flagged = [e for e in episodes if e["health"] or any(e["repeated_frames"].values())]
    listed = episodes if all_episodes or len(episodes) <= LISTED_EPISODES else flagged
    if listed:
        lines.append("  episode  frames  duration  repeated        health          task")
        lines += [_episode_line(episode) for episode in listed]
    if listed is flagged and len(episodes) > LISTED_EPISODES:
        lines.append(
            f"  ({plural(len(flagged), 'episode')} with repeated frames or health flags listed, of "
            f"{len(episodes)}; --episodes lists all)"
        )
    integrity = d["integrity"]
    lines += [f"  note: {note}" for note in integrity["notes"]]
    lines.append(integrity_line(integrity["healthy"], integrity["videos_decoded"], len(integrity["problems"])))
    lines += [f"  - {problem}" for problem in integrity["problems"]]
    return "\n".join(lines)


def integrity_line(healthy: bool, videos_decoded: bool, problems: int) -> str:
    """The verdict line of ``info`` (and of ``record``, after the recording)."""
    if healthy and videos_decoded:
        return "Integrity: OK (video frames match data rows, timestamps consistent)"
    if healthy:
        return "Integrity: OK as far as checked (metadata, data rows, timestamps; videos not decoded)"
    return f"Integrity: {plural(problems, 'problem')}"
