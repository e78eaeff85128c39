"""The encoder side's errors, raised once where they are known and carried up unchanged. Each derives from
`shm.errors.LeRobotStreamError` and from the standard exception LeRobot's callers catch for it.

`CameraEncoderError` names the camera, the encoder process (``pid``; None for an in-process thread) and the
cause; it is a ``RuntimeError``, which is what LeRobot's callers catch. The facade collects them per camera in
`EncodingFailed` (``errors``), and a dataset writer chains that into ``EpisodeSaveError`` (``raise ... from``),
so the first cause is always one ``__cause__`` away.
"""

from __future__ import annotations

from pathlib import Path

from shm.errors import LeRobotStreamError


class EncodeError(LeRobotStreamError, RuntimeError):
    """The codec or the muxer failed; the message says which and why."""


class EncoderUnavailable(LeRobotStreamError, ValueError):
    """The codec asked for cannot encode on this machine (unknown, not in this FFmpeg build, or a hardware
    encoder without its hardware); the message names the ones that can."""


class CameraEncoderError(LeRobotStreamError, RuntimeError):
    """One camera's episode could not be encoded; ``str()`` is a sentence naming the camera and the cause."""

    def __init__(self, camera: str, cause: str, pid: int | None = None):
        super().__init__(cause)
        self.camera = camera
        self.cause = cause
        self.pid = pid


class WorkerDied(CameraEncoderError):
    """The camera's encoder process is gone (killed, crashed, or never started)."""


class EncodingFailed(LeRobotStreamError, RuntimeError):
    """An episode could not be completed on every camera (``StreamingVideoEncoder.finish_episode``).

    ``errors`` maps each failed camera to its `CameraEncoderError` (camera, pid, cause), ``failures`` to the
    cause as text; ``results`` holds the cameras that did finish (their files are still on disk, the caller
    owns them).
    """

    def __init__(self, errors: dict[str, CameraEncoderError], results: dict[str, tuple[Path, dict | None]]):
        self.errors = errors
        self.failures = {camera: str(error) for camera, error in errors.items()}
        self.results = results
        failures = self.failures
        detail = "; ".join(f"{camera}: {cause}" for camera, cause in failures.items())
        super().__init__(f"Video encoding failed for {len(failures)} camera(s): {detail}")
