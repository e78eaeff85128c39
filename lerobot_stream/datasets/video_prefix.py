"""The frames every camera of an episode holds, when some cameras' MP4s stop short.

An encoder process killed mid-episode leaves a fragmented MP4 that plays up to its last complete fragment. An
episode is then kept as its first ``n`` timesteps, ``n`` being the most frames that decode in *every* camera's
file (and, for a crashed recorder, that its row journal holds): each file is cut to ``n`` frames and its
statistics are computed from those frames. Used for an episode whose recorder died (`lerobot_stream.datasets.
salvage`) and for a saved episode whose encoder died before it finished (`lerobot_stream.datasets.
dataset_writer`). Colour cameras only: a depth camera's statistics need the raw depth, which only the recorder
had.
"""

from __future__ import annotations

from pathlib import Path

import av

from lerobot_stream.datasets.video_utils import trim_video_file
from workers.encode import EpisodeResult
from workers.media_paths import ffmpeg_path
from workers.stats import ImageStatsAccumulator


def decodable_stats(path: Path, limit: int) -> tuple[int, ImageStatsAccumulator]:
    """How many of the first ``limit`` frames decode (a killed writer leaves a truncated last fragment),
    and their statistics."""
    stats = ImageStatsAccumulator()
    try:
        with av.open(ffmpeg_path(path)) as container:
            for frame in container.decode(video=0):
                if stats.frames >= limit:
                    break
                stats.update(frame.to_ndarray(format="rgb24"))
    except (av.error.FFmpegError, OSError, ValueError):
        pass  # everything before the damage counts
    return stats.frames, stats


def common_prefix(videos: dict[str, Path], limit: int, fps: int) -> dict[str, EpisodeResult]:
    """Cut every camera's MP4 to the frames all of them hold (at most ``limit``) and describe each; empty if
    some camera holds none."""
    counts, stats = {}, {}
    for key, path in videos.items():
        counts[key], stats[key] = decodable_stats(path, limit)
    frames = min(limit, *counts.values())
    if frames == 0:
        return {}
    results = {}
    for key, path in videos.items():
        trim_video_file(path, frames / fps)  # cut to the common frames; a truncated fragment goes too
        if counts[key] != frames:
            stats[key] = decodable_stats(path, frames)[1]
        results[key] = EpisodeResult(path, frames, 0, stats[key].statistics())
    return results


def cut_buffer(buffer: dict, frames: int) -> dict:
    """An episode buffer's first ``frames`` timesteps."""
    cut = {key: value[:frames] if isinstance(value, list) else value for key, value in buffer.items()}
    cut["size"] = frames
    return cut
