"""The encoder side: one encode core (`workers.encode`) hosted in a subprocess per camera
(`workers.worker_main`, driven by `workers.pool`) or in a thread (`workers.thread_host`).

Depends on `shm` only; knows nothing about datasets.
"""
