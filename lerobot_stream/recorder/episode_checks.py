"""What the writer checks before anything is recorded: that the dataset's codecs encode here (when it is created
or resumed), and - before an episode's first frame is taken - that the episode could be saved at all.

Checked at the first ``add_frame`` of each episode (and the private folders also when the writer is built), so a
user learns of a full disk or a planted link before recording a minute that could not be kept.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from lerobot_stream.configs.video import infer_depth_unit, is_depth_map
from lerobot_stream.recorder.episode_commit import EpisodeCommitter
from lerobot_stream.storage.disk_space import check_episode_disk_space, recording_rate
from lerobot_stream.storage.layout import IMAGES_DIR, STAGING_DIR, check_private_folder
from lerobot_stream.storage.metadata import LeRobotDatasetMetadata
from workers.encoder_availability import check_encoder_usable


def check_private_folders(root: Path) -> None:
    """The staging folders must be real folders of the dataset (`check_private_folder`), checked when the writer
    is built and before each episode, so a link planted meanwhile stops an episode before it starts."""
    for name in (STAGING_DIR, IMAGES_DIR):
        check_private_folder(root / name)


def check_episode_space(
    root: Path, meta: LeRobotDatasetMetadata, committer: EpisodeCommitter, streaming: bool, episode_index: int
) -> None:
    """Refuse an episode that could not be saved whatever its length; warn when the disk is nearly full
    (`lerobot_stream.storage.disk_space`). ``streaming``: the cameras are encoded while recorded."""
    cameras = {}
    for key in meta.camera_keys:
        shape = meta.features[key]["shape"]
        cameras[key] = (int(np.prod(shape[:2])) if len(shape) >= 2 else 0, key in meta.depth_keys)
    rate = recording_rate(cameras, meta.fps, streaming=streaming)
    try:
        rewritten = committer.bytes_rewritten_by_next_save()
    except OSError:  # a pending episode's commit is replacing those files right now
        rewritten = 0
    check_episode_disk_space(root, rewritten, rate, episode_index)


def record_depth_units(meta: LeRobotDatasetMetadata, frame: dict) -> None:
    """Each depth feature's unit, from its first frame's dtype (float: metres, integer: millimetres); kept in
    ``info.json`` (``info.depth_unit``) when the episode is saved, and enforced from then on."""
    for key in meta.depth_keys:
        info = meta.features[key].setdefault("info", {})
        if info.get("depth_unit") is None:
            info["depth_unit"] = infer_depth_unit(np.asarray(frame[key]).dtype)


def check_encoders_usable(features: dict, rgb_encoder: Any, depth_encoder: Any) -> None:
    """Every codec the dataset's video features will use must encode here - checked before anything is written
    (`workers.encoder_availability.check_encoder_usable`: one error naming the codecs that do)."""
    videos = [feature for feature in features.values() if feature.get("dtype") == "video"]
    if any(not is_depth_map(feature) for feature in videos):
        check_encoder_usable(rgb_encoder.vcodec)
    if any(is_depth_map(feature) for feature in videos):
        check_encoder_usable(depth_encoder.vcodec)
