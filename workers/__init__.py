"""The encoder side: one encode core (`workers.encode`) hosted in a subprocess per camera
(`workers.worker_main`, driven by `workers.pool`) or in a thread (`workers.thread_host`).

Depends on `shm` only; knows nothing about datasets.
"""

import os as _os

# SVT-AV1 prints ~20 banner lines per encoder, and an error line whenever an encoder is closed without
# being flushed (which cancelling an episode does on purpose). 0 = fatal messages only; failures still
# surface as FFmpeg errors with the codec's message. Set SVT_LOG yourself to see more.
_os.environ.setdefault("SVT_LOG", "0")
