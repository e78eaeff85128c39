"""The product's errors: what the dataset writer, the reader, recovery and the command line refuse or report.

Each derives from `LeRobotStreamError` (the root, `shm.errors`, re-exported here) and from the standard
exception LeRobot's callers catch for it, so ``except ValueError`` written for LeRobot still catches a bad
argument, and ``except LeRobotStreamError`` catches everything lerobot_stream raises on purpose. The encoder
side's errors are in `workers.errors`; each is also importable from the module that raises it.
"""

from __future__ import annotations

from shm.errors import ForeignProcessError, LeRobotStreamError, SharedMemorySpaceError
from workers.errors import CameraEncoderError, EncodeError, EncoderUnavailable, EncodingFailed, WorkerDied

__all__ = [
    "CameraEncoderError",
    "DatasetLocked",
    "DiskSpaceError",
    "EncodeError",
    "EncoderUnavailable",
    "EncodingFailed",
    "EpisodeSaveError",
    "ForeignProcessError",
    "FrameTimestampError",
    "LeRobotStreamError",
    "LockUnavailable",
    "OverwriteRefused",
    "PrivateFolderError",
    "RecoveryRefused",
    "ResumeRefused",
    "RollbackFailed",
    "SharedMemorySpaceError",
    "SourceError",
    "UnsupportedImageError",
    "VideoFrameMismatch",
    "WorkerDied",
]


class EpisodeSaveError(LeRobotStreamError, RuntimeError):
    """``save_episode`` failed (encoder error, disk full, ...): the episode is discarded, the dataset keeps
    every episode saved before it, and the writer is ready for the next episode."""


class FrameTimestampError(LeRobotStreamError, ValueError):
    """No frame of the video lies within the tolerance of the requested timestamp."""


class UnsupportedImageError(LeRobotStreamError, ValueError, NotImplementedError):
    """An array no image file can hold. Both a ``ValueError`` (LeRobot v0.6 raises that) and a
    ``NotImplementedError`` (LeRobot v0.5 raised that for the same arrays)."""


class PrivateFolderError(LeRobotStreamError, OSError):
    """A folder lerobot_stream keeps to itself inside a dataset (``.staging``, ``images``) is a symbolic link."""


class DiskSpaceError(LeRobotStreamError, OSError):
    """The disk cannot even hold the save of an empty episode: recording one would only lose it."""


class DatasetLocked(LeRobotStreamError, RuntimeError):
    """Another live process is writing this dataset."""


class LockUnavailable(LeRobotStreamError, OSError):
    """The lock file cannot be created (a read-only filesystem, no write permission)."""


class RollbackFailed(LeRobotStreamError, OSError):
    """Putting the old files back failed; the dataset needs ``lerobot-stream recover`` (it finishes the job)."""


class OverwriteRefused(LeRobotStreamError, FileExistsError):
    """``--overwrite`` was asked to delete something that is not a finished dataset: nothing was deleted."""


class ResumeRefused(LeRobotStreamError, ValueError):
    """``--resume`` cannot append to what is at ``--root``: nothing was changed."""


class SourceError(LeRobotStreamError, ValueError):
    """``--source`` names nothing that can be decoded; the message names the path and why."""


class RecoveryRefused(LeRobotStreamError, ValueError):
    """The dataset is damaged in a way recovery cannot prove to be an unsaved episode's remains (missing or
    unreadable metadata, files out of place) or does not repair (what ``info`` reports): the message says what
    is wrong, and what recovery did before it found out (usually nothing)."""


class VideoFrameMismatch(LeRobotStreamError, RuntimeError):
    """A video about to be appended to the dataset does not hold the frames its episodes have rows for (a
    codec or a write that lost frames without saying so): the episode is not saved, the dataset is unchanged."""
