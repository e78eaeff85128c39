"""Which process owns a resource - so a forked child never tears down, or writes into, its parent's.

``os.fork()`` copies every object: a child that exits normally then runs the parent's ``atexit`` hooks and
finalizers, and a child that keeps using a copied recorder talks to the parent's encoder processes through
inherited pipes. Objects that own processes, pipes or shared memory remember the PID that created them;
in any other process their teardown does nothing and their methods raise `ForeignProcessError`.
"""

from __future__ import annotations

import os

from shm.errors import ForeignProcessError


def in_owner(owner_pid: int) -> bool:
    """True in the process that created the resource."""
    return os.getpid() == owner_pid


def check_owner(owner_pid: int, what: str) -> None:
    """Raise `ForeignProcessError` unless called in the process that created ``what``."""
    if os.getpid() != owner_pid:
        raise ForeignProcessError(
            f"This {what} belongs to process {owner_pid}, not to this one ({os.getpid()}, a forked child?): "
            f"create a new {what} in this process."
        )
