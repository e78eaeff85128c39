"""The frames every camera of an episode holds, when some cameras' MP4s stop short.

An encoder process killed mid-episode leaves a fragmented MP4 that plays up to its last complete fragment. An
episode is then kept as its first ``n`` timesteps, ``n`` being the most frames that decode in *every* camera's
file (and, for a crashed recorder, that its row journal holds): each file is cut to ``n`` frames and its
statistics are computed from those frames. Used for an episode whose recorder died (`lerobot_stream.datasets.
salvage`) and for a saved episode whose encoder died before it finished (`lerobot_stream.datasets.
dataset_writer`). Colour cameras only: a depth camera's statistics need the raw depth, which only the recorder
had.

An encoder process that was behind real time may also have left frames it had not encoded in its backlog's spill
file (`workers.backlog`). Those are real recorded frames: `append_spilled_frames` encodes them (with the settings
the spill file carries) and appends them to the camera's MP4 by stream copy before the common prefix is taken.
Between the MP4's last frame and the first spilled one lie the frames the process held in memory (its backlog's
memory part and the codec's look-ahead): they died with it, and the video repeats the frame before them - counted
as repeated frames in the episode's metadata, as a frame dropped while recording is.
"""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import logging
import os
from collections.abc import Iterator
from pathlib import Path

import av

from lerobot_stream.recorder.pending_episodes import PendingEpisode
from lerobot_stream.storage.video_files import concatenate_video_files, trim_video_file
from workers.backlog import SpillFile, spill_path_for
from workers.encode import EpisodeEncoder, EpisodeResult
from workers.errors import EncodingFailed
from workers.media_paths import ffmpeg_path
from workers.stats import ImageStatsAccumulator

logger = logging.getLogger(__name__)


def _decodable_frames(path: Path) -> Iterator[av.VideoFrame]:
    """``path``'s frames up to where it is damaged (a killed writer leaves a truncated last fragment)."""
    try:
        with av.open(ffmpeg_path(path)) as container:
            yield from container.decode(video=0)
    except (av.error.FFmpegError, OSError, ValueError):
        return  # everything before the damage counts


def decodable_stats(path: Path, limit: int) -> tuple[int, ImageStatsAccumulator]:
    """How many of the first ``limit`` frames decode, and their statistics."""
    stats = ImageStatsAccumulator()
    for frame in itertools.islice(_decodable_frames(path), limit):
        stats.update(frame.to_ndarray(format="rgb24"))
    return stats.frames, stats


def _last_decodable_frame(path: Path) -> tuple[int, av.VideoFrame | None]:
    """How many frames of ``path`` decode, and the last of them."""
    count, last = 0, None
    for frame in _decodable_frames(path) if path.exists() else ():
        count, last = count + 1, frame
    return count, last


def _os_error_in(exc: BaseException) -> OSError | None:
    """The operating system's error behind ``exc`` (PyAV's errno errors are ``OSError``s too), if any."""
    while exc is not None:
        if isinstance(exc, OSError):
            return exc
        exc = exc.__cause__
    return None


def append_spilled_frames(video: Path, fps: int, every_core: bool = False) -> list[int]:
    """Encode the frames a dead encoder process left in ``video``'s spill file and append them to ``video``
    (created if nothing of it decodes); return the timesteps of the result that are repeats standing in for
    frames that died with the process (none if there was nothing to append). A spill file that cannot be read
    is left alone and logged: the video keeps what it holds. ``OSError`` (a full disk) leaves ``video`` as it
    was. The encoder keeps the thread bound the camera was recorded with unless ``every_core`` (recovery, with no
    control loop to leave room for)."""
    spill_path = spill_path_for(video)
    if not spill_path.exists():
        return []
    try:
        spill = SpillFile.open(spill_path)
    except (OSError, ValueError) as exc:
        logger.warning("the frames in %s cannot be recovered: %s", spill_path, exc)
        return []
    if spill.settings is None:
        logger.warning("the frames in %s cannot be recovered: it does not say how to encode them", spill_path)
        return []
    held, last = _last_decodable_frame(video)
    tail_path = video.with_name(video.stem + ".spilled.mp4")
    settings = dataclasses.replace(spill.settings, threads=None) if every_core else spill.settings
    encoder = EpisodeEncoder(tail_path, settings)
    recovered, missing, next_step = 0, [], held
    try:
        for index, frame in spill.frames(after=held - 1):
            if recovered == 0 and last is not None and index > held:  # the gap repeats the video's last frame
                encoder.encode_prepared(0, last.reformat(format=spill.layout.pix_fmt))
            missing.extend(range(next_step, index))
            encoder.encode_prepared(index - held, frame)
            recovered, next_step = recovered + 1, index + 1
        if recovered == 0:
            encoder.abort()
            return []
        encoder.finish()
        if held:
            trim_video_file(video, held / fps)  # a torn last fragment goes
            concatenate_video_files([video, tail_path], video)
        else:
            os.replace(tail_path, video)
    except (av.error.FFmpegError, ValueError, RuntimeError) as exc:  # RuntimeError: `EncodeError`
        encoder.abort()
        disk_error = _os_error_in(exc)
        if disk_error is not None:  # a full disk: keep the spill file for a retry once there is room
            raise disk_error from exc
        logger.warning("the frames in %s cannot be recovered: %s", spill_path, exc)
        return []
    finally:
        with contextlib.suppress(FileNotFoundError):
            tail_path.unlink()
    logger.info(
        "%s: recovered %d frame(s) its encoder had spilled to disk; %d lost with the process are repeats",
        video.name,
        recovered,
        len(missing),
    )
    return missing


def common_prefix(videos: dict[str, Path], limit: int, fps: int, every_core: bool = False) -> dict[str, EpisodeResult]:
    """Cut every camera's MP4 to the frames all of them hold (at most ``limit``) and describe each; empty if
    some camera holds none. Frames a camera's dead encoder had spilled to disk are appended first
    (`append_spilled_frames`; ``every_core`` for that encoding)."""
    counts, stats, missing = {}, {}, {}
    for key, path in videos.items():
        missing[key] = append_spilled_frames(path, fps, every_core)
        counts[key], stats[key] = decodable_stats(path, limit)
    frames = min(limit, *counts.values())
    if frames == 0:
        return {}
    results = {}
    for key, path in videos.items():
        trim_video_file(path, frames / fps)  # cut to the common frames; a truncated fragment goes too
        if counts[key] != frames:
            stats[key] = decodable_stats(path, frames)[1]
        repeated = sum(1 for step in missing[key] if step < frames)
        results[key] = EpisodeResult(path, frames, repeated, stats[key].statistics())
    return results


def cut_buffer(buffer: dict, frames: int) -> dict:
    """An episode buffer's first ``frames`` timesteps."""
    cut = {key: value[:frames] if isinstance(value, list) else value for key, value in buffer.items()}
    cut["size"] = frames
    return cut


def encoded_prefix(
    pending: PendingEpisode, failure: EncodingFailed, depth_keys: list[str], fps: int
) -> tuple[dict[str, EpisodeResult], dict]:
    """A saved episode whose encoder died before finishing it (its frames were only in that process's memory):
    the timesteps every camera's MP4 holds (`common_prefix`) and the episode buffer cut to them, rather than
    losing the episode; raises ``failure`` if there are none, or a depth camera is involved."""
    videos = {key: result.path for key, result in pending.videos.completed.items()}
    videos.update(pending.videos.failed_paths)
    if any(key in depth_keys or not path.exists() for key, path in videos.items()):
        raise failure
    kept = common_prefix(videos, pending.frames, fps)
    if not kept:
        raise failure
    return kept, cut_buffer(pending.buffer, next(iter(kept.values())).frames)
