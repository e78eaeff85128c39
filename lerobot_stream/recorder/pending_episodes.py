"""Saved episodes whose videos are still being encoded: committed in order by one background thread.

Why: past the machine's real-time capacity the encoder processes hold a backlog (`workers.backlog`) when an
episode ends, and LeRobot's ``save_episode`` would wait for all of it - seconds to minutes in which the robot's
loop is stopped. With streaming encoding ``save_episode`` instead flushes the episode's rows to its journal
(`lerobot_stream.recorder.journal`), ends the cameras' episode without waiting (`workers.finishing`) and hands
both here; the next episode starts at once while the encoders work through what they hold. This thread waits
for each episode's videos, oldest first, and commits it through the usual crash-safe order
(`lerobot_stream.recorder.episode_commit`).

What a user sees meanwhile:

* counts (``num_episodes``, ``num_frames``, the next episode's index) include pending episodes at once: an
  episode is saved when ``save_episode`` returns;
* anything that shows the dataset's contents - ``dataset.meta``, ``dataset.root``, reading, ``finalize`` -
  first waits for pending episodes (`LeRobotDataset`), so it never sees a half-saved dataset;
* an episode whose commit fails (an encoder died, a full disk) is discarded as a failed synchronous save would
  be: the dataset is as before it, later episodes take its place in the numbering, the error is logged at
  once and raised by the next ``save_episode`` or ``finalize`` (as `EpisodeSaveError`);
* a crash (or ``kill -9``) loses none of them: their rows are in their journals and their encoders finish the
  frames they hold, so recovery salvages each, in order (`lerobot_stream.recovery.salvage`).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from workers.channel import CameraStatus
from workers.codecs import EncoderSettings
from workers.finishing import FinishingEpisode

logger = logging.getLogger(__name__)

#: How often `PendingEpisodes.wait` reports what it is waiting for.
REPORT_INTERVAL_S = 2.0


@dataclass
class PendingEpisode:
    """An episode ``save_episode`` accepted: its rows, its cameras' ending, how they are encoded, its journal."""

    buffer: dict
    videos: FinishingEpisode
    settings: dict[str, EncoderSettings]
    journal: Path | None

    @property
    def frames(self) -> int:
        return int(self.buffer["size"])


class PendingEpisodes:
    """A queue of `PendingEpisode`, committed in order by ``commit`` on a thread of its own.

    The thread runs while there is work and is not a daemon: an interpreter that exits without ``finalize``
    still commits what was saved (Python joins such threads before tearing anything down).
    """

    def __init__(self, commit: Callable[[PendingEpisode], None]):
        self._commit = commit
        self._queue: deque[PendingEpisode] = deque()
        self._done = threading.Condition()
        self._thread: threading.Thread | None = None
        #: The last committing thread, once it ran out of work (`wait` joins it).
        self._finished: threading.Thread | None = None
        #: Why pending episodes could not be saved, not yet reported to the caller.
        self._failures: list[str] = []

    def __len__(self) -> int:
        """Episodes saved and not committed yet (including the one being committed)."""
        with self._done:
            return len(self._queue)

    @property
    def frames(self) -> int:
        with self._done:
            return sum(episode.frames for episode in self._queue)

    def submit(self, episode: PendingEpisode) -> None:
        with self._done:
            self._queue.append(episode)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="lerobot_stream-commit")
                self._thread.start()

    def fail(self, message: str) -> None:
        """Record why a pending episode was not saved (logged now, raised by `take_failures`' caller later)."""
        logger.error("%s", message)
        with self._done:
            self._failures.append(message)

    def take_failures(self) -> list[str]:
        with self._done:
            failures, self._failures = self._failures, []
        return failures

    def wait(self, report: Callable[[int, int], None] | None = None) -> None:
        """Until every pending episode is committed (or failed). ``report(episodes, frames)`` is called when it
        starts waiting and about every `REPORT_INTERVAL_S` after. Returns at once when called from the committing
        thread itself."""
        if threading.current_thread() is self._thread:
            return
        last_report = -float("inf")
        with self._done:
            while self._queue:
                if report is not None and time.monotonic() - last_report >= REPORT_INTERVAL_S:
                    last_report = time.monotonic()
                    report(len(self._queue), sum(episode.frames for episode in self._queue))
                self._done.wait(0.2)
            finished, self._finished = self._finished, None
        if finished is not None:
            finished.join()  # it has nothing left to do: gone before this returns

    def _run(self) -> None:
        while True:
            with self._done:
                if not self._queue:
                    self._thread, self._finished = None, threading.current_thread()
                    self._done.notify_all()
                    return
                episode = self._queue[0]
            try:
                self._commit(episode)
            except BaseException as exc:  # the commit function reports its own failures; this is a last resort
                self.fail(f"Episode {episode.buffer.get('episode_index')} could not be saved: {exc!r}")
            with self._done:
                self._queue.popleft()
                self._done.notify_all()


def report_waiting(status: dict[str, CameraStatus], episodes: int, frames: int) -> None:
    """Log what `PendingEpisodes.wait` is waiting for: ``episodes`` saved episodes of ``frames`` frames, and what
    the cameras' encoders (``status``) still have to encode."""
    left = max((camera.backlog_seconds or 0.0 for camera in status.values()), default=0.0)
    frames_left = sum(camera.backlog_frames for camera in status.values())
    logger.info(
        "Waiting for %d saved episode(s) (%d frames) to finish encoding: %d frame(s) left to encode, about %.0f s",
        episodes,
        frames,
        frames_left,
        left,
    )
