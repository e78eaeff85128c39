"""`StreamingVideoEncoder`'s constructor arguments, in both of LeRobot's forms, normalised and checked.

* v0.6: ``(fps, rgb_encoder=None, depth_encoder=None, queue_maxsize=30, encoder_threads=None)`` with encoder
  config objects;
* v0.5: ``(fps, vcodec="libsvtav1", pix_fmt="yuv420p", g=2, crf=30, preset=None, queue_maxsize=30,
  encoder_threads=None)``, by keyword or positionally (`lerobot_stream.compat.signatures`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from lerobot_stream.compat.signatures import bind_v05, is_codec_name
from lerobot_stream.configs.video import UNSET, rgb_config_from_keywords


@dataclass(frozen=True)
class EncoderArguments:
    """The settings the encoder is built from; ``None`` encoder configs mean LeRobot's defaults."""

    rgb_encoder: Any
    depth_encoder: Any
    queue_maxsize: Any
    encoder_threads: int | None


def normalise_arguments(
    fps: Any,
    rgb_encoder: Any,
    depth_encoder: Any,
    queue_maxsize: Any,
    encoder_threads: Any,
    legacy_positional: tuple,
    vcodec: str | None,
    pix_fmt: str | None,
    g: Any = UNSET,
    crf: Any = UNSET,
    preset: Any = UNSET,
) -> EncoderArguments:
    """One set of settings from either form; ``TypeError`` for a mix of both (the values themselves are checked by
    `lerobot_stream.recorder.streaming_encoder.EncoderService`)."""
    if is_codec_name(rgb_encoder):  # v0.5, positionally: the codec name lands where v0.6 has rgb_encoder
        given = bind_v05(
            "StreamingVideoEncoder", (rgb_encoder, depth_encoder, queue_maxsize, encoder_threads, *legacy_positional)
        )
        vcodec, pix_fmt = given["vcodec"], given.get("pix_fmt", "yuv420p")
        g, crf, preset = given.get("g", 2), given.get("crf", 30), given.get("preset")
        queue_maxsize, encoder_threads = given.get("queue_maxsize", 30), given.get("encoder_threads")
        rgb_encoder = depth_encoder = None
    elif legacy_positional:
        raise TypeError("StreamingVideoEncoder takes at most 5 positional arguments with encoder configs")
    keyword_style = vcodec is not None or pix_fmt is not None or UNSET not in (g, crf, preset)
    if keyword_style and rgb_encoder is not None:
        raise TypeError("Pass either rgb_encoder (LeRobot v0.6) or vcodec/pix_fmt/g/crf/preset (v0.5), not both")
    if keyword_style:
        rgb_encoder = rgb_config_from_keywords(vcodec, pix_fmt, g, crf, preset)
    return EncoderArguments(rgb_encoder, depth_encoder, queue_maxsize, encoder_threads)
