"""What comes out of the decoder is what went in: fidelity of the default settings on noise-free content.

Simulation cameras render noise-free frames; a codec shortcut that skips small uniform changes (SVT-AV1
4's M11, see `workers.svt`) loses real changes there. Real processes, real files, decoded and compared.
"""

from __future__ import annotations

import numpy as np
from helpers import decode_frames

from lerobot_stream.datasets.video_utils import StreamingVideoEncoder
from lerobot_stream.sources.scene import PannedImageCamera

CAM = "observation.images.sim"


def _stepping_frames(count: int, height: int = 240, width: int = 320) -> list[np.ndarray]:
    """Noise-free frames: a static gradient, and a red channel that steps up by 8 levels every frame."""
    xx = np.broadcast_to(np.arange(width) // 2 % 256, (height, width))
    frames = []
    for index in range(count):
        frame = np.empty((height, width, 3), dtype=np.uint8)
        frame[..., 0] = 40 + 8 * index
        frame[..., 1] = xx
        frame[..., 2] = 100
        frames.append(frame)
    return frames


def _record(tmp_path, frames: list[np.ndarray]) -> list[np.ndarray]:
    with StreamingVideoEncoder(fps=30) as encoder:  # LeRobot's defaults: libsvtav1, g=2, crf=30, preset 12
        encoder.start_episode([CAM], tmp_path)
        for frame in frames:
            encoder.feed_frame(CAM, frame)
        path, _ = encoder.finish_episode()[CAM]
        return decode_frames(path)


def test_noise_free_changes_survive_lerobot_default_settings(tmp_path):
    frames = _stepping_frames(20)
    decoded = _record(tmp_path, frames)
    assert len(decoded) == len(frames)
    red_errors = [
        int(np.abs(d[..., 0].astype(int) - f[..., 0].astype(int)).max()) for d, f in zip(decoded, frames, strict=True)
    ]
    # Each frame's red level differs from its neighbours' by 8: an error of 8 or more means the change was lost.
    assert max(red_errors) <= 5, f"worst red error per frame: {red_errors}"


def test_realistic_content_decodes_close_to_what_was_fed(tmp_path):
    camera = PannedImageCamera(240, 320, seed=3, pool=16)
    frames = [camera.frame(i) for i in range(16)]
    decoded = _record(tmp_path, frames)
    assert len(decoded) == len(frames)
    mse = [float(np.mean((d.astype(np.float32) - f) ** 2)) for d, f in zip(decoded, frames, strict=True)]
    worst_psnr = 10 * np.log10(255.0**2 / max(mse))
    assert worst_psnr > 28, f"worst frame PSNR {worst_psnr:.1f} dB"
