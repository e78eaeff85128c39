"""The episodes ``save_episode`` accepted: counted the moment they are saved, and - when saves are pipelined -
committed in order by a background thread once their videos are done (`pending_episodes` says what a user sees
meanwhile).

An episode whose encoder died before finishing it is kept up to the last timestep every camera holds
(`video_prefix.encoded_prefix`); one whose commit fails is discarded as a failed synchronous save would be, and
later episodes take its place in the numbering. Either way the counts are corrected and the reason is raised
by the next ``save_episode`` or ``finalize`` (`raise_failures`).
"""

from __future__ import annotations

import shutil
import threading
import weakref
from collections.abc import Callable
from pathlib import Path

from lerobot_stream.errors import EpisodeSaveError
from lerobot_stream.recorder.journal import journal_number, mark_committing
from lerobot_stream.recorder.pending_episodes import PendingEpisode, PendingEpisodes, report_waiting
from lerobot_stream.recorder.save_outcomes import salvaged_note, save_failure
from lerobot_stream.recorder.streamed_videos import episode_folder_name
from lerobot_stream.recorder.video_prefix import encoded_prefix
from lerobot_stream.storage.metadata import LeRobotDatasetMetadata
from workers.channel import CameraStatus
from workers.codecs import EncoderSettings
from workers.encode import EpisodeResult
from workers.errors import EncodingFailed

#: Commits an episode whose videos are encoded: ``(buffer, videos, settings)``.
CommitEncoded = Callable[[dict, dict[str, EpisodeResult], dict[str, EncoderSettings]], None]


class SavedEpisodes:
    """Episodes and frames saved - committed, or pending in the background - and the background commits."""

    def __init__(self, meta: LeRobotDatasetMetadata, root: Path, frames: int, commit: CommitEncoded):
        self._meta = meta
        self._root = root
        self._commit = commit
        self._lock = threading.Lock()
        self.episodes, self.frames = meta.total_episodes, frames
        run = weakref.WeakMethod(self._commit_pending)  # no reference cycle through the committing thread
        self._pending = PendingEpisodes(lambda episode: run()(episode))

    def count(self, frames: int) -> None:
        """One more episode of ``frames`` frames was saved (committed, or submitted)."""
        with self._lock:
            self.episodes += 1
            self.frames += frames

    def submit(self, episode: PendingEpisode) -> None:
        """Commit ``episode`` in the background once its videos are done."""
        self._pending.submit(episode)

    def __len__(self) -> int:
        """Episodes saved whose videos are still being encoded."""
        return len(self._pending)

    def wait(self, status: Callable[[], dict[str, CameraStatus]]) -> None:
        """Until every saved episode is in the dataset's files, logging what the encoders (``status``) still hold."""
        self._pending.wait(lambda episodes, frames: report_waiting(status(), episodes, frames))

    def raise_failures(self, note: str = "") -> None:
        """Raise `EpisodeSaveError` for the saved episodes that could not be committed (or only in part) since the
        last time this was raised."""
        failures = self._pending.take_failures()
        if failures:
            raise EpisodeSaveError(" ".join(failures) + note)

    def _commit_pending(self, pending: PendingEpisode) -> None:
        """The committing thread's work: wait for the episode's videos, then commit it as the next episode of the
        dataset - its index is the number of episodes committed before it, so an earlier episode that failed
        leaves no gap."""
        episode_index = self._meta.total_episodes
        journal = pending.journal
        try:
            cut_short: EncodingFailed | None = None
            try:
                videos, buffer = pending.videos.results(), pending.buffer
            except EncodingFailed as failure:
                videos, buffer = encoded_prefix(pending, failure, self._meta.depth_keys, self._meta.fps)
                cut_short = failure
            buffer["episode_index"] = episode_index
            journal = mark_committing(journal, episode_index)
            self._commit(buffer, videos, pending.settings)
            if cut_short is not None:
                with self._lock:
                    self.frames -= pending.frames - buffer["size"]
                self._pending.fail(salvaged_note(episode_index, cut_short, buffer["size"], pending.frames, videos))
        except Exception as exc:
            with self._lock:
                self.episodes -= 1
                self.frames -= pending.frames
            cause = save_failure(self._root, episode_index, self._meta.total_episodes, exc)
            self._pending.fail(f"{cause} (It was saved while its videos were still being encoded.)")
        finally:
            pending.videos.remove_files()
            if journal is not None:
                journal.unlink(missing_ok=True)
                shutil.rmtree(journal.parent / episode_folder_name(journal_number(journal)), ignore_errors=True)
