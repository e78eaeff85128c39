"""How the built-in camera contents compare with footage, in encode time and in bytes.

    python -m benchmarks.calibrate_content PHOTO [PHOTO ...] [--resolution 640x480] [--frames 96]

Each photograph is panned like a moving camera with sensor noise (`lerobot_stream.sources.scene.PannedImageCamera`,
the same motion and noise as the default scene), then every content is encoded by one single-threaded
encoder at the benchmark's settings (libsvtav1, g=2, crf=30, default preset), on pre-converted frames.
The table gives frames/s and KB/frame per content and the scene's ratio to the photographs' mean; the
default scene's constants (`lerobot_stream.sources.scene`) were chosen so that both ratios lie within 25 %.
Photographs that are smaller than the frame plus its pan margin are scaled up first, which makes them
cheaper than native footage: prefer pictures at least as large as the frame.
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import time
from pathlib import Path

import av
import numpy as np

from lerobot_stream.cli.arguments import resolution
from lerobot_stream.sources.cameras import load_footage
from lerobot_stream.sources.scene import PannedImageCamera, canvas_size
from lerobot_stream.sources.synthetic import SyntheticCamera
from workers.scheduling import calling_thread_policy_kept

from .limit import open_encoder

_WARM_UP_FRAMES = 5


def encode_cost(camera, frames: int, width: int, height: int) -> tuple[float, float]:
    """(frames/s of one single-threaded encoder, KB per frame) for ``frames`` frames of ``camera``."""
    converted = [
        av.VideoFrame.from_ndarray(camera.frame(i), format="rgb24").reformat(format="yuv420p") for i in range(frames)
    ]
    buffer = io.BytesIO()
    with calling_thread_policy_kept(), av.open(buffer, "w", format="mp4") as container:
        stream = open_encoder(container, "libsvtav1", width, height, 30, g=2, crf=30, preset=None)
        for index, frame in enumerate(converted):
            if index == _WARM_UP_FRAMES:
                began = time.perf_counter()
            frame.pts = index
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
        elapsed = time.perf_counter() - began
    return (frames - _WARM_UP_FRAMES) / elapsed, buffer.getbuffer().nbytes / frames / 1024


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.calibrate_content", description=__doc__.split("\n")[0])
    parser.add_argument("photos", nargs="+", type=Path, help="photographs to pan (PNG, JPEG, ...)")
    parser.add_argument("--resolution", type=resolution, default=(640, 480), help="WIDTHxHEIGHT (default: 640x480)")
    parser.add_argument("--frames", type=int, default=96, help="frames encoded per content (default: %(default)s)")
    parser.add_argument("--scene-seeds", type=int, default=3, help="default-scene cameras to measure")
    args = parser.parse_args(argv)
    os.environ.setdefault("SVT_LOG", "0")
    width, height = args.resolution
    print(f"PyAV {av.__version__}, {width}x{height}, libsvtav1 g=2 crf=30 default preset, one thread per encoder")
    print(f"{'content':<32}{'frames/s':>10}{'KB/frame':>10}")
    photos = []
    for path in args.photos:
        picture = load_footage(path, width, height)
        if not isinstance(picture, np.ndarray):
            print(f"error: {path} is not a single picture", file=sys.stderr)
            return 2
        need_h, need_w = canvas_size(height, width)
        scale = max(need_h / picture.shape[0], need_w / picture.shape[1], 1.0)
        fps, kb = encode_cost(PannedImageCamera(height, width, seed=1, canvas=picture), args.frames, width, height)
        photos.append((fps, kb))
        print(f"{'photo ' + path.name + f' (x{scale:.2f})':<32}{fps:>10.1f}{kb:>10.1f}", flush=True)
    scenes = []
    for seed in range(args.scene_seeds):
        fps, kb = encode_cost(PannedImageCamera(height, width, seed=seed), args.frames, width, height)
        scenes.append((fps, kb))
        print(f"{f'scene (seed {seed})':<32}{fps:>10.1f}{kb:>10.1f}", flush=True)
    fps, kb = encode_cost(SyntheticCamera(height, width, seed=0), args.frames, width, height)
    print(f"{'synthetic':<32}{fps:>10.1f}{kb:>10.1f}")
    photo_fps, photo_kb = np.mean(photos, axis=0)
    scene_fps, scene_kb = np.mean(scenes, axis=0)
    print(
        f"\nscene / photographs: encode time x{photo_fps / scene_fps:.2f}, bytes x{scene_kb / photo_kb:.2f} "
        f"(synthetic: time x{photo_fps / fps:.2f}, bytes x{kb / photo_kb:.2f})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
