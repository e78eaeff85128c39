"""Codec tables, option building, thread bounds and hardware-encoder selection."""

from __future__ import annotations

import os
from unittest.mock import patch

import numpy as np
import pytest

from lerobot_stream.datasets.video_utils import (
    HW_ENCODERS,
    VALID_VIDEO_CODECS,
    _get_codec_options,
    detect_available_hw_encoders,
    resolve_vcodec,
)
from workers import encoder_availability
from workers.codecs import EncoderSettings, default_encoder_threads, encoder_options
from workers.encode import EpisodeEncoder
from workers.svt import FIDELITY_PRESET, encoded_preset, svt_av1_version


def test_codec_tables():
    assert HW_ENCODERS == [
        "h264_videotoolbox",
        "hevc_videotoolbox",
        "h264_nvenc",
        "hevc_nvenc",
        "h264_vaapi",
        "h264_qsv",
    ]
    # LeRobot v0.6 added libaom-av1 to v0.5's set.
    assert {"libsvtav1", "libaom-av1", "h264", "hevc", "auto", *HW_ENCODERS} == VALID_VIDEO_CODECS
    assert len(VALID_VIDEO_CODECS) == 11


@pytest.mark.parametrize(
    ("vcodec", "kwargs", "expected"),
    [
        ("libsvtav1", {}, {"g": "2", "crf": "30", "preset": "12"}),
        ("libsvtav1", {"preset": 8}, {"g": "2", "crf": "30", "preset": "8"}),
        ("h264", {"g": 10, "crf": 23}, {"g": "10", "crf": "23"}),
        ("hevc", {"preset": "fast"}, {"g": "2", "crf": "30", "preset": "fast"}),
        ("h264_videotoolbox", {}, {"g": "2", "q:v": "40"}),
        ("h264_nvenc", {"crf": 25}, {"rc": "constqp", "qp": "25"}),
        ("h264_vaapi", {"crf": 28}, {"g": "2", "qp": "28"}),
        ("h264_qsv", {"crf": 25}, {"g": "2", "global_quality": "25"}),
        ("h264", {"g": None, "crf": None}, {}),
        ("h264_videotoolbox", {"crf": 0}, {"g": "2", "q:v": "100"}),
        ("h264_videotoolbox", {"crf": 60}, {"g": "2", "q:v": "1"}),
    ],
)
def test_codec_options(vcodec, kwargs, expected):
    assert _get_codec_options(vcodec, **kwargs) == expected


def test_thread_limits_go_where_each_codec_takes_them():
    assert encoder_options("libsvtav1", preset=12, encoder_threads=2, as_strings=True) == {
        "g": "2",
        "crf": "30",
        "preset": "12",
        "svtav1-params": "fast-decode=0:lp=2",
    }
    assert encoder_options("libsvtav1", fast_decode=1, encoder_threads=1)["svtav1-params"] == "fast-decode=1:lp=1"
    assert encoder_options("h264", encoder_threads=3)["threads"] == 3
    assert encoder_options("libaom-av1", encoder_threads=3)["row-mt"] == 1
    for hardware in HW_ENCODERS:
        settings = EncoderSettings(30, hardware, threads=4)
        assert "threads" not in settings.stream_options() and "svtav1-params" not in settings.stream_options()
    assert "lp=" not in encoder_options("libsvtav1")["svtav1-params"]


def test_extra_options_never_replace_a_structured_field_but_svt_params_are_appended():
    options = encoder_options("libsvtav1", crf=30, extra_options={"crf": 10, "svtav1-params": "tune=0", "x": 1})
    assert options["crf"] == 30 and options["x"] == 1
    assert options["svtav1-params"] == "fast-decode=0:tune=0"


def test_default_thread_bound_splits_the_cores_between_cameras():
    cores = default_encoder_threads(1)
    assert cores >= 1
    assert default_encoder_threads(1000) == 1
    assert default_encoder_threads(2) == max(1, cores // 2)
    assert EncoderSettings(30, threads=1).stream_options() == {
        "g": "2",
        "crf": "30",
        "preset": str(encoded_preset(12)),
        "svtav1-params": "fast-decode=0:lp=1",
    }


def test_svt_av1_4_opens_its_lossy_m11_presets_as_m10():
    version = svt_av1_version()
    assert version is not None, "the SVT-AV1 bundled with PyAV must be found"
    expected = FIDELITY_PRESET if version >= (4,) else 12
    assert EncoderSettings(30, preset=12).stream_options()["preset"] == str(expected)
    assert encoded_preset(8) == 8 and encoded_preset(None) is None and encoded_preset("fast") == "fast"


def test_detect_is_a_cached_list_of_working_hw_encoders_and_silent(capfd):
    encoder_availability._hw_encoders_found = None  # probe afresh: the silence below is about the probe itself
    result = detect_available_hw_encoders()
    assert isinstance(result, list)
    assert all(name in HW_ENCODERS for name in result)
    assert detect_available_hw_encoders() == result
    out, err = capfd.readouterr()
    assert out == "" and err == ""


def test_resolve_vcodec():
    assert resolve_vcodec("libsvtav1") == "libsvtav1"
    assert resolve_vcodec("h264") == "h264"
    assert resolve_vcodec("h264_nvenc") == "h264_nvenc"  # explicit names pass through unchecked
    detector = "lerobot_stream.datasets.video_utils.detect_available_hw_encoders"
    with patch(detector, return_value=[]):
        assert resolve_vcodec("auto") == "libsvtav1"
    with patch(detector, return_value=["h264_videotoolbox"]):
        assert resolve_vcodec("auto") == "h264_videotoolbox"
    with patch(
        "lerobot_stream.datasets.video_utils.detect_available_hw_encoders", return_value=["h264_qsv", "h264_nvenc"]
    ):
        assert resolve_vcodec("auto") == "h264_nvenc"  # preference order, not detection order
    assert resolve_vcodec("auto") in VALID_VIDEO_CODECS
    with pytest.raises(ValueError, match="Invalid vcodec") as info:
        resolve_vcodec("not_a_real_codec")
    assert "libsvtav1" in str(info.value)


@pytest.mark.skipif(not hasattr(os, "sched_getscheduler"), reason="POSIX scheduling policies")
def test_encoding_in_process_leaves_the_callers_thread_at_its_policy(tmp_path):
    # SVT-AV1 opened by root turns the opening thread SCHED_FIFO; LeRobot's in-process paths must undo that.
    before = os.sched_getscheduler(0)
    encoder = EpisodeEncoder(tmp_path / "a.mp4", EncoderSettings(30, threads=1))
    for index in range(3):
        encoder.add(index, np.zeros((64, 96, 3), dtype=np.uint8))
    encoder.finish()
    assert os.sched_getscheduler(0) == before
