"""The encoder side: one encode core (`workers.encode`) hosted in a subprocess per camera
(`workers.worker_main`, driven by `workers.camera_worker`) or in a thread (`workers.thread_host`).

Depends on `shm` only; knows nothing about datasets. Importing it changes nothing in the caller's process:
the codec libraries' log settings (``SVT_LOG``, x265's ``log-level``) are applied to the encoder processes
and to each stream this library opens, not to the environment of the process that imports it.
"""
