"""The root of every error lerobot_stream raises on purpose, and the frame bus's own.

`LeRobotStreamError` lives here, in the lowest layer, because every package may raise one and a package may
only import the layers below it (`tests/test_layering.py`): ``except LeRobotStreamError`` catches what the
frame bus, the encoders and the dataset writer refuse or report, and nothing else. Each error also derives from
the standard exception LeRobot's callers already catch for it (``ValueError``, ``RuntimeError``, ``OSError``),
so code written for LeRobot keeps working unchanged.
"""

from __future__ import annotations


class LeRobotStreamError(Exception):
    """Base of every error lerobot_stream raises on purpose (each is also a standard exception)."""


class SharedMemorySpaceError(LeRobotStreamError, OSError):
    """``/dev/shm`` cannot hold the frame rings (raised before a frame could be lost to it)."""


class ForeignProcessError(LeRobotStreamError, RuntimeError):
    """A resource was used from a process that did not create it (typically a forked child)."""
