"""LeRobot v0.6's API: encoder config objects, pyav_utils, the v0.6 constructors, and depth streams from
the recorder to the MP4 and back (lossless 12-bit codes, dequantized within the quantization error)."""

from __future__ import annotations

import json
import os
import pickle
import queue
import subprocess
import sys
import threading
from dataclasses import asdict
from pathlib import Path

import av
import numpy as np
import pytest
from helpers import count_frames, decode_depth_codes, depth_error_bound, identity_frame, write_h264

from lerobot_stream.configs import (
    DepthEncoderConfig,
    RGBEncoderConfig,
    VideoEncoderConfig,
    depth_encoder_defaults,
    encoder_config_from_video_info,
    infer_depth_unit,
    rgb_encoder_defaults,
)
from lerobot_stream.datasets import pyav_utils
from lerobot_stream.datasets.lerobot_dataset import LeRobotDataset
from lerobot_stream.datasets.video_utils import (
    StreamingVideoEncoder,
    _CameraEncoderThread,
    encode_video_frames,
    get_video_info,
)
from workers.codecs import DepthQuantization
from workers.depth import dequantize_depth, quantize_depth

H, W, FPS = 48, 64, 30
DEPTH_KEY = "observation.images.front_depth"
RGB_KEY = "observation.images.front"


# ---- config objects -----------------------------------------------------------------------------------------


def test_defaults_match_lerobot_v06():
    rgb = rgb_encoder_defaults()
    assert (rgb.vcodec, rgb.pix_fmt, rgb.g, rgb.crf, rgb.preset, rgb.fast_decode) == (
        "libsvtav1",
        "yuv420p",
        2,
        30,
        12,
        0,
    )
    assert rgb.video_backend == "pyav" and rgb.extra_options == {}
    depth = depth_encoder_defaults()
    assert (depth.vcodec, depth.pix_fmt, depth.extra_options) == ("hevc", "gray12le", {"x265-params": "lossless=1"})
    assert (depth.depth_min, depth.depth_max, depth.shift, depth.use_log) == (0.01, 10.0, 3.5, True)
    assert depth.preset is None  # only SVT-AV1 gets a default preset
    assert VideoEncoderConfig(vcodec="av1").vcodec == "libsvtav1"  # the stream's name is an alias
    assert infer_depth_unit(np.uint16) == "mm" and infer_depth_unit(np.float32) == "m"


def test_codec_options_follow_v06_mapping():
    assert rgb_encoder_defaults().get_codec_options(encoder_threads=2, as_strings=True) == {
        "g": "2",
        "crf": "30",
        "preset": "12",
        "svtav1-params": "fast-decode=0:lp=2",
    }
    h264 = RGBEncoderConfig(vcodec="h264", fast_decode=1, extra_options={"crf": 5, "tune": "film", "bf": 0})
    assert h264.get_codec_options(3) == {"g": 2, "crf": 30, "tune": "fastdecode", "threads": 3, "bf": 0}
    assert depth_encoder_defaults().get_codec_options() == {"g": 2, "crf": 30, "x265-params": "lossless=1"}


@pytest.mark.parametrize(
    ("factory", "kwargs", "message"),
    [
        (RGBEncoderConfig, {"vcodec": "divx"}, "Invalid vcodec 'divx'"),
        (RGBEncoderConfig, {"pix_fmt": "gray"}, "pix_fmt='gray' is not supported by codec 'libsvtav1'"),
        (RGBEncoderConfig, {"vcodec": "h264", "pix_fmt": "gray"}, "carries only 1 component"),
        (RGBEncoderConfig, {"crf": 99}, "out of range for codec 'libsvtav1'"),
        (RGBEncoderConfig, {"g": 0}, "g=0 must be a positive integer"),
        (RGBEncoderConfig, {"vcodec": "h264", "preset": "warp9"}, "rejects the settings"),
        (DepthEncoderConfig, {"depth_min": 5.0, "depth_max": 1.0}, "depth_max must be greater than depth_min"),
        (DepthEncoderConfig, {"shift": -1.0}, "depth_min \\+ shift must be positive"),
        (DepthEncoderConfig, {"pix_fmt": "yuv420p"}, "cannot hold 12-bit depth codes"),
    ],
)
def test_bad_settings_raise_clear_errors_at_construction(factory, kwargs, message):
    with pytest.raises(ValueError, match=message):
        factory(**kwargs)


def test_configs_are_plain_data_pickled_and_rebuilt_from_info():
    depth = DepthEncoderConfig(depth_max=4.0, use_log=False)
    assert pickle.loads(pickle.dumps(depth)) == depth
    info = {f"video.{k}": v for k, v in asdict(depth).items() if k != "vcodec"}
    info.update({"video.codec": "hevc", "is_depth_map": True})
    rebuilt = encoder_config_from_video_info(info)
    assert isinstance(rebuilt, DepthEncoderConfig) and rebuilt == depth
    assert isinstance(encoder_config_from_video_info({"video.codec": "av1"}), RGBEncoderConfig)


def test_pyav_utils_names():
    assert pyav_utils.get_pix_fmt_channels("gray12le") == 1 and pyav_utils.get_pix_fmt_channels("yuv420p") == 3
    assert pyav_utils.get_codec("no-such-codec") is None and pyav_utils.get_codec("libsvtav1") is not None
    assert pyav_utils.detect_available_encoders_pyav(["libsvtav1", "no-such-codec", "hevc"]) == ["libsvtav1", "hevc"]
    with pytest.raises(ValueError, match="not available"):
        pyav_utils.check_video_encoder_parameters_pyav("no-such-codec", "yuv420p", {})
    frame = av.VideoFrame(W, H, "gray12le")
    codes = np.arange(H * W, dtype=np.uint16).reshape(H, W) % 4096
    pyav_utils.write_u16_plane(frame.planes[0], codes)
    plane = frame.planes[0]
    assert np.array_equal(np.frombuffer(plane, np.uint16).reshape(H, plane.line_size // 2)[:, :W], codes)


def test_importing_the_library_leaves_the_environment_alone():
    env = {k: v for k, v in os.environ.items() if k != "SVT_LOG"}
    code = "import os, lerobot_stream.datasets.lerobot_dataset, workers.process_main; print(os.environ.get('SVT_LOG'))"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "None"


# ---- the v0.6 constructors ----------------------------------------------------------------------------------


def test_v06_encoder_uses_the_config_objects_and_exposes_them(tmp_path):
    rgb = RGBEncoderConfig(vcodec="h264", crf=23)
    with StreamingVideoEncoder(FPS, rgb, depth_encoder_defaults(), 10, None) as encoder:
        assert encoder._rgb_encoder is rgb and encoder._encoder_threads is None and encoder.queue_maxsize == 10
        encoder.start_episode([RGB_KEY, DEPTH_KEY], tmp_path, [DEPTH_KEY])
        assert encoder._threads[RGB_KEY].video_encoder is rgb
        assert isinstance(encoder._threads[DEPTH_KEY].video_encoder, DepthEncoderConfig)
        for i in range(4):
            encoder.feed_frame(RGB_KEY, identity_frame(i, H, W))
            encoder.feed_frame(DEPTH_KEY, np.full((H, W, 1), 1000 + i, np.uint16))
        results = encoder.finish_episode()
    with av.open(str(results[RGB_KEY][0])) as container:
        assert container.streams.video[0].codec_context.codec.canonical_name == "h264"
    assert [c[0, 0] for c in decode_depth_codes(results[DEPTH_KEY][0])] == [
        quantize_depth(np.array([[1000 + i]], np.uint16), DepthQuantization())[0, 0] for i in range(4)
    ]
    assert results[DEPTH_KEY][1]["mean"].tolist() == [1001.5]  # millimetres, not rescaled


def test_v05_positional_and_keyword_construction_still_work(tmp_path):
    positional = StreamingVideoEncoder(FPS, "h264", "yuv420p", 2, 28, None, 12, 1)
    keyword = StreamingVideoEncoder(fps=FPS, vcodec="h264", crf=28, queue_maxsize=12, encoder_threads=1)
    try:
        for encoder in (positional, keyword):
            assert (encoder.vcodec, encoder.crf, encoder.queue_maxsize, encoder.encoder_threads) == ("h264", 28, 12, 1)
            assert encoder._rgb_encoder.vcodec == "h264"
    finally:
        positional.close()
        keyword.close()
    with pytest.raises(TypeError, match="not both"):
        StreamingVideoEncoder(FPS, rgb_encoder=rgb_encoder_defaults(), vcodec="h264")


def test_v06_camera_thread_encodes_depth_losslessly(tmp_path):
    frames, results, stop = queue.Queue(), queue.Queue(), threading.Event()
    depth = np.linspace(300, 4000, H * W, dtype=np.float32).reshape(H, W).astype(np.uint16)
    thread = _CameraEncoderThread(tmp_path / "d.mp4", FPS, depth_encoder_defaults(), frames, results, stop)
    assert thread.is_depth and thread.video_encoder.vcodec == "hevc"
    thread.start()
    for i in range(3):
        frames.put(depth[None] + i)  # (1, H, W) is a depth layout too
    frames.put(None)
    thread.join(30)
    status, stats = results.get(timeout=1)
    assert status == "ok" and stats["count"].tolist() == [3]
    codes = decode_depth_codes(tmp_path / "d.mp4")
    assert all(np.array_equal(c, quantize_depth(depth + i, DepthQuantization())) for i, c in enumerate(codes))


def test_encode_video_frames_takes_a_depth_config_and_tiff_frames(tmp_path):
    from lerobot_stream.storage.tiff import write_tiff

    depth = np.random.default_rng(1).uniform(0.3, 6.0, (H, W)).astype(np.float32)
    for i in range(3):
        write_tiff(tmp_path / f"frame-{i:06d}.tiff", depth + i * 0.1)
    encode_video_frames(tmp_path, tmp_path / "out.mp4", FPS, depth_encoder_defaults())
    codes = decode_depth_codes(tmp_path / "out.mp4")
    assert len(codes) == 3 and np.array_equal(codes[2], quantize_depth(depth + np.float32(0.2), DepthQuantization()))


# ---- depth through LeRobotDataset ---------------------------------------------------------------------------


def rgbd_features() -> dict:
    return {
        RGB_KEY: {"dtype": "video", "shape": (H, W, 3), "names": ["height", "width", "channels"]},
        DEPTH_KEY: {
            "dtype": "video",
            "shape": (H, W, 1),
            "names": ["height", "width", "channels"],
            "info": {"is_depth_map": True},
        },
        "action": {"dtype": "float32", "shape": (2,), "names": ["a", "b"]},
    }


def depth_frame(i: int, unit: str) -> np.ndarray:
    """A depth map with near and far content that moves over time."""
    yy, xx = np.mgrid[0:H, 0:W]
    metres = 0.4 + 5.0 * ((xx + 2 * i) % W) / W + 0.5 * yy / H
    return (metres * 1000).astype(np.uint16) if unit == "mm" else metres.astype(np.float32)


@pytest.mark.parametrize("unit", ["mm", "m"])
@pytest.mark.parametrize("streaming", [True, False], ids=["stream", "tiff"])
def test_depth_round_trip_through_the_dataset(tmp_path, streaming, unit):
    root = tmp_path / "ds"
    dataset = LeRobotDataset.create(
        "test/rgbd", fps=FPS, features=rgbd_features(), root=root, streaming_encoding=streaming
    )
    lengths, fed = [6, 4], []
    g = 0
    for length in lengths:
        for _ in range(length):
            depth = depth_frame(g, unit)
            fed.append(depth)
            dataset.add_frame(
                {
                    RGB_KEY: identity_frame(g, H, W),
                    DEPTH_KEY: depth[..., None],
                    "action": np.zeros(2, np.float32),
                    "task": "t",
                }
            )
            g += 1
        dataset.save_episode()
    dataset.finalize()
    assert sorted(p.name for p in root.iterdir()) == ["data", "meta", "videos"], "no staging files may remain"

    info = json.loads((root / "meta/info.json").read_text())["features"][DEPTH_KEY]["info"]
    assert info["is_depth_map"] is True and info["depth_unit"] == unit
    assert (info["video.codec"], info["video.pix_fmt"], info["video.channels"]) == ("hevc", "gray12le", 1)
    assert (info["video.depth_min"], info["video.depth_max"], info["video.shift"], info["video.use_log"]) == (
        0.01,
        10.0,
        3.5,
        True,
    )
    rgb_info = json.loads((root / "meta/info.json").read_text())["features"][RGB_KEY]["info"]
    assert rgb_info["is_depth_map"] is False and rgb_info["video.codec"] == "av1"

    video = root / f"videos/{DEPTH_KEY}/chunk-000/file-000.mp4"
    assert count_frames(video) == sum(lengths)
    q = DepthQuantization()
    for depth, codes in zip(fed, decode_depth_codes(video), strict=True):
        assert np.array_equal(codes, quantize_depth(depth, q)), "HEVC lossless keeps every code"
        back = dequantize_depth(codes, q, unit)
        assert np.all(np.abs(back.astype(np.float64) - depth.astype(np.float64)) <= depth_error_bound(depth, unit))

    with av.open(str(video)) as container:  # presented from 0, one frame per row, across episode seams
        assert [f.pts * f.time_base for f in container.decode(video=0)] == [
            pytest.approx(i / FPS, abs=1e-6) for i in range(sum(lengths))
        ]
    reader = LeRobotDataset("test/rgbd", root=root, depth_output_unit="m")
    assert reader.depth_output_unit == "m"
    expected_max = np.max(fed) / (1000 if unit == "mm" else 1)
    assert np.asarray(reader.meta.stats[DEPTH_KEY]["max"]).reshape(-1)[0] == pytest.approx(expected_max)
    for g in (0, lengths[0], sum(lengths) - 1):
        item = reader[g]
        assert item[DEPTH_KEY].shape == (1, H, W) and item[RGB_KEY].shape == (3, H, W)
        metres = fed[g].astype(np.float64) / (1000 if unit == "mm" else 1)
        bound = depth_error_bound(fed[g], unit) / (1000 if unit == "mm" else 1)
        assert np.all(np.abs(item[DEPTH_KEY][0] - metres) <= bound + 1e-6)

    stats = json.loads((root / "meta/stats.json").read_text())[DEPTH_KEY]
    values = np.stack(fed).astype(np.float64)
    assert stats["count"] == [sum(lengths)]
    assert np.asarray(stats["min"]).shape == (1, 1, 1)
    assert stats["min"][0][0][0] == pytest.approx(values.min())
    assert stats["max"][0][0][0] == pytest.approx(values.max())
    assert stats["mean"][0][0][0] == pytest.approx(values.mean(), rel=1e-6)
    assert stats["std"][0][0][0] == pytest.approx(values.std(), rel=1e-6)


def test_depth_unit_is_kept_and_enforced_and_bad_depth_frames_are_named(tmp_path):
    root = tmp_path / "ds"
    dataset = LeRobotDataset.create("test/rgbd", fps=FPS, features=rgbd_features(), root=root, streaming_encoding=True)
    base = {RGB_KEY: identity_frame(0, H, W), "action": np.zeros(2, np.float32), "task": "t"}
    dataset.add_frame({**base, DEPTH_KEY: depth_frame(0, "mm")[..., None]})
    dataset.save_episode()
    with pytest.raises(ValueError, match=f"'{DEPTH_KEY}' is recorded in 'mm'"):
        dataset.add_frame({**base, DEPTH_KEY: depth_frame(0, "m")[..., None]})
    with pytest.raises(ValueError, match=f"'{DEPTH_KEY}' of shape"):
        dataset.add_frame({**base, DEPTH_KEY: np.zeros((H, W, 3), np.uint16)})
    with pytest.raises(ValueError, match="not uint16"):
        dataset.add_frame({**base, DEPTH_KEY: np.zeros((H, W, 1), bool)})
    dataset.add_frame({**base, DEPTH_KEY: depth_frame(1, "mm")})  # (H, W) is accepted too
    dataset.save_episode()
    dataset.finalize()
    assert dataset.meta.total_episodes == 2


def test_depth_image_features_are_stored_as_tiff_and_read_back_in_either_unit(tmp_path):
    """``dtype: image`` depth (no video): each frame is a lossless TIFF in the data parquet, as LeRobot v0.6
    stores it; statistics stay in the recorded unit; reading converts to ``depth_output_unit``."""
    import io

    import pyarrow.parquet as pq
    from PIL import Image

    features = rgbd_features()
    features[DEPTH_KEY]["dtype"] = "image"
    root = tmp_path / "ds"
    dataset = LeRobotDataset.create("test/img", fps=FPS, features=features, root=root)
    for g in range(3):
        dataset.add_frame(
            {
                RGB_KEY: identity_frame(g, H, W),
                DEPTH_KEY: depth_frame(g, "m")[..., None],
                "action": np.zeros(2, np.float32),
                "task": "t",
            }
        )
        if g == 0:
            assert Path(dataset.writer.episode_buffer[DEPTH_KEY][0]).suffix == ".tiff"
    dataset.save_episode()
    dataset.finalize()
    table = pq.read_table(next((root / "data").rglob("*.parquet"))).to_pylist()
    stored = np.array(Image.open(io.BytesIO(table[2][DEPTH_KEY]["bytes"])))
    assert stored.dtype == np.float32 and np.array_equal(stored, depth_frame(2, "m"))
    assert dataset.meta.stats[DEPTH_KEY]["max"].reshape(-1)[0] == pytest.approx(
        max(depth_frame(g, "m").max() for g in range(3))
    )
    in_mm = LeRobotDataset("test/img", root=root, depth_output_unit="mm")
    assert np.allclose(np.asarray(in_mm[1][DEPTH_KEY]).reshape(H, W), depth_frame(1, "m") * 1000, rtol=1e-6)
    assert in_mm.meta.stats[DEPTH_KEY]["max"].reshape(-1)[0] == pytest.approx(
        1000 * max(depth_frame(g, "m").max() for g in range(3))
    )


def test_streaming_encoder_rejects_a_unit_change_within_an_episode(tmp_path):
    with StreamingVideoEncoder(FPS) as encoder:
        encoder.start_episode([DEPTH_KEY], tmp_path, [DEPTH_KEY])
        encoder.feed_frame(DEPTH_KEY, depth_frame(0, "m"))  # the ring was sized for uint16: reallocated
        with pytest.raises(ValueError, match=f"Depth camera '{DEPTH_KEY}': this stream records float metres"):
            encoder.feed_frame(DEPTH_KEY, depth_frame(1, "mm"))
        with pytest.raises(ValueError, match="expected a depth map of shape"):
            encoder.feed_frame(DEPTH_KEY, np.zeros((H, W, 3), np.float32))
        encoder.feed_frame(DEPTH_KEY, depth_frame(2, "m"))
        path, stats = encoder.finish_episode()[DEPTH_KEY]
    assert len(decode_depth_codes(path)) == 2 and stats["count"].tolist() == [2]


@pytest.mark.parametrize("frames", [1, 2, 3])
def test_short_hevc_episodes_get_valid_timestamps(tmp_path, frames):
    """FFmpeg's x265 wrapper returns garbage decode timestamps for streams shorter than its reordering
    delay; the MP4 muxer refused them ("pts/dts pair unsupported") and one-frame depth episodes failed."""
    from workers.codecs import EncoderSettings
    from workers.encode import EpisodeEncoder

    settings = EncoderSettings.from_config(depth_encoder_defaults(), FPS, threads=2)
    encoder = EpisodeEncoder(tmp_path / "short.mp4", settings, fragmented=True)
    for i in range(frames):
        encoder.add(i, np.full((H, W), 1.0 + i / 10, np.float32))
    assert encoder.finish().frames == frames
    assert len(decode_depth_codes(tmp_path / "short.mp4")) == frames


def test_depth_frames_the_encoder_could_not_take_are_repeated_and_counted(tmp_path):
    """The same alignment as RGB: a depth encoder that stops (SIGSTOP) loses frames, each is filled by
    repeating the previous one, and the MP4 still holds one frame per timestep."""
    import signal

    ticks = 40
    with StreamingVideoEncoder(FPS, queue_maxsize=3) as encoder:
        encoder.start_episode([DEPTH_KEY], tmp_path, [DEPTH_KEY], frame_shapes={DEPTH_KEY: (H, W, 1)})
        pid = encoder.worker_pids()[DEPTH_KEY]
        for i in range(ticks):
            if i == 10:
                os.kill(pid, signal.SIGSTOP)
            if i == 30:
                os.kill(pid, signal.SIGCONT)
            encoder.feed_frame(DEPTH_KEY, depth_frame(i, "mm"))
        path, stats = encoder.finish_episode()[DEPTH_KEY]
        dropped = encoder.dropped_frames[DEPTH_KEY]
        assert dropped >= 20 - 3 and encoder.last_results[DEPTH_KEY].repeated == dropped
    codes = decode_depth_codes(path)
    assert len(codes) == ticks and stats["count"].tolist() == [ticks - dropped]
    expected = [quantize_depth(depth_frame(i, "mm"), DepthQuantization()) for i in range(ticks)]
    shown = [next(j for j in range(ticks) if np.array_equal(c, expected[j])) for c in codes]
    assert shown == sorted(shown) and all(s <= i for i, s in enumerate(shown))
    assert sum(s == i for i, s in enumerate(shown)) == ticks - dropped


def test_video_info_says_whether_the_stream_is_a_depth_map(tmp_path):
    """LeRobot v0.6 reads ``is_depth_map`` from every video's info block: False unless a depth config is given."""
    clip = tmp_path / "clip.mp4"
    write_h264(clip, 96, 64, [10, 20, 30, 40])
    plain = get_video_info(clip)
    assert plain["is_depth_map"] is False and plain["video.is_depth_map"] is False and plain["has_audio"] is False
    assert (plain["video.width"], plain["video.height"], plain["video.fps"]) == (96, 64, 30)
    assert "video.g" not in plain
    assert get_video_info(clip, video_encoder=depth_encoder_defaults())["is_depth_map"] is True
    assert get_video_info(clip, video_encoder=rgb_encoder_defaults())["video.g"] == 2
