"""Keep encoder processes below the recorder's scheduling priority.

When the process runs as root, SVT-AV1 gives its threads real-time ``SCHED_FIFO`` priority (the thread that
opens it too: ``tests/test_codecs.py`` checks that the paths running it in the caller's process undo that), and
real-time threads pre-empt the recording loop whenever they run. Policy is per *thread* on Linux, and the codec
creates its threads when the encoder opens, so `demote_all_threads` must run again after every (re)open, not
only at process start.

Policies, from lowest to highest priority:

* ``"idle"`` (default): Linux ``SCHED_IDLE`` - the encoders only get CPU the recorder does not want.
  Encoding keeps up as long as the recorder leaves the CPU idle most of the time, which is the design.
* ``"batch"``: ``SCHED_BATCH`` with nice 19, for machines where other normal-priority work must not
  starve the encoders completely.
* ``"normal"``: leave the scheduler alone (still lowers real-time threads to ``SCHED_OTHER``).

Where these policies do not exist (macOS), the process is niced to 19 instead.

The processes also start at their policy (`workers.spawn`) and, when they run as root, give up the
capability to raise priorities (`drop_realtime_privilege`): SVT-AV1 then cannot make its threads
``SCHED_FIFO`` at all, instead of being demoted after its first frame (observed: those first-frame FIFO threads
made the recorder's first ticks 3-11 ms late; the bench's ``first30`` column shows the first ticks of every run).
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import sys
from pathlib import Path

logger = logging.getLogger(__name__)

PRIORITIES = ("idle", "batch", "normal")
_NICE_LOWEST = 19
_REALTIME_POLICIES = {getattr(os, "SCHED_FIFO", -1), getattr(os, "SCHED_RR", -1)}


_CAP_SYS_NICE = 23  # linux/capability.h
_CAPABILITY_VERSION_3 = 0x20080522


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32), ("inheritable", ctypes.c_uint32)]


def drop_realtime_privilege() -> bool:
    """Give up ``CAP_SYS_NICE`` for good (effective and permitted); True if this process had it.

    For an encoder process: it never needs to raise a priority, and without the capability a codec cannot
    create real-time threads (``pthread_create`` with ``SCHED_FIFO`` attributes then falls back to the
    inherited policy). Linux only; elsewhere, or without the capability, nothing to do.
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        header, data = _CapHeader(_CAPABILITY_VERSION_3, 0), (_CapData * 2)()
        if libc.capget(ctypes.byref(header), data) != 0:
            return False
        bit = 1 << _CAP_SYS_NICE
        if not (data[0].effective | data[0].permitted) & bit:
            return False
        data[0].effective &= ~bit
        data[0].permitted &= ~bit
        if libc.capset(ctypes.byref(header), data) != 0:
            logger.debug("could not drop CAP_SYS_NICE: %s", os.strerror(ctypes.get_errno()))
            return False
    except (OSError, AttributeError) as exc:  # no capget in this libc
        logger.debug("could not drop CAP_SYS_NICE: %s", exc)
        return False
    return True


@contextlib.contextmanager
def calling_thread_policy_kept():
    """Run the block, then put the calling thread back at the scheduling policy it had.

    SVT-AV1 opened by root makes the thread that opens it ``SCHED_FIFO`` for good. In an encoder process that
    is demoted anyway; anywhere else - LeRobot's in-process encoding (``encode_video_frames``, the thread
    design) in the user's recorder - the user's thread would silently stay real-time.
    """
    if not hasattr(os, "sched_getscheduler"):
        yield
        return
    policy, param = os.sched_getscheduler(0), os.sched_getparam(0)
    try:
        yield
    finally:
        with contextlib.suppress(OSError):
            if os.sched_getscheduler(0) != policy:
                os.sched_setscheduler(0, policy, param)


def policy_for(priority: str) -> int | None:
    """The Linux scheduling policy of a priority name (None where the platform has no such policy)."""
    if priority == "idle":
        return getattr(os, "SCHED_IDLE", None)
    if priority == "batch":
        return getattr(os, "SCHED_BATCH", None)
    return getattr(os, "SCHED_OTHER", None)


def _thread_ids() -> list[int]:
    task_dir = Path("/proc/self/task")
    if not task_dir.is_dir():
        return [0]  # no per-thread view: 0 means "the calling thread/process"
    return [int(entry.name) for entry in task_dir.iterdir() if entry.name.isdigit()]


def demote_all_threads(priority: str = "idle") -> int:
    """Put every thread of this process at ``priority``; return how many threads were changed.

    Cheap enough to call after each encoder open (one syscall per thread).
    """
    if priority not in PRIORITIES:
        raise ValueError(f"worker priority must be one of {PRIORITIES}, got {priority!r}")
    policy = policy_for(priority)
    if policy is None or not hasattr(os, "sched_setscheduler"):
        _nice_process(priority)
        return 0
    changed = 0
    for tid in _thread_ids():
        try:
            current = os.sched_getscheduler(tid)
            if priority == "normal" and current not in _REALTIME_POLICIES:
                continue
            if current == policy:
                continue
            os.sched_setscheduler(tid, policy, os.sched_param(0))
            if priority == "batch":  # on Linux nice is per thread, too
                os.setpriority(os.PRIO_PROCESS, tid, _NICE_LOWEST)
            changed += 1
        except OSError as exc:  # the thread exited meanwhile, or we may not change it
            logger.debug("could not change scheduling of thread %d: %s", tid, exc)
    return changed


def _nice_process(priority: str) -> None:
    """Fallback without per-thread policies: nice the whole process (macOS applies it to all threads)."""
    if priority == "normal" or not hasattr(os, "setpriority"):
        return
    try:
        os.setpriority(os.PRIO_PROCESS, 0, _NICE_LOWEST)
    except OSError as exc:  # pragma: no cover
        logger.debug("could not renice encoder process: %s", exc)
