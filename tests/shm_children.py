"""Functions run in child processes by the frame-bus tests (importable by spawned children)."""

from __future__ import annotations

import numpy as np

from shm import RingConsumer, RingPipes, RingSpec


def checksum_consumer(pipes: RingPipes, spec: RingSpec, expected: int, results) -> None:
    """Receive ``expected`` items, record (seq, checksum) pairs, release each slot."""
    consumer = RingConsumer(pipes)
    consumer.attach(spec)
    seen = []
    for _ in range(expected):
        handoff = consumer.receive(timeout=10)
        if handoff is None:
            break
        view = consumer.view(handoff.slot)
        seen.append((handoff.batch, handoff.seq, int(view.astype(np.int64).sum()), bool(view.flags.writeable)))
        consumer.release(handoff.slot)
    results.put(seen)
    consumer.close()
