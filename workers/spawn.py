"""Start an encoder process at its low scheduling priority from its first instruction.

An encoder process spends its first ~0.3 s importing PyAV and numpy. Started at normal priority and
demoted only once its own code runs, that start-up competes with the recording loop on equal terms and
makes the first ticks of the first episode late. On Linux the process is therefore started from a
short-lived thread that has first put *itself* at the worker's policy (``SCHED_IDLE`` for ``"idle"``,
``SCHED_BATCH`` for ``"batch"``): a scheduling policy is inherited through fork and exec, so the child runs
below the recorder from before its interpreter starts.

Why not ``posix_spawn(..., scheduler=...)``: glibc accepts only ``SCHED_OTHER``/``FIFO``/``RR`` there
(EINVAL for ``SCHED_IDLE``). Why a separate thread: an unprivileged thread that has gone ``SCHED_IDLE``
may not come back to ``SCHED_OTHER`` (RLIMIT_NICE), so the recorder's own threads must never do it.
Elsewhere (macOS) the process demotes itself as soon as it runs (`workers.scheduling`).
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import threading

from workers.scheduling import PRIORITIES

logger = logging.getLogger(__name__)


def _inheritable_policy(priority: str) -> int | None:
    if not sys.platform.startswith("linux") or not hasattr(os, "sched_setscheduler"):
        return None
    if priority == "idle":
        return getattr(os, "SCHED_IDLE", None)
    if priority == "batch":
        return getattr(os, "SCHED_BATCH", None)
    return None


def spawn(command: list[str], fds: list[int], env: dict[str, str], priority: str) -> subprocess.Popen:
    """Start ``command`` in a new session with stdin on /dev/null, passing ``fds``, at ``priority``."""
    if priority not in PRIORITIES:
        raise ValueError(f"priority must be one of {PRIORITIES}, got {priority!r}")

    def start() -> subprocess.Popen:
        return subprocess.Popen(command, pass_fds=fds, start_new_session=True, env=env, stdin=subprocess.DEVNULL)

    policy = _inheritable_policy(priority)
    if policy is None:
        return start()
    outcome: list[subprocess.Popen | BaseException] = []

    def start_demoted() -> None:
        try:
            os.sched_setscheduler(0, policy, os.sched_param(0))  # 0: this thread only, on Linux
        except OSError as exc:  # the child then demotes itself once it runs
            logger.debug("could not lower the spawning thread's priority: %s", exc)
        try:
            outcome.append(start())
        except BaseException as exc:  # re-raised in the caller's thread
            outcome.append(exc)

    spawner = threading.Thread(target=start_demoted, name="lerobot_stream-spawn", daemon=True)
    spawner.start()
    spawner.join()
    if isinstance(outcome[0], BaseException):
        raise outcome[0]
    return outcome[0]
