"""The frames an encoder process has taken from its ring but not encoded yet: in memory, then on disk.

Why: past the machine's real-time capacity an encoder falls behind. Without a backlog its ring (one second of
frames) fills and the recorder drops frames, which the MP4 then repeats - while a session's resets between
episodes would have given the encoder all the time it needed. With one, the process keeps draining its ring as
fast as frames arrive (statistics, health checks and the conversion to the codec's pixel format happen then),
and queues the converted frames for its encoder: in memory up to `BacklogBudget.memory_bytes`, then appended
to a spill file beside the episode's MP4 (sequential writes, sequential reads), as long as the disk keeps
`BacklogBudget.disk_reserve_bytes` free. Only when both are exhausted does the process stop draining its ring,
and the recorder's last resort - a dropped frame, repeated in the video and counted - takes over.

Order is first in, first out: once a frame has gone to disk, every later frame follows it there until the spill
file has been read back, so frames reach the encoder in recording order. A converted frame is a few planes of
fixed size (``yuv420p``: 1.5 bytes a pixel, half an RGB frame; 12-bit depth: 2), so a spilled record is the
frame's index (8 bytes) and its planes' bytes.

The spill file describes itself: it starts with a header (`SPILL_MAGIC`, then the frame layout and the
camera's encoder settings as JSON), because if the encoder process is killed with frames on disk, recovery
(`lerobot_stream.recorder.video_prefix`) encodes them from this file alone (`SpillFile`). Frames the process held
in *memory* die with it: at most ``memory_bytes`` of them, i.e. ``memory_bytes / (frame bytes x fps)`` seconds
of video per camera (plus the codec's look-ahead) - a smaller memory budget bounds that loss.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import struct
import threading
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import av

from workers.codecs import EncoderSettings

_INDEX = struct.Struct("<q")
SPILL_MAGIC = b"LRSSPIL1"
_HEADER_LENGTH = struct.Struct("<I")
#: How often the free disk space is read again - every so many spilled frames, and at least this often (s)
#: while the backlog waits for room: ``statvfs`` is cheap, not free.
_DISK_CHECK_EVERY = 8
_DISK_CHECK_S = 0.25


@dataclass(frozen=True)
class BacklogBudget:
    """How much one camera's encoder process may hold back: ``memory_bytes`` of converted frames in memory,
    then frames on disk as long as the disk keeps ``disk_reserve_bytes`` free (0 memory and a reserve larger than
    the disk: no backlog, the ring is all there is)."""

    memory_bytes: int = 0
    disk_reserve_bytes: int = 2**62


#: The ring is all there is (the default of a `StartEpisode`).
NO_BACKLOG = BacklogBudget()

#: Defaults of `backlog_budget`: a quarter of the memory available when the episode starts, shared by its
#: cameras; spilling stops while the disk has less than 5 % of its size (at least 1 GiB) free - room left for
#: the episode's own videos and everything else on the robot.
DEFAULT_MEMORY_FRACTION = 0.25
DEFAULT_DISK_RESERVE_FRACTION = 0.05
MIN_DISK_RESERVE_BYTES = 2**30


def backlog_budget(cameras: int, folder: Path, memory_mb: float | None, disk_reserve_mb: float | None) -> BacklogBudget:
    """Each of ``cameras`` encoders' budget for an episode whose files go in ``folder``: ``memory_mb`` (MB, all
    cameras together; None: `DEFAULT_MEMORY_FRACTION` of the available memory) and ``disk_reserve_mb`` (MB the
    disk must keep free; None: the default above; ``inf``: never spill)."""
    import psutil

    if memory_mb is None:
        memory = DEFAULT_MEMORY_FRACTION * psutil.virtual_memory().available
    else:
        memory = float(memory_mb) * 1e6
    if disk_reserve_mb is None:
        reserve = max(MIN_DISK_RESERVE_BYTES, DEFAULT_DISK_RESERVE_FRACTION * shutil.disk_usage(folder).total)
    else:
        reserve = min(float(disk_reserve_mb) * 1e6, 2.0**62)
    return BacklogBudget(int(memory // max(1, cameras)), int(reserve))


def spill_path_for(video: str | Path) -> Path:
    """Where the backlog of the episode encoded into ``video`` spills."""
    return Path(video).with_suffix(".backlog")


@dataclass(frozen=True)
class FrameLayout:
    """The shape of every converted frame of one episode: its records on disk are all the same size."""

    width: int
    height: int
    pix_fmt: str
    plane_sizes: tuple[int, ...]

    @classmethod
    def of(cls, frame: av.VideoFrame) -> FrameLayout:
        return cls(frame.width, frame.height, frame.format.name, tuple(p.buffer_size for p in frame.planes))

    @property
    def record_size(self) -> int:
        return _INDEX.size + sum(self.plane_sizes)


class MemoryAccount:
    """The bytes of converted frames one encoder process holds in memory, over all its episodes' backlogs: a
    saved episode may still be encoding while the next one queues behind it, and both draw on one budget."""

    def __init__(self) -> None:
        self._lock = threading.Lock()  # the main thread adds, the encoding thread takes away
        self.used = 0

    def add(self, size: int) -> None:
        with self._lock:
            self.used += size


def frame_bytes(frame: av.VideoFrame) -> int:
    return sum(plane.buffer_size for plane in frame.planes)


class FrameBacklog:
    """A FIFO of (index, converted frame), in memory then spilled to ``spill_path`` (created on first use).
    ``account``: the process's memory in use, shared with its other episodes' backlogs (default: its own)."""

    def __init__(
        self,
        budget: BacklogBudget,
        spill_path: Path,
        account: MemoryAccount | None = None,
        settings: EncoderSettings | None = None,
    ):
        self.budget = budget
        self.spill_path = Path(spill_path)
        #: Written into the spill file's header, for recovery to encode its frames with.
        self._settings = settings
        self._account = account if account is not None else MemoryAccount()
        self._memory: deque[tuple[int, av.VideoFrame]] = deque()
        self.memory_bytes = 0
        #: Frames on disk not read back yet, and where the next one starts.
        self.spilled = 0
        self._spill: BinaryIO | None = None  # opened on the first spilled frame, kept open for the episode
        self._data_start = self._read_at = self._write_at = 0  # set past the header once the file exists
        self._layout: FrameLayout | None = None
        self._spills_since_check = _DISK_CHECK_EVERY
        self._disk_ok = False
        self._checked_at = -float("inf")

    def __len__(self) -> int:
        return len(self._memory) + self.spilled

    @property
    def disk_bytes(self) -> int:
        return self._write_at - self._read_at

    def has_room(self, next_frame_bytes: int) -> bool:
        """Whether a frame of ``next_frame_bytes`` could be queued now (in memory, else on disk)."""
        if not self.spilled and self._account.used + next_frame_bytes <= self.budget.memory_bytes:
            return True
        return self._disk_has_room(next_frame_bytes)

    def _disk_has_room(self, size: int) -> bool:
        now = time.monotonic()
        if self._spills_since_check >= _DISK_CHECK_EVERY or now - self._checked_at > _DISK_CHECK_S:
            self._spills_since_check, self._checked_at = 0, now
            try:
                folder = self.spill_path.parent
                st = os.statvfs(folder)
                self._disk_ok = st.f_bavail * st.f_frsize - _DISK_CHECK_EVERY * (size + _INDEX.size) > (
                    self.budget.disk_reserve_bytes
                )
            except OSError:
                self._disk_ok = False
        return self._disk_ok

    def push(self, index: int, frame: av.VideoFrame) -> None:
        """Queue a frame (the caller checked `has_room`). A failed disk write raises ``OSError``."""
        size = frame_bytes(frame)
        fits = self._account.used + size <= self.budget.memory_bytes
        if not self.spilled and (fits or not self._memory):  # one frame is always held: it is encoded next
            self._memory.append((index, frame))
            self.memory_bytes += size
            self._account.add(size)
        else:
            self._write(index, frame)

    def pop(self) -> tuple[int, av.VideoFrame]:
        """The oldest frame (``IndexError`` when empty)."""
        if self._memory:
            index, frame = self._memory.popleft()
            size = frame_bytes(frame)
            self.memory_bytes -= size
            self._account.add(-size)
            return index, frame
        if not self.spilled:
            raise IndexError("the backlog is empty")
        return self._read()

    # -- the spill file ---------------------------------------------------------------------------------------
    def _write(self, index: int, frame: av.VideoFrame) -> None:
        layout = FrameLayout.of(frame)
        if self._layout is None:
            self._layout = layout
        elif layout != self._layout:  # the encode core refuses a size change before this point
            raise ValueError(f"spilled frames must keep one format: {layout} after {self._layout}")
        if self._spill is None:
            self._spill = self._create_spill_file(layout)
        self._spill.seek(self._write_at)
        self._spill.write(_INDEX.pack(index))
        for plane in frame.planes:
            self._spill.write(memoryview(plane))
        self._write_at = self._spill.tell()
        self.spilled += 1
        self._spills_since_check += 1

    def _create_spill_file(self, layout: FrameLayout) -> BinaryIO:
        """The spill file with its whole header, or none at all: a header cut short by a full disk would make
        every record after it unreadable to recovery."""
        spill = open(self.spill_path, "w+b")  # noqa: SIM115 - kept open for the episode
        try:
            spill.write(spill_header(layout, self._settings))
            spill.flush()
        except BaseException:
            with contextlib.suppress(OSError):  # closing flushes again, and fails again
                spill.close()
            with contextlib.suppress(OSError):
                self.spill_path.unlink()
            raise
        self._data_start = self._read_at = self._write_at = spill.tell()
        return spill

    def _read(self) -> tuple[int, av.VideoFrame]:
        self._spill.flush()
        self._spill.seek(self._read_at)
        index, frame = _read_record(self._spill, self._layout)
        self._read_at = self._spill.tell()
        self.spilled -= 1
        if not self.spilled:  # all read back: give the space back, start over (the header stays)
            self._spill.truncate(self._data_start)
            self._read_at = self._write_at = self._data_start
        return index, frame

    def discard(self) -> None:
        """Drop every queued frame and delete the spill file. Idempotent."""
        self._memory.clear()
        self._account.add(-self.memory_bytes)
        self.memory_bytes = 0
        self.spilled = 0
        self._read_at = self._write_at = self._data_start
        if self._spill is not None:
            with contextlib.suppress(OSError):
                self._spill.close()
            self._spill = None
        with contextlib.suppress(FileNotFoundError):
            self.spill_path.unlink()


# -- reading a spill file after its process died ---------------------------------------------------------------
def spill_header(layout: FrameLayout, settings: EncoderSettings | None) -> bytes:
    description = json.dumps(
        {
            "width": layout.width,
            "height": layout.height,
            "pix_fmt": layout.pix_fmt,
            "plane_sizes": list(layout.plane_sizes),
            "settings": settings.to_dict() if settings is not None else None,
        }
    ).encode()
    return SPILL_MAGIC + _HEADER_LENGTH.pack(len(description)) + description


def _check_layout(layout: FrameLayout) -> None:
    """A layout read from disk is one PyAV makes frames of, with the plane sizes it gives them (a damaged header
    must not make recovery allocate absurd frames or misread the records)."""
    if not (0 < layout.width <= 16384 and 0 < layout.height <= 16384):
        raise ValueError(f"frame size {layout.width}x{layout.height}")
    try:
        probe = av.VideoFrame(layout.width, layout.height, layout.pix_fmt)
    except Exception as exc:  # an unknown pixel format: PyAV's error type varies with its version
        raise ValueError(f"pixel format {layout.pix_fmt!r}: {exc}") from None
    if tuple(plane.buffer_size for plane in probe.planes) != layout.plane_sizes:
        raise ValueError(f"plane sizes {layout.plane_sizes} for a {layout.width}x{layout.height} {layout.pix_fmt}")


def _read_record(file: BinaryIO, layout: FrameLayout) -> tuple[int, av.VideoFrame]:
    (index,) = _INDEX.unpack(file.read(_INDEX.size))
    frame = av.VideoFrame(layout.width, layout.height, layout.pix_fmt)
    for plane, size in zip(frame.planes, layout.plane_sizes, strict=True):
        plane.update(file.read(size))
    return index, frame


@dataclass(frozen=True)
class SpillFile:
    """The spill file an encoder process left behind: the frames it had not read back when it died."""

    path: Path
    layout: FrameLayout
    #: The camera's encoder settings (None: the writer did not know them).
    settings: EncoderSettings | None
    data_start: int

    @classmethod
    def open(cls, path: Path) -> SpillFile:
        """Read the header; ``ValueError`` if it is not a spill file or its header is damaged."""
        with open(path, "rb") as file:
            head = file.read(len(SPILL_MAGIC) + _HEADER_LENGTH.size)
            if not head.startswith(SPILL_MAGIC) or len(head) < len(SPILL_MAGIC) + _HEADER_LENGTH.size:
                raise ValueError(f"{path} is not a backlog spill file (its first bytes are {head[:8]!r})")
            (length,) = _HEADER_LENGTH.unpack(head[len(SPILL_MAGIC) :])
            try:
                described = json.loads(file.read(length))
                layout = FrameLayout(
                    int(described["width"]),
                    int(described["height"]),
                    str(described["pix_fmt"]),
                    tuple(int(size) for size in described["plane_sizes"]),
                )
                settings = described["settings"]
                settings = EncoderSettings.from_dict(settings) if settings is not None else None
                _check_layout(layout)
            except (ValueError, KeyError, TypeError) as exc:
                raise ValueError(f"the header of spill file {path} is damaged: {exc}") from None
        return cls(Path(path), layout, settings, len(head) + length)

    def frames(self, after: int = -1) -> Iterator[tuple[int, av.VideoFrame]]:
        """The complete records, oldest first, whose index is above ``after``. Records are written in rising
        index order; a torn last record (the process died writing it) or zeros where the disk lost the tail
        end the file."""
        size = self.path.stat().st_size
        with open(self.path, "rb") as file:
            file.seek(self.data_start)
            previous = -1
            while file.tell() + self.layout.record_size <= size:
                index, frame = _read_record(file, self.layout)
                if index <= previous:
                    return
                previous = index
                if index > after:
                    yield index, frame
