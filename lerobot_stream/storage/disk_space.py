"""Is there room on the disk for the episode about to be recorded?

Checked when an episode starts (its first ``add_frame``), as ``/dev/shm`` is checked before recording: a
full disk is the most common way a robot computer loses an episode, and it is cheaper to say so before the
episode than after it. What a save needs is more than the episode: each camera's episode is appended to its
current MP4 by writing a new copy of that file beside it (`lerobot_stream.storage.video_placement`), and the
data parquet and episodes table are rewritten the same way - so a save needs free space for a copy of every
file it extends, plus the episode itself.

The recording rate is an estimate from the project's own measurements (README, "Bitrate"): AV1 at LeRobot's
defaults ~30 MB per camera-minute at 640x480x30 on footage-like content (~0.06 bytes per pixel), lossless
12-bit depth ~450 MB (~0.8 bytes per pixel), and staged PNGs (the PNG path, until ``save_episode`` encodes
them) ~1.5 bytes per pixel.
"""

from __future__ import annotations

import errno
import logging
import shutil
from pathlib import Path

from lerobot_stream.errors import DiskSpaceError

logger = logging.getLogger(__name__)

BYTES_PER_PIXEL_STREAMED_RGB = 0.06
BYTES_PER_PIXEL_STREAMED_DEPTH = 0.8
BYTES_PER_PIXEL_STAGED_PNG = 1.5
#: Warn when the disk holds less than this much recording (seconds) beyond what the save itself needs.
WARN_BELOW_S = 300.0


def recording_rate(pixels_per_frame: dict[str, tuple[int, bool]], fps: float, streaming: bool) -> float:
    """Estimated bytes per second written while recording: ``pixels_per_frame`` maps each camera to
    (pixels, is_depth)."""
    total = 0.0
    for pixels, depth in pixels_per_frame.values():
        if not streaming:
            per_pixel = BYTES_PER_PIXEL_STAGED_PNG
        else:
            per_pixel = BYTES_PER_PIXEL_STREAMED_DEPTH if depth else BYTES_PER_PIXEL_STREAMED_RGB
        total += pixels * per_pixel * fps
    return total


def check_episode_disk_space(root: Path, rewritten_bytes: int, bytes_per_second: float, episode_index: int) -> None:
    """Raise `DiskSpaceError` if saving even an empty episode cannot fit; warn when the free space holds
    less than `WARN_BELOW_S` of recording. ``rewritten_bytes``: what the next save copies (see the module
    docstring)."""
    free = shutil.disk_usage(root).free
    mib = 1024 * 1024
    if free < rewritten_bytes:
        raise DiskSpaceError(
            errno.ENOSPC,
            f"Not enough disk space to record episode {episode_index} in {root}: {free / mib:.1f} MiB free, and "
            f"saving any episode needs {rewritten_bytes / mib:.1f} MiB (a new copy of each file the episode is "
            "appended to). Free disk space, or record to another disk (root=...).",
        )
    if bytes_per_second <= 0:
        return
    seconds = (free - rewritten_bytes) / bytes_per_second
    if seconds < WARN_BELOW_S:
        logger.warning(
            "Low disk space for %s: %.1f MiB free holds about %.0f s of recording at ~%.1f MiB/s (saving also "
            "needs %.1f MiB for copies of the files it appends to); an episode longer than that will fail to save. "
            "Free disk space now.",
            root,
            free / mib,
            seconds,
            bytes_per_second / mib,
            rewritten_bytes / mib,
        )
