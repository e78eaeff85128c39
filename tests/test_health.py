"""Camera health flags: the encoder checks every frame; the recorder shows and logs what looks broken."""

from __future__ import annotations

import logging
import time

import numpy as np

from lerobot_stream.datasets.video_utils import StreamingVideoEncoder
from lerobot_stream.sources.scene import PannedImageCamera
from workers.health import HealthMonitor

FPS = 10


def _flags_after(frames, depth: bool = False) -> tuple[str, ...]:
    monitor = HealthMonitor(FPS, depth=depth)
    for frame in frames:
        monitor.update(frame)
    return monitor.flags()


def test_a_live_noisy_camera_looks_healthy():
    camera = PannedImageCamera(48, 64, seed=2, pool=16)
    assert _flags_after([camera.read() for _ in range(30)]) == ()


def test_frozen_black_saturated_and_exposure_jumps_are_flagged():
    still = PannedImageCamera(48, 64, seed=2, pool=16).frame(0)
    assert _flags_after([still] * (FPS + 1)) == ("frozen",)
    assert _flags_after([still] * (FPS - 1)) == ()  # less than a second of identical frames
    rng = np.random.default_rng(0)
    dark = [rng.integers(0, 6, (48, 64, 3), dtype=np.uint8) for _ in range(FPS)]
    assert _flags_after(dark) == ("black",)
    bright = [rng.integers(250, 256, (48, 64, 3), dtype=np.uint8) for _ in range(FPS)]
    assert _flags_after(bright) == ("saturated",)
    normal = [rng.integers(60, 120, (48, 64, 3), dtype=np.uint8) for _ in range(3)]
    assert _flags_after([*normal, bright[0], *normal]) == ("exposure jump",)
    assert _flags_after([bright[0], *normal * 4]) == ()  # more than a second ago


def test_depth_maps_are_only_checked_for_freezing():
    depth = np.zeros((48, 64), dtype=np.uint16)
    assert _flags_after([depth] * (FPS + 1), depth=True) == ("frozen",)
    rng = np.random.default_rng(1)
    assert _flags_after([rng.integers(0, 3, (48, 64), dtype=np.uint16) for _ in range(FPS)], depth=True) == ()


def test_a_frozen_camera_shows_in_status_and_is_logged_once(tmp_path, caplog):
    live, frozen = "observation.images.live", "observation.images.stuck"
    camera = PannedImageCamera(48, 64, seed=1, pool=16)
    still = camera.frame(3)
    with caplog.at_level(logging.WARNING), StreamingVideoEncoder(fps=FPS, preset=13) as encoder:
        encoder.start_episode([live, frozen], tmp_path)
        fed = []
        for _ in range(3 * FPS):
            fed.append(camera.read())
            encoder.feed_frame(live, fed[-1])
            encoder.feed_frame(frozen, still)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and (
            "frozen" not in encoder.status()[frozen].health or encoder.status()[live].frames_encoded < 3 * FPS
        ):
            time.sleep(0.1)
        status = encoder.status()
        encoder.finish_episode()
    assert status[frozen].health == ("frozen",) and status[live].health == ()
    assert status[frozen].frames_fed == 3 * FPS and status[frozen].capacity == 30
    # The running statistics streamed back: each channel's mean level over the episode so far.
    expected = np.mean(np.stack(fed), axis=(0, 1, 2))
    assert np.allclose(status[live].mean_level, expected, atol=0.5), (status[live].mean_level, expected)
    warnings = [r.getMessage() for r in caplog.records if "looks broken" in r.getMessage()]
    assert len(warnings) == 1 and "stuck" in warnings[0] and "frozen" in warnings[0]
