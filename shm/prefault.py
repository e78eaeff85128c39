"""Give a new segment its memory before frames are written into it - now, or reserved in the background.

A fresh tmpfs segment is sparse: the first write to each 4 KiB page faults, and the kernel allocates and
zeroes the page right then. For one 640x480 RGB frame (900 KiB) a copy into never-touched memory takes
0.42 ms, into reserved but unmapped memory 0.36 ms, into mapped memory 0.07 ms (`benchmarks.microbench`
``copy_into_ring``; benchmarks/results/2026-12-06-xeon-2vcpu-microbench-pyav18.txt).

* **reserve** (``posix_fallocate``): allocates every page, so a full ``/dev/shm`` is an ``ENOSPC`` error
  here rather than a SIGBUS on some later frame copy;
* **populate** (``madvise(MADV_POPULATE_WRITE)``, Linux 5.14+): maps every page writable into this
  process, so no frame copy faults; it never changes the memory's contents. Where it is missing (older
  kernels, macOS) one byte per page is *read* instead.

A ring allocated ahead of recording (``warm_up``) gets both before it is handed out. One allocated when
recording may already run (at ``start_episode``, which LeRobot calls inside its first ``add_frame``, or on
a camera's first frame) gets neither in the recorder: its *consumer* reserves it (`RingConsumer.attach`
with ``reserve=True``), in the encoder process at idle priority, and the recorder's first pass through the
ring pays the faults (~0.4 ms per frame for one second). Doing either step in a recorder thread was
worse (observed; the bench's ``first30`` column shows the first ticks of every run): populating holds the
process's memory-map lock, so every thread start, large allocation and page fault of the recorder queued
behind it, and reserving 27 MiB per camera at normal priority took the CPU from the loop - 6 cameras turned the
first tick 25-110 ms late either way.
"""

from __future__ import annotations

import ctypes
import errno
import logging
import mmap
import os
import sys

import numpy as np

from shm.errors import SharedMemorySpaceError

logger = logging.getLogger(__name__)

_MADV_POPULATE_WRITE = 23  # linux/mman.h, Linux 5.14+
_PAGE = mmap.PAGESIZE
#: Pages read per numpy call in the fallback, so that other threads get the GIL between calls.
_PAGES_PER_STEP = 256


def reserve(fd: int, size: int, what: str) -> None:
    """Allocate every page of the file behind ``fd`` now; `SharedMemorySpaceError` if tmpfs is full."""
    if not hasattr(os, "posix_fallocate"):
        return  # macOS: no tmpfs reservation; the space check before creating is all there is
    try:
        os.posix_fallocate(fd, 0, size)
    except OSError as exc:
        if exc.errno == errno.ENOSPC:
            raise SharedMemorySpaceError(
                errno.ENOSPC,
                f"{what}: /dev/shm ran out of space allocating {size / 2**20:.1f} MiB "
                "(enlarge it, e.g. `docker run --shm-size=1g`, or lower queue_maxsize)",
            ) from exc
        if exc.errno not in (errno.EINVAL, errno.EOPNOTSUPP):
            raise


def _madvise_populate(mapping: mmap.mmap) -> bool:
    """True when the kernel populated the mapping; False when it cannot (then read the pages instead)."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        madvise = libc.madvise
    except (OSError, AttributeError):
        return False
    madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    anchor = ctypes.c_char.from_buffer(mapping)  # an export of the mapping: it cannot be unmapped meanwhile
    try:
        if madvise(ctypes.addressof(anchor), len(mapping), _MADV_POPULATE_WRITE) == 0:
            return True
    finally:
        del anchor
    code = ctypes.get_errno()
    if code == errno.EINVAL:  # a kernel before 5.14
        return False
    # Anything else (ENOMEM, EFAULT: no memory behind a page) would be a SIGBUS for a reader: say so instead.
    raise OSError(code, f"could not populate shared memory: {os.strerror(code)}")


def populate(mapping: mmap.mmap) -> None:
    """Map every page of ``mapping`` into this process without changing its contents."""
    if _madvise_populate(mapping):
        return
    pages = np.frombuffer(mapping, dtype=np.uint8)[::_PAGE]
    for start in range(0, len(pages), _PAGES_PER_STEP):
        pages[start : start + _PAGES_PER_STEP].max()  # a read per page faults it in
    del pages
