"""The errors of a camera's encoder, raised once where they are known and carried up unchanged.

`CameraEncoderError` names the camera, the encoder process (``pid``; None for an in-process thread) and the
cause; it is a ``RuntimeError``, which is what LeRobot's callers catch. The facade collects them per camera
in `lerobot_stream.datasets.streaming_encoder.EncodingFailed` (``errors``), and a dataset writer chains
that into ``EpisodeSaveError`` (``raise ... from``), so the first cause is always one ``__cause__`` away.
"""

from __future__ import annotations


class CameraEncoderError(RuntimeError):
    """One camera's episode could not be encoded; ``str()`` is a sentence naming the camera and the cause."""

    def __init__(self, camera: str, cause: str, pid: int | None = None):
        super().__init__(cause)
        self.camera = camera
        self.cause = cause
        self.pid = pid


class WorkerDied(CameraEncoderError):
    """The camera's encoder process is gone (killed, crashed, or never started)."""
