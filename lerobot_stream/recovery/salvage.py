"""Turn the episodes a killed recorder had not committed into saved episodes.

What a streaming recorder leaves in ``.staging/`` when it is killed: for the episode it was recording, and for
each episode it had saved while the encoders were still working on it (`lerobot_stream.datasets.
pending_episodes`), the journal of the episode's rows (`lerobot_stream.recorder.journal`; a saved episode's is
whole, the recorded one's complete up to its last flush, about a second ago) and, in the episode's folder
(``episode-<number>/``), one MP4 per camera - closed properly by an encoder process that outlived the recorder,
or, if the encoders were killed too, fragmented and playable up to its last complete fragment. Episodes are
salvaged in recording order, each as the next episode of the dataset, each as its first ``n`` timesteps, ``n``
being the most that the journal *and* every camera hold, so rows and frames match exactly: each camera's MP4
is cut to ``n`` frames, its statistics are computed from those frames, and the episode is committed through
the dataset writer like any other.

Not salvaged (the leftovers are removed, as before): datasets with image features (their frames are staged
PNGs) or depth streams (their statistics need the raw depth, which only the recorder had), and episodes of
which nothing complete reached the disk.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import numpy as np

from lerobot_stream.configs.video import is_depth_map
from lerobot_stream.recorder.journal import (
    TASK_COLUMN,
    committing_index,
    find_journals,
    journal_number,
    journal_settings,
    read_journal,
)
from lerobot_stream.recorder.streamed_videos import episode_folder_name
from lerobot_stream.recorder.video_prefix import common_prefix
from lerobot_stream.recorder.writer import DatasetWriter
from lerobot_stream.storage.layout import DEFAULT_FEATURES, INFO_PATH, STAGING_DIR, load_json
from lerobot_stream.storage.metadata import LeRobotDatasetMetadata
from workers.encoding_lock import wait_for_encoders

logger = logging.getLogger(__name__)


def _staged_video(folder: Path, key: str) -> Path | None:
    """The camera's episode MP4 in an episode's folder (the streaming encoder's naming), if exactly one."""
    found = list(folder.glob(f"*/{key.replace('/', '_')}_streaming.mp4"))
    return found[0] if len(found) == 1 else None


def salvage_episodes(root: Path, first_index: int) -> list[str]:
    """Salvage every journaled episode in the staging folder, oldest first, as episodes ``first_index``,
    ``first_index + 1``, ...; returns what was done (see `salvage_episode`)."""
    staging = root / STAGING_DIR
    journals = []
    for journal in find_journals(staging):
        index = committing_index(journal)
        if index is not None and index < first_index:  # its commit got through before the recorder died
            journal.unlink()
            shutil.rmtree(staging / episode_folder_name(journal_number(journal)), ignore_errors=True)
        else:
            journals.append(journal)
    if not journals:
        return []
    still_encoding = wait_for_encoders(staging)  # a dead recorder's encoders finish the frames they held
    if still_encoding:
        logger.warning(
            "encoder processes of the dead recorder are stuck on %s; salvaging what is there", still_encoding
        )
    reports = []
    for journal in journals:
        folder = staging / episode_folder_name(journal_number(journal))
        if not folder.is_dir() and len(journals) == 1:
            folder = staging  # a recorder of an earlier version: its episode's folders lay in the staging folder
        report = salvage_episode(root, load_json(root / INFO_PATH), first_index + len(reports), journal, folder)
        if report is not None:
            reports.append(report)
    return reports


def salvage_episode(root: Path, info: dict, episode_index: int, journal_path: Path, folder: Path) -> str | None:
    """Commit the episode journaled in ``journal_path`` whose MP4s are in ``folder`` as episode
    ``episode_index``, or return None if it cannot be (see the module docstring). Returns what was done, for
    the recovery report. The caller holds no writer lock: the dataset writer used here takes it."""
    features = info["features"]
    video_keys = [k for k, f in features.items() if f.get("dtype") == "video"]
    if not journal_path.exists() or not video_keys:
        return None
    if any(f.get("dtype") == "image" or is_depth_map(f) for f in features.values()):
        return None
    contents = read_journal(journal_path)
    staged = {key: _staged_video(folder, key) for key in video_keys}
    if contents is None or contents.rows.num_rows == 0 or None in staged.values():
        return None
    journal = contents.rows
    videos = common_prefix(staged, journal.num_rows, int(info["fps"]), every_core=True)  # no recorder to spare
    if not videos:
        return None
    frames = next(iter(videos.values())).frames
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
    repeated = sum(video.repeated for video in videos.values())
    return (
        f"salvaged an episode the recorder had not committed when it died as episode {episode_index}: {frames} "
        f"frame(s) that the row journal and every camera hold"
        + (f" ({lost} journaled row(s) beyond the cameras' last complete frame were dropped)" if lost else "")
        + (
            f"; {repeated} frame(s) died in the memory of killed encoder processes: their videos repeat the frame "
            "before"
            if repeated
            else ""
        )
        + (
            f"; the row journal is damaged at {contents.damage}, so nothing from there on was kept"
            if contents.damage
            else ""
        )
    )
