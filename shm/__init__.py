"""The frame bus: shared-memory slot rings between one producer and one consumer process.

Knows nothing about video. See `shm.ring` for the handoff protocol and `shm.segment` for the lifecycle
and cleanup guarantees of the shared memory itself.
"""

from shm.errors import ForeignProcessError, LeRobotStreamError, SharedMemorySpaceError
from shm.ownership import check_owner, in_owner
from shm.ring import Handoff, RingConsumer, RingPipes, RingProducer, RingSpec, ring_pipes
from shm.segment import (
    SEGMENT_PREFIX,
    SHM_DIR,
    SharedSegment,
    check_shm_space,
    list_segments,
    shm_free_bytes,
    sweep_stale_segments,
)

__all__ = [
    "SEGMENT_PREFIX",
    "SHM_DIR",
    "ForeignProcessError",
    "Handoff",
    "LeRobotStreamError",
    "RingConsumer",
    "RingPipes",
    "RingProducer",
    "RingSpec",
    "SharedMemorySpaceError",
    "SharedSegment",
    "check_owner",
    "check_shm_space",
    "in_owner",
    "list_segments",
    "ring_pipes",
    "shm_free_bytes",
    "sweep_stale_segments",
]
