"""How long the recorder waits for a camera's encoder process before it gives up on it - every limit in one place.

An encoder process is stopped in one order, whatever asked for it: it is told (``Shutdown``, ``CancelEpisode``)
and given `SHUTDOWN_S` or `CANCEL_ACK_S` to do it; then it is killed (``SIGKILL``, which cannot be ignored) and
the kernel given `KILL_REAP_S` to reap it. A process found dead is given `EXIT_STATUS_S` for its exit status, so
the error can name the signal that killed it. Waiting for work - a new process starting, an episode finishing -
is bounded by how long the process shows *no progress*, not by how long the work takes: an encoder working
through a backlog of minutes is waited for as long as it encodes.

The limits are generous on purpose: they only decide how long a *stuck* process can hold a recording up, and a
Raspberry Pi under load takes seconds to start Python and import PyAV.
"""

from __future__ import annotations

#: A new encoder process must report ready (imports done) within this (`CameraWorker.wait_ready`).
START_S = 60.0
#: Finishing an episode: a camera whose encoder encodes no frame for this long is declared stuck and killed
#: (`StreamingVideoEncoder`'s ``finish_timeout_s``).
FINISH_STALL_S = 120.0
#: Cancelling an episode: the process must acknowledge within this, or it is killed.
CANCEL_ACK_S = 10.0
#: Closing: the process, told to shut down, must exit within this, or it is killed.
SHUTDOWN_S = 5.0
#: After ``SIGKILL``: how long to wait for the kernel to reap the process.
KILL_REAP_S = 5.0
#: A process found dead: how long to wait for its exit status.
EXIT_STATUS_S = 1.0
