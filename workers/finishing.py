"""An episode the recorder has ended while its cameras may still be encoding it.

`FinishingEpisode` is what ending an episode returns (`StreamingVideoEncoder.end_episode`): every camera has
been told the episode is over, and the next episode may start at once - an encoder process that is behind
encodes what this episode still holds first (`workers.episode_pipeline`). Its videos are collected with
`results`, which waits for them, whenever the caller needs them: at once (LeRobot's ``finish_episode``), or
later, as the dataset writer does to keep ``save_episode`` from waiting (`lerobot_stream.datasets.
pending_episodes`).
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from workers.channel import CameraChannel, FinishTicket, remove_episode_folder
from workers.encode import EpisodeResult
from workers.errors import CameraEncoderError, EncodingFailed

logger = logging.getLogger(__name__)


class FinishingEpisode:
    """One ended episode's cameras, each with its `FinishTicket`; collected once, from any one thread."""

    def __init__(
        self,
        number: int,
        cameras: list[tuple[CameraChannel, FinishTicket]],
        dropped: dict[str, int],
        timeout: float,
        label: str,
    ):
        self.number = number
        self._cameras = cameras
        #: Frames each camera dropped (its ring was full), as the recorder counted them.
        self.dropped = dropped
        self._timeout = timeout
        self._label = label
        self._lock = threading.Lock()
        self._results: dict[str, EpisodeResult] | None = None
        self._failure: EncodingFailed | None = None
        #: After a failure: the cameras that finished, and the MP4 (possibly partial) of each that did not.
        self.completed: dict[str, EpisodeResult] = {}
        self.failed_paths: dict[str, Path] = {}

    @property
    def cameras(self) -> list[str]:
        return [ticket.camera for _, ticket in self._cameras]

    @property
    def collected(self) -> bool:
        return self._results is not None or self._failure is not None

    def results(self) -> dict[str, EpisodeResult]:
        """Every camera's finished MP4 (path, frame and repeat counts, statistics), waiting for encoders that
        are still working through a backlog for as long as they make progress. Raises `EncodingFailed` if a
        camera failed; every file stays until `remove_files` (`completed` and `failed_paths` name them)."""
        with self._lock:
            if self._results is None and self._failure is None:
                self._collect()
            if self._failure is not None:
                raise self._failure
            return self._results

    def _collect(self) -> None:
        results: dict[str, EpisodeResult] = {}
        errors: dict[str, CameraEncoderError] = {}
        for channel, ticket in self._cameras:
            try:
                results[ticket.camera] = channel.collect(ticket, self._timeout)
            except CameraEncoderError as exc:
                errors[ticket.camera] = exc
        self._log_summary(results, errors)
        if errors:
            self.completed = results
            self.failed_paths = {ticket.camera: ticket.path for _, ticket in self._cameras if ticket.camera in errors}
            self._failure = EncodingFailed(errors, {key: (r.path, r.stats) for key, r in results.items()})
        else:
            self._results = results

    def remove_files(self, failed_only: bool = False) -> None:
        """Delete the episode's temporary MP4s (and their folders) - those of the failed cameras only, with
        ``failed_only``: once they are in the dataset, or to drop the episode. Waits for the cameras first, so
        that no encoder still writes there."""
        try:
            self.results()
        except EncodingFailed:
            pass
        finally:
            for _, ticket in self._cameras:
                if not failed_only or ticket.camera in self.failed_paths:
                    remove_episode_folder(ticket.path)

    def _log_summary(self, results: dict[str, EpisodeResult], errors: dict[str, CameraEncoderError]) -> None:
        parts = [f"{key}: {r.frames} frames, {r.repeated} repeated" for key, r in results.items()]
        parts += [f"{key}: FAILED" for key in errors]
        # Repeated frames were warned about when they began and are summed up when the episode is saved
        # (`episode_commit`): here they are detail.
        level = logging.WARNING if errors else logging.INFO
        logger.log(level, "Recording %d finished (%s): %s", self.number, self._label, "; ".join(parts))
