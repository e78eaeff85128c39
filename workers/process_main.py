"""Runs in the encoder process: its entry point, ``main([CMD, EVENTS, READY, FREED])`` (see `workers.process_handle`).

The four arguments are inherited pipe file descriptors (see `workers.process_handle.CameraWorker`). The process:

* ignores SIGINT - the recorder decides how an episode ends when the user presses Ctrl-C;
* runs below the recorder's scheduling priority, re-applied after each encoder open
  (`workers.scheduling`);
* drains its ring into the episode's MP4 with the shared encode core (`workers.encode`), streaming
  progress and running statistics back - its loop is `workers.encoder_loop`;
* survives bad episodes (an encoder error is reported and the next episode starts clean);
* exits on its own when the recorder goes away (end-of-file on the command pipe), closing its file so
  the part already written stays playable.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
from multiprocessing.connection import Connection

from shm import RingConsumer, RingPipes
from workers.encoder_loop import EncoderWorker
from workers.protocol import WorkerReady
from workers.scheduling import demote_all_threads, drop_realtime_privilege


def _connection(fd: str, readable: bool) -> Connection:
    return Connection(int(fd), readable=readable, writable=not readable)


def main(argv: list[str] | None = None) -> int:
    # The recorder decides how to stop on Ctrl-C; a stray SIGINT must not kill an encode mid-episode.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if hasattr(signal, "SIGTTOU"):
        # A process group of its own is a background group of the recorder's terminal: with ``stty tostop`` its
        # first log line would stop it (SIGTTOU). Ignored, the write goes through.
        signal.signal(signal.SIGTTOU, signal.SIG_IGN)
    drop_realtime_privilege()  # before any codec creates threads: none of them can be real-time
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 4:
        print("usage: python -m workers.process_main CMD_FD EVENT_FD READY_FD FREED_FD", file=sys.stderr)
        return 2
    commands = _connection(args[0], readable=True)
    events = _connection(args[1], readable=False)
    ring = RingConsumer(
        RingPipes(ready=_connection(args[2], readable=True), freed=_connection(args[3], readable=False))
    )
    try:
        config = commands.recv()
    except EOFError:
        return 0
    logging.basicConfig(
        level=config.log_level, format=f"[lerobot_stream encoder {config.camera}] %(levelname)s %(message)s"
    )
    demote_all_threads(config.priority)
    try:
        events.send(WorkerReady(os.getpid()))
    except OSError:
        return 0
    EncoderWorker(config, commands, events, ring).run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
