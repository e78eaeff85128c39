"""What became of an episode whose save did not go as planned, in the words the user reads.

A save either commits the whole episode or leaves the dataset exactly as before it; these sentences say which,
why, and what to do - the one exception being a saved episode whose encoder died, which is kept up to the last
timestep every camera holds (`lerobot_stream.recorder.video_prefix`).
"""

from __future__ import annotations

import errno
from pathlib import Path

from lerobot_stream.errors import RollbackFailed
from workers.encode import EpisodeResult
from workers.errors import EncodingFailed


def salvaged_note(
    episode_index: int, failure: EncodingFailed, kept: int, recorded: int, videos: dict[str, EpisodeResult]
) -> str:
    """What became of a saved episode whose encoder died (`lerobot_stream.recorder.video_prefix.encoded_prefix`)."""
    repeated = sum(video.repeated for video in videos.values())
    if kept == recorded:
        note = f"Episode {episode_index} lost its encoder: {failure}. All its {kept} timesteps are in the dataset"
    else:
        note = (
            f"Episode {episode_index} was saved cut short: {failure}. Its first {kept} of {recorded} timesteps, "
            "which every camera's video holds, are in the dataset"
        )
    if repeated:
        note += f"; {repeated} of its frames died in the encoder's memory: the video repeats the frame before"
    return note + "."


def save_failure(root: Path, episode_index: int, episodes_before: int, exc: Exception) -> str:
    """What a failed save left: the dataset as after its ``episodes_before`` episodes (every file the save had
    changed was put back), or - if even that failed - a dataset for ``recover`` to finish."""
    cause = f"{type(exc).__name__}: {exc}"
    if isinstance(exc, RollbackFailed):
        return (
            f"Episode {episode_index} was not saved, and putting back the files the save had changed failed "
            f"({cause}); run `lerobot-stream recover {root}` before reading or recording more."
        )
    hint = ""
    if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
        hint = f" Free space on the disk of {root}; the next episode can then be recorded."
    return (
        f"Episode {episode_index} was not saved and its frames are discarded; the dataset is exactly as after "
        f"its {episodes_before} earlier episode(s).{hint} Cause: {cause}"
    )
