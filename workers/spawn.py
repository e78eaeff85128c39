"""Start an encoder process at its low scheduling priority from its first instruction.

An encoder process spends its first ~0.3 s importing PyAV and numpy. Started at normal priority and
demoted only once its own code runs, that start-up competes with the recording loop on equal terms and
makes the first ticks of the first episode late. On Linux the process is therefore started from a
short-lived thread (`BackgroundSpawn`) that has first put *itself* at the worker's policy (``SCHED_IDLE``
for ``"idle"``, ``SCHED_BATCH`` for ``"batch"``): a scheduling policy is inherited through fork and exec,
so the child runs below the recorder from before its interpreter starts.

Why not ``posix_spawn(..., scheduler=...)``: glibc accepts only ``SCHED_OTHER``/``FIFO``/``RR`` there
(EINVAL for ``SCHED_IDLE``). Why a separate thread: an unprivileged thread that has gone ``SCHED_IDLE``
may not come back to ``SCHED_OTHER`` (RLIMIT_NICE), so the recorder's own threads must never do it.
Elsewhere (macOS) the process demotes itself as soon as it runs (`workers.scheduling`).
"""

from __future__ import annotations

import contextlib
import functools
import importlib.util
import logging
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from workers.scheduling import PRIORITIES, policy_for

logger = logging.getLogger(__name__)

#: The directory that holds the ``shm`` and ``workers`` packages, for the workers' import path.
_PACKAGE_ROOT = str(Path(__file__).resolve().parent.parent)
#: The third-party packages an encoder process imports.
_DEPENDENCIES = ("numpy", "av")
#: How an encoder process starts. ``-I`` (isolated) keeps the caller's working directory, script directory,
#: PYTHONPATH and user site-packages off the import path - a ``workers/`` or ``shm/`` package of the
#: user's (or one planted in a shared directory such as /tmp) must neither shadow ours nor run. The import
#: path is then given explicitly (`_import_path`): the library's own directory first, then wherever the
#: recorder found numpy and PyAV.
_BOOT = (
    "import os, sys; sys.path[0:0] = sys.argv[1].split(os.pathsep); "
    "from workers.process_main import main; sys.exit(main(sys.argv[2:]))"
)


@functools.lru_cache(maxsize=1)
def _import_path() -> str:
    """The encoder process's import path: this library's directory, then the directories the recorder's numpy
    and PyAV come from. Those may be anywhere the isolated child would not look - a ROS 2/colcon workspace on
    PYTHONPATH, ``pip install --user`` or ``--target``, an editable install - and the child must load the very
    same builds as the recorder. Only the directories that hold those packages are added, after ours, so a
    ``workers``/``shm`` elsewhere on the recorder's path still cannot shadow the library's."""
    entries = [_PACKAGE_ROOT]
    for name in _DEPENDENCIES:
        spec = importlib.util.find_spec(name)
        locations = list(spec.submodule_search_locations or []) if spec is not None else []
        for location in locations[:1]:
            directory = str(Path(location).resolve().parent)
            if directory not in entries:
                entries.append(directory)
    return os.pathsep.join(entries)


def encoder_process_command(child_fds: list[int]) -> list[str]:
    """The command line of an encoder process that inherits ``child_fds`` (`workers.process_main.main`)."""
    return [sys.executable, "-I", "-c", _BOOT, _import_path(), *map(str, child_fds)]


def describe_exit(returncode: int | None) -> str:
    """How a process ended, from its return code, in words for an error message."""
    if returncode is None:
        return "it stopped answering"
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = f"signal {-returncode}"
        return f"it was killed by {name}"
    return f"it exited with code {returncode}"


#: The child leads a process group of its own, so a terminal's Ctrl-C (sent to the foreground group) reaches only
#: the recorder, which then finishes or cancels the episode itself. It stays in the recorder's *session*: Linux's
#: autogroup (``kernel.sched_autogroup_enabled``, on by default on desktop distributions and many VMs) schedules
#: each session as one group against the others, so an encoder in a session of its own got as much CPU as the
#: whole recorder whatever its ``SCHED_IDLE``, and ran in the recorder's place (observed on a 2-vCPU VM with
#: autogroup on: loop lateness p99 8-10 ms at 4 cameras, where the bench's floor is ~1 ms; not kept as a results
#: file - the bench's ``late ms`` column against its ``floor`` shows the effect of any change here).
_OWN_PROCESS_GROUP: dict[str, Any] = {"process_group": 0} if sys.version_info >= (3, 11) else {"preexec_fn": os.setpgrp}


def _inheritable_policy(priority: str) -> int | None:
    """The policy the spawning thread takes for the child to inherit (None: leave it alone)."""
    if priority == "normal" or not sys.platform.startswith("linux") or not hasattr(os, "sched_setscheduler"):
        return None
    return policy_for(priority)


class BackgroundSpawn:
    """Starts ``command`` in a process group of its own (stdin on /dev/null, ``fds`` passed, at ``priority``) from a
    thread of its own, and returns at once: the caller - a recording loop, possibly - never waits for a fork and exec
    running at idle priority behind busy encoders (the caller waits about 1 ms at most, the process exists ~30-40 ms
    later: `benchmarks.microbench` ``spawn``, benchmarks/results/2026-12-06-xeon-2vcpu-microbench-pyav18.txt).

    ``close_after`` (descriptors, or objects with ``close()`` that own one of ``fds``) are closed in this process
    as soon as the child has its copies - a pipe's end left open here would hide the child's exit from its peer.
    `done` says whether the attempt is over; `result` waits for it and returns the process or raises what
    prevented it. ``on_started`` is called with the process, in the spawning thread, once it exists.
    """

    def __init__(
        self,
        command: list[str],
        fds: list[int],
        env: dict[str, str],
        priority: str,
        close_after: list[Any],
        on_started: Callable[[subprocess.Popen], None] | None = None,
    ):
        if priority not in PRIORITIES:
            raise ValueError(f"priority must be one of {PRIORITIES}, got {priority!r}")
        self.process: subprocess.Popen | None = None
        self.error: BaseException | None = None
        self._on_started = on_started
        self._thread = threading.Thread(
            target=self._run, args=(command, fds, env, priority, close_after), name="lerobot_stream-spawn", daemon=True
        )
        self._thread.start()

    def _run(
        self, command: list[str], fds: list[int], env: dict[str, str], priority: str, close_after: list[Any]
    ) -> None:
        policy = _inheritable_policy(priority)
        try:
            if policy is not None:
                try:
                    os.sched_setscheduler(0, policy, os.sched_param(0))  # 0: this thread only, on Linux
                except OSError as exc:  # the child then demotes itself once it runs
                    logger.debug("could not lower the spawning thread's priority: %s", exc)
            self.process = subprocess.Popen(
                command, pass_fds=fds, env=env, stdin=subprocess.DEVNULL, **_OWN_PROCESS_GROUP
            )
            if self._on_started is not None:
                self._on_started(self.process)
        except BaseException as exc:  # reported through `error` / `result`
            self.error = exc
        finally:
            for item in close_after:
                with contextlib.suppress(OSError):
                    if isinstance(item, int):
                        os.close(item)
                    else:
                        item.close()

    @property
    def done(self) -> bool:
        return not self._thread.is_alive()

    def result(self) -> subprocess.Popen:
        self._thread.join()
        if self.process is None:
            raise self.error if self.error is not None else RuntimeError("the process was not started")
        return self.process
