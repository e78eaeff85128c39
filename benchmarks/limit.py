"""The most cameras this machine could ever encode: raw single-encoder throughput x cores / fps.

One encoder with one thread encodes pre-converted (yuv420p) frames back to back, so neither the colour
conversion nor the recorder is counted; several such encoders in parallel, one per core, are the ceiling
any design can reach (``shared/docs/benchmarks.md``).
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import av

from lerobot_stream.synthetic import SyntheticCamera
from workers.codecs import EncoderSettings, available_cores, is_hardware_encoder


def measure_limit(
    width: int,
    height: int,
    fps: int,
    vcodec: str = "libsvtav1",
    g: int = 2,
    crf: int = 30,
    preset: int | None = None,
    frames: int = 150,
) -> dict[str, float]:
    camera = SyntheticCamera(height, width, seed=99)
    converted = [
        av.VideoFrame.from_ndarray(camera.frame(i), format="rgb24").reformat(format="yuv420p") for i in range(frames)
    ]
    threads = None if is_hardware_encoder(vcodec) else 1
    settings = EncoderSettings(fps, vcodec, "yuv420p", g, crf, preset, threads)
    options, thread_count = settings.stream_options()
    with (
        tempfile.TemporaryDirectory(prefix="lrs-limit-") as directory,
        av.open(str(Path(directory) / "limit.mp4"), "w") as container,
    ):
        stream = container.add_stream(vcodec, rate=fps, options=options)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        if thread_count:
            stream.codec_context.thread_count = thread_count
        # Warm up: the first frames include opening the codec.
        for index, frame in enumerate(converted[:5]):
            frame.pts = index
            container.mux(stream.encode(frame))
        began = time.perf_counter()
        for index, frame in enumerate(converted[5:], start=5):
            frame.pts = index
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
        elapsed = time.perf_counter() - began
    per_encoder = (frames - 5) / elapsed
    cores = available_cores()
    return {"encoder_fps_one_core": per_encoder, "cores": cores, "limit_cameras": per_encoder * cores / fps}
