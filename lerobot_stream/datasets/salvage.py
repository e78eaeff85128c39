"""Turn the episode a killed recorder was recording into a saved episode.

What a streaming recorder leaves in ``.staging/`` when it is killed mid-episode: the journal of the
episode's rows (`lerobot_stream.datasets.journal`, complete up to its last flush, about a second ago) and one
fragmented MP4 per camera (playable up to its last complete fragment). The episode is salvaged as the
first ``n`` timesteps, ``n`` being the most that the journal *and* every camera hold, so rows and frames
match exactly: each camera's MP4 is cut to ``n`` frames, its statistics are computed from those frames,
and the episode is committed through the dataset writer like any other.

Not salvaged (the leftovers are removed, as before): datasets with image features (their frames are staged
PNGs) or depth streams (their statistics need the raw depth, which only the recorder had), and episodes of
which nothing complete reached the disk.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import av
import numpy as np

from lerobot_stream.configs.video import is_depth_map
from lerobot_stream.datasets.dataset_metadata import LeRobotDatasetMetadata
from lerobot_stream.datasets.dataset_writer import DatasetWriter
from lerobot_stream.datasets.journal import JOURNAL_PATTERN, TASK_COLUMN, journal_settings, read_journal
from lerobot_stream.datasets.utils import DEFAULT_FEATURES, STAGING_DIR
from lerobot_stream.datasets.video_utils import trim_video_file
from workers.encode import EpisodeResult
from workers.episode_pipeline import wait_for_encoders
from workers.media_paths import ffmpeg_path
from workers.stats import ImageStatsAccumulator

logger = logging.getLogger(__name__)


def _staged_video(staging: Path, key: str) -> Path | None:
    """The camera's episode MP4 in the staging folder (the streaming encoder's naming), if exactly one."""
    found = list(staging.glob(f"*/{key.replace('/', '_')}_streaming.mp4"))
    return found[0] if len(found) == 1 else None


def _decodable_stats(path: Path, limit: int) -> tuple[int, ImageStatsAccumulator]:
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


def salvage_episode(root: Path, info: dict, episode_index: int) -> str | None:
    """Commit episode ``episode_index`` from the journal and the staged MP4s, or return None if it cannot
    be (see the module docstring). Returns what was done, for the recovery report. The caller holds no
    writer lock: the dataset writer used here takes it."""
    staging = root / STAGING_DIR
    journal_path = staging / JOURNAL_PATTERN.format(episode_index=episode_index)
    features = info["features"]
    video_keys = [k for k, f in features.items() if f.get("dtype") == "video"]
    if not journal_path.exists() or not video_keys:
        return None
    if any(f.get("dtype") == "image" or is_depth_map(f) for f in features.values()):
        return None
    still_encoding = wait_for_encoders(staging)  # a dead recorder's encoders finish the frames they held
    if still_encoding:
        logger.warning(
            "encoder processes of the dead recorder are stuck on %s; salvaging what is there", still_encoding
        )
    contents = read_journal(journal_path)
    staged = {key: _staged_video(staging, key) for key in video_keys}
    if contents is None or contents.rows.num_rows == 0 or None in staged.values():
        return None
    journal = contents.rows
    counts, stats = {}, {}
    for key, path in staged.items():
        counts[key], stats[key] = _decodable_stats(path, journal.num_rows)
    frames = min(journal.num_rows, *counts.values())
    if frames == 0:
        return None
    fps = int(info["fps"])
    videos = {}
    for key, path in staged.items():
        trim_video_file(path, frames / fps)  # cut to the common frames; a truncated fragment goes too
        if counts[key] != frames:
            stats[key] = _decodable_stats(path, frames)[1]
        videos[key] = EpisodeResult(path, frames, 0, stats[key].statistics())
    rows = journal.slice(0, frames).to_pydict()
    buffer: dict = {"size": frames, "episode_index": episode_index, TASK_COLUMN: rows[TASK_COLUMN]}
    buffer["frame_index"], buffer["timestamp"] = rows["frame_index"], rows["timestamp"]
    for key, feature in features.items():
        if key in DEFAULT_FEATURES or feature.get("dtype") == "video":
            continue
        values = rows[key]
        buffer[key] = (
            values if feature["dtype"] == "string" else [np.asarray(v, dtype=feature["dtype"]) for v in values]
        )
    meta = LeRobotDatasetMetadata(info.get("repo_id") or root.name, root)
    writer = DatasetWriter(meta, root, initial_frames=meta.total_frames)
    try:
        writer.commit_encoded_episode(buffer, videos, journal_settings(journal) or None)
    finally:
        writer.finalize()
    for path in staged.values():  # committed: these are the episode's files no more
        shutil.rmtree(path.parent, ignore_errors=True)
    journal_path.unlink(missing_ok=True)
    lost = journal.num_rows - frames
    return (
        f"salvaged the episode being recorded when the recorder died as episode {episode_index}: {frames} "
        f"frame(s) that the row journal and every camera hold"
        + (f" ({lost} journaled row(s) beyond the cameras' last complete frame were dropped)" if lost else "")
        + (
            f"; the row journal is damaged at {contents.damage}, so nothing from there on was kept"
            if contents.damage
            else ""
        )
    )
