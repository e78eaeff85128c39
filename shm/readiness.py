"""Is there something to read on a pipe? Without blocking, and cheaply enough to ask on every frame.

``multiprocessing.connection.Connection.poll(0)`` builds a new selector on each call: ~20 µs. The recorder
asks twice per camera and frame (encoder events, freed slots); at 3 cameras that was ~15 % of LeRobot's
``add_frame``. A `ReadinessProbe` registers the descriptor once with ``select.poll`` (``select.select``
where ``poll`` does not exist) and answers in ~1-2 µs. End-of-file counts as readable, as with
``Connection.poll``: the next read then raises ``EOFError``.
"""

from __future__ import annotations

import select
from multiprocessing.connection import Connection


class ReadinessProbe:
    def __init__(self, connection: Connection):
        self._fd = connection.fileno()
        self._poll = select.poll() if hasattr(select, "poll") else None
        if self._poll is not None:
            self._poll.register(self._fd, select.POLLIN)

    def __call__(self) -> bool:
        if self._poll is not None:
            return bool(self._poll.poll(0))
        return bool(select.select([self._fd], [], [], 0)[0])
