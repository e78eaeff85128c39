"""A ring of fixed-size slots in shared memory, handed between one producer and one consumer process.

The producer (the recorder) copies an item into a free slot and *publishes* it; the consumer reads the
slot as a numpy view and *releases* it. Ownership of a slot moves with small messages over two one-way
pipes - ``ready`` (producer -> consumer) and ``freed`` (consumer -> producer):

* **Memory ordering.** A slot's bytes are written before the ``ready`` message is written to the pipe,
  and read after that message is read; they are read before the ``freed`` message is written and
  overwritten only after it is read. Pipe writes and reads are system calls that the kernel orders with
  full barriers, so this is correct on weakly ordered CPUs (aarch64) without any atomics of our own.
* **No busy waiting.** The consumer blocks in the kernel on the ``ready`` pipe; the producer never waits:
  `RingProducer.try_acquire` returns None when every slot is in flight, and the caller decides what to
  drop.
* **Bounded pipes.** At most ``capacity`` messages are ever outstanding in each pipe, far below a pipe's
  buffer, so a write never blocks even if the other side is stuck or dead.

Each message carries the slot, a *batch* number and a *sequence* number chosen by the producer; the ring
does not interpret them (the encoder uses them for the episode and the frame index).
"""

from __future__ import annotations

import struct
from collections import deque
from dataclasses import dataclass
from multiprocessing import Pipe
from multiprocessing.connection import Connection

import numpy as np

from shm.readiness import ReadinessProbe
from shm.segment import SharedSegment

_READY = struct.Struct("<IQQ")  # slot, batch, seq
_FREED = struct.Struct("<I")  # slot


@dataclass(frozen=True)
class RingSpec:
    """Everything a consumer needs to attach to a ring's memory (picklable)."""

    segment_name: str
    capacity: int
    slot_shape: tuple[int, ...]
    dtype: str = "uint8"


@dataclass(frozen=True)
class Handoff:
    """One published slot as the consumer receives it."""

    slot: int
    batch: int
    seq: int


@dataclass
class RingPipes:
    """The pipe ends of one producer/consumer pair; create with `ring_pipes`."""

    ready: Connection
    freed: Connection


def ring_pipes() -> tuple[RingPipes, RingPipes]:
    """Return (producer ends, consumer ends). Pass the consumer ends to the consumer process."""
    ready_in, ready_out = Pipe(duplex=False)
    freed_in, freed_out = Pipe(duplex=False)
    return RingPipes(ready=ready_out, freed=freed_in), RingPipes(ready=ready_in, freed=freed_out)


#: Bytes past the last slot. Readers with vector loads may read a little past the end of the data they were
#: given - FFmpeg asks for 64 bytes of padding after input buffers (``AV_INPUT_BUFFER_PADDING_SIZE``), and swscale
#: converting the ring's last slot in place read past the end of the mapping: the encoder process died of SIGSEGV
#: whenever the page after it was unmapped (PyAV 15, once the process had a second thread and its memory map had
#: moved). One page keeps every such read inside the segment.
READ_PADDING = 4096


def _slot_views(segment: SharedSegment, spec: RingSpec) -> list[np.ndarray]:
    flat = np.frombuffer(segment.buffer, dtype=spec.dtype, count=spec.capacity * int(np.prod(spec.slot_shape)))
    return list(flat.reshape((spec.capacity, *spec.slot_shape)))


class RingProducer:
    """The owning side: allocates the segment, hands out free slots, publishes filled ones.

    The memory can be re-allocated (`allocate`) when the item shape changes, but only while no slot is in
    flight - the caller guarantees that by waiting for the consumer to finish or cancel its batch.
    """

    def __init__(self, pipes: RingPipes, label: str = "ring"):
        self._pipes = pipes
        self._freed_ready = ReadinessProbe(pipes.freed)
        self.label = label
        self.spec: RingSpec | None = None
        self._segment: SharedSegment | None = None
        self._slots: list[np.ndarray] = []
        self._free: deque[int] = deque()
        #: True once the consumer's end of the ``freed`` pipe is closed.
        self.consumer_lost = False

    @staticmethod
    def nbytes(capacity: int, slot_shape: tuple[int, ...], dtype: str = "uint8") -> int:
        return capacity * int(np.prod(slot_shape)) * np.dtype(dtype).itemsize + READ_PADDING

    def allocate(
        self, capacity: int, slot_shape: tuple[int, ...], dtype: str = "uint8", prefault: bool = True
    ) -> RingSpec:
        """(Re)create the shared memory for ``capacity`` items of ``slot_shape``; all slots start free.

        ``prefault=False``: return in microseconds, for a ring allocated inside the recording loop; the
        consumer should then reserve the memory (`RingConsumer.attach`, see `shm.prefault`).
        """
        if capacity < 1:
            raise ValueError(f"{self.label}: ring capacity must be at least 1, got {capacity}")
        self._drain_freed()
        if self.in_flight:
            raise RuntimeError(f"{self.label}: cannot re-allocate with {self.in_flight} slot(s) in flight")
        self._release_memory()
        nbytes = self.nbytes(capacity, slot_shape, dtype)
        what = f"{self.label} ({capacity} x {slot_shape} {dtype})"
        segment = SharedSegment.create(nbytes, what=what, prefault=prefault)
        spec = RingSpec(segment.name, capacity, tuple(int(d) for d in slot_shape), dtype)
        self._segment, self.spec = segment, spec
        self._slots = _slot_views(segment, spec)
        self._free = deque(range(capacity))
        return spec

    @property
    def capacity(self) -> int:
        return self.spec.capacity if self.spec else 0

    @property
    def in_flight(self) -> int:
        """Slots published and not yet known to be released (as of the last drain)."""
        return self.capacity - len(self._free)

    def _drain_freed(self) -> None:
        if self.consumer_lost:
            return
        freed = self._pipes.freed
        try:
            while self._freed_ready():
                (slot,) = _FREED.unpack(freed.recv_bytes())
                self._free.append(slot)
        except (EOFError, OSError):
            # The consumer closed its end (it exited or died): nothing will ever be released again.
            self.consumer_lost = True

    def try_acquire(self) -> int | None:
        """A free slot index, or None if every slot is in flight. Never blocks.

        The slot released last is reused first: the consumer has just read it, so it is likely still in a
        shared cache, and the copy into it is faster than into one last touched a whole ring ago (640x480 and
        1280x720 frames: ``feed_frame`` p90 0.25-0.47 ms against 0.41-0.95 ms cycling through the ring)."""
        self._drain_freed()
        if not self._free:
            return None
        return self._free.pop()

    def fill_level(self) -> int:
        """Slots currently in flight, after collecting releases (for monitoring)."""
        self._drain_freed()
        return self.in_flight

    def slot(self, index: int) -> np.ndarray:
        """Writable view of a slot the caller has acquired."""
        return self._slots[index]

    def publish(self, slot: int, batch: int, seq: int) -> None:
        """Hand a filled slot to the consumer."""
        self._pipes.ready.send_bytes(_READY.pack(slot, batch, seq))

    def give_back(self, slot: int) -> None:
        """Return an acquired slot that will not be published (e.g. the copy into it failed)."""
        self._free.appendleft(slot)

    def _release_memory(self) -> None:
        self._slots = []
        if self._segment is not None:
            self._segment.close()
            self._segment = None
        self.spec = None
        self._free.clear()

    def close(self) -> None:
        """Unlink the memory and close this side's pipes. Idempotent."""
        self._release_memory()
        self.close_pipes()

    def close_pipes(self) -> None:
        """Close this process's copies of the producer's pipe ends, nothing else - for a forked child, whose
        copies would keep the consumer from seeing end-of-file when the producer dies. Idempotent."""
        for conn in (self._pipes.ready, self._pipes.freed):
            conn.close()


class RingConsumer:
    """The attached side: receives published slots, reads them as read-only views, releases them."""

    def __init__(self, pipes: RingPipes):
        self._pipes = pipes
        self.spec: RingSpec | None = None
        self._segment: SharedSegment | None = None
        self._slots: list[np.ndarray] = []

    @property
    def ready_connection(self) -> Connection:
        """The pipe to wait on (e.g. with ``multiprocessing.connection.wait``)."""
        return self._pipes.ready

    def attach(self, spec: RingSpec, reserve: bool = False) -> None:
        """Map the producer's memory described by ``spec`` (a no-op if already attached to it).

        ``reserve``: first allocate all of its memory (`SharedSegment.reserve_segment`) for a producer that
        created it without (`RingProducer.allocate` with ``prefault=False``); raises
        `SharedMemorySpaceError` if ``/dev/shm`` cannot hold it.
        """
        if spec == self.spec:
            return
        self._detach()
        if reserve:
            SharedSegment.reserve_segment(spec.segment_name, f"ring {spec.segment_name}")
        self._segment = SharedSegment.attach(spec.segment_name)
        self._slots = _slot_views(self._segment, spec)
        self.spec = spec

    def receive(self, timeout: float | None = 0.0) -> Handoff | None:
        """The next published slot, or None after ``timeout`` seconds. EOFError if the producer is gone."""
        ready = self._pipes.ready
        if not ready.poll(timeout):
            return None
        return Handoff(*_READY.unpack(ready.recv_bytes()))

    def view(self, slot: int) -> np.ndarray:
        """Read-only view of a received slot; valid until `release`."""
        return self._slots[slot]

    def release(self, slot: int) -> None:
        """Give the slot back to the producer. The caller must not touch its view afterwards."""
        self._pipes.freed.send_bytes(_FREED.pack(slot))

    def _detach(self) -> None:
        self._slots = []
        if self._segment is not None:
            self._segment.close()
            self._segment = None
        self.spec = None

    def close(self) -> None:
        self._detach()
        for conn in (self._pipes.ready, self._pipes.freed):
            conn.close()
