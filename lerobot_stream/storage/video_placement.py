"""Where each episode's video goes in the dataset: appended to the camera's current MP4 or a new one.

Follows LeRobot v3.0: one growing MP4 per camera (``videos/<key>/chunk-XXX/file-YYY.mp4``); an episode
is appended by stream copy (no re-encoding) unless that would reach ``video_files_size_in_mb``, in which
case it starts the next file. Each episode records where it starts and ends inside its file
(``from_timestamp`` / ``to_timestamp``, seconds); a resumed dataset starts new files.

Placement is two-phase so that a failure (disk full, a killed recorder) never damages a saved episode:
`prepare` writes the new version of every affected file next to it, `commit` renames them into place.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

from lerobot_stream.errors import VideoFrameMismatch
from lerobot_stream.storage.layout import DEFAULT_VIDEO_PATH, file_is_full, replace_durably, update_chunk_file_indices
from lerobot_stream.storage.metadata import LeRobotDatasetMetadata
from lerobot_stream.storage.video_files import join_video_files


@dataclass
class VideoFileCursor:
    """The end of one camera's current MP4."""

    chunk_index: int
    file_index: int
    #: Seconds of video already in the file (exact: a sum of frames / fps).
    end: Fraction


@dataclass
class PreparedVideo:
    """One camera's episode, written to a temporary file, waiting for `commit`."""

    camera: str
    temp_path: Path
    target: Path
    cursor: VideoFileCursor
    metadata: dict[str, float | int]


class VideoPlacer:
    """Tracks each camera's current file and appends episodes to it."""

    def __init__(self, meta: LeRobotDatasetMetadata, resume_after: dict[str, tuple[int, int]] | None = None):
        self.meta = meta  # chunk and file-size settings are read at each episode: they may change
        self.root = meta.root
        self.fps = meta.fps
        self._cursors: dict[str, VideoFileCursor] = {}
        #: For a resumed dataset: the last (chunk, file) already used by each camera.
        self._resume_after = resume_after or {}

    def path(self, camera: str, chunk_index: int, file_index: int) -> Path:
        return self.root / DEFAULT_VIDEO_PATH.format(video_key=camera, chunk_index=chunk_index, file_index=file_index)

    def _new_file_cursor(self, camera: str, current: VideoFileCursor | None) -> VideoFileCursor:
        if current is not None:
            previous = (current.chunk_index, current.file_index)
        elif camera in self._resume_after:
            previous = self._resume_after[camera]
        else:
            return VideoFileCursor(0, 0, Fraction(0))
        return VideoFileCursor(*update_chunk_file_indices(*previous, self.meta.chunks_size), Fraction(0))

    def prepare(self, camera: str, episode_video: Path, frames: int) -> PreparedVideo:
        """Write the camera's file with this episode appended (or a new file) to a temporary path."""
        current = self._cursors.get(camera)
        if current is None:
            cursor, sources = self._new_file_cursor(camera, None), [episode_video]
        else:
            current_path = self.path(camera, current.chunk_index, current.file_index)
            adding = episode_video.stat().st_size
            if file_is_full(current_path.stat().st_size, adding, self.meta.video_files_size_in_mb):
                cursor, sources = self._new_file_cursor(camera, current), [episode_video]
            else:
                cursor, sources = current, [current_path, episode_video]
        target = self.path(camera, cursor.chunk_index, cursor.file_index)
        temp_path = target.with_name(f".{target.stem}.pending.mp4")
        copied = join_video_files(sources, temp_path)
        # What each part must hold: the file its saved episodes' frames, the episode one frame per row. A codec
        # or a write that lost frames without an error must not make a dataset whose rows outnumber its frames.
        expected = [round(cursor.end * self.fps)] * (len(sources) - 1) + [frames]
        if copied != expected:
            temp_path.unlink(missing_ok=True)
            names = [f"{source.relative_to(self.root)} (saved episodes)" for source in sources[:-1]]
            names.append("the episode's video")
            wrong = [
                f"{name} holds {n} frame(s), not {want}"
                for name, n, want in zip(names, copied, expected, strict=True)
                if n != want
            ]
            raise VideoFrameMismatch(f"camera {camera}: {'; '.join(wrong)}. The episode is not saved.")
        start = cursor.end
        end = start + Fraction(frames, self.fps)
        metadata = {
            f"videos/{camera}/chunk_index": cursor.chunk_index,
            f"videos/{camera}/file_index": cursor.file_index,
            f"videos/{camera}/from_timestamp": float(start),
            f"videos/{camera}/to_timestamp": float(end),
        }
        return PreparedVideo(
            camera, temp_path, target, VideoFileCursor(cursor.chunk_index, cursor.file_index, end), metadata
        )

    def current_path(self, camera: str) -> Path | None:
        """The camera's MP4 the next episode would be appended to (None before its first episode here)."""
        cursor = self._cursors.get(camera)
        return None if cursor is None else self.path(camera, cursor.chunk_index, cursor.file_index)

    def cursors(self) -> dict[str, VideoFileCursor]:
        """Where every camera's file ends now (cursors are replaced, never changed: a shallow copy suffices)."""
        return dict(self._cursors)

    def restore_cursors(self, cursors: dict[str, VideoFileCursor]) -> None:
        """Back to `cursors` (a save that failed is rolled back, its files and this position with it)."""
        self._cursors = dict(cursors)

    def commit(self, prepared: PreparedVideo) -> None:
        replace_durably(prepared.temp_path, prepared.target)
        self._cursors[prepared.camera] = prepared.cursor

    @staticmethod
    def discard(prepared: PreparedVideo) -> None:
        with contextlib.suppress(FileNotFoundError):
            prepared.temp_path.unlink()
