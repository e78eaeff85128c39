"""The encoder side: one encode core (`workers.encode`) hosted in a subprocess per camera
(`workers.process_main`, driven by `workers.process_handle`) or in a thread (`workers.thread_host`).

Which side of the pipe each module runs on:

* in the recorder: `channel` (one camera's counters, frame checks and episode lifecycle) with its two hosts,
  `process_channel` + `process_handle` (the encoder process's handle) and `thread_channel` + `thread_host`;
  `spawn` (starting a process), `finishing` (an episode's cameras finishing), `stop_policy` (how long to wait);
* in the encoder process: `process_main` (its entry point), `encoder_loop` (its loop), `episode_pipeline` (an
  episode's backlog and encode thread), `backlog` (memory, then spill files);
* on both sides: `encode` (the encode core), `codecs`, `encoder_availability` (which encoders work here),
  `frames`, `depth`, `stats`, `health`, `protocol` (the messages), `errors`, `encoding_lock` (who may still
  write an episode's folder), `scheduling`, `media_paths`, `pyav_checks` (checks of settings against the
  installed PyAV), `svt` (SVT-AV1's presets).

Depends on `shm` only; knows nothing about datasets. Importing it changes nothing in the caller's process:
the codec libraries' log settings (``SVT_LOG``, x265's ``log-level``) are applied to the encoder processes
and to each stream this library opens, not to the environment of the process that imports it.
"""
