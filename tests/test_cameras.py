"""The frames a demo or benchmark feeds: the calibrated scene, the synthetic pattern and the user's footage."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import write_h264
from PIL import Image

from lerobot_stream.sources.cameras import FootageCamera, load_footage, make_cameras
from lerobot_stream.sources.scene import PannedImageCamera, natural_canvas


def test_scene_cameras_move_have_sensor_noise_and_differ_from_each_other():
    first, second = make_cameras(2, 48, 64, "scene")
    frames = [first.read() for _ in range(3)]
    assert all(f.shape == (48, 64, 3) and f.dtype == np.uint8 for f in frames)
    assert not np.array_equal(frames[0], frames[1])  # the camera pans and the sensor is noisy
    assert not np.array_equal(frames[0], second.frame(0))
    again = make_cameras(1, 48, 64, "scene")[0]
    assert np.array_equal(again.frame(0), frames[0])  # deterministic from its seed
    # Noise: a frame differs from a noise-free render of the same position by about sigma 2.
    clean = PannedImageCamera(48, 64, seed=0, noise_sigma=0).frame(0)
    assert 1.0 < np.std(frames[0].astype(float) - clean) < 3.0


def test_natural_canvas_has_texture_at_every_scale():
    canvas = natural_canvas(128, 128, seed=1).astype(float).mean(axis=2)
    fine = np.abs(np.diff(canvas, axis=1)).mean()
    coarse = np.abs(canvas[:, 16:] - canvas[:, :-16]).mean()
    assert 0.5 < fine < coarse  # neither flat nor white noise: larger structures vary more


def test_synthetic_content_is_still_available():
    (camera,) = make_cameras(1, 32, 48, "synthetic")
    assert camera.read().shape == (32, 48, 3)
    with pytest.raises(ValueError, match="content must be one of"):
        make_cameras(1, 32, 48, "photos")


def test_a_video_file_is_decoded_once_and_each_camera_starts_elsewhere(tmp_path):
    path = tmp_path / "clip.mp4"
    write_h264(path, 80, 64, [index * 6 for index in range(40)])
    first, second = make_cameras(2, 32, 40, source=path, fps=10)
    assert isinstance(first, FootageCamera) and first.frame(0).shape == (32, 40, 3)
    assert first.frame(0) is second.frame(0)  # shared frames, not copies
    assert abs(int(second.read().mean()) - 10 * 6) <= 3  # camera 1 starts one second (10 frames) in
    assert len(load_footage(path, 40, 32)) == 40


def test_an_image_folder_plays_in_name_order_and_one_picture_is_panned(tmp_path):
    for index in (2, 0, 1):
        Image.fromarray(np.full((30, 40, 3), 50 + 50 * index, dtype=np.uint8)).save(tmp_path / f"f{index}.png")
    (camera,) = make_cameras(1, 24, 32, source=tmp_path)
    assert [int(camera.read().mean()) for _ in range(3)] == [50, 100, 150]
    picture = tmp_path / "f1.png"
    (panned,) = make_cameras(1, 24, 32, source=picture)
    assert isinstance(panned, PannedImageCamera) and panned.read().shape == (24, 32, 3)


def test_unusable_sources_name_the_path(tmp_path):
    with pytest.raises(ValueError, match="no such file or folder"):
        load_footage(tmp_path / "missing.mp4", 32, 24)
    with pytest.raises(ValueError, match="holds no images"):
        load_footage(tmp_path, 32, 24)
    notes = tmp_path / "notes.txt"
    notes.write_text("not a video")
    with pytest.raises(ValueError, match=r"notes.txt: cannot decode it"):
        load_footage(notes, 32, 24)
