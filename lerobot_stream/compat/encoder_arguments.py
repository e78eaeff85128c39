"""`StreamingVideoEncoder`'s constructor arguments, in both of LeRobot's forms, normalised and checked.

* v0.6: ``(fps, rgb_encoder=None, depth_encoder=None, queue_maxsize=30, encoder_threads=None)`` with encoder
  config objects;
* v0.5: ``(fps, vcodec="libsvtav1", pix_fmt="yuv420p", g=2, crf=30, preset=None, queue_maxsize=30,
  encoder_threads=None)``, by keyword or positionally - told apart by the second positional argument being a
  codec name.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from lerobot_stream.configs.video import UNSET, rgb_config_from_keywords


@dataclass(frozen=True)
class EncoderArguments:
    """The settings the encoder is built from; ``None`` encoder configs mean LeRobot's defaults."""

    rgb_encoder: Any
    depth_encoder: Any
    queue_maxsize: int
    encoder_threads: int | None


def check_positive_int(name: str, value: Any, allow_none: bool = False) -> None:
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive integer{' or None' if allow_none else ''}, got {value!r}")


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
    """One set of settings from either form; ``TypeError`` for a mix of both, ``ValueError`` for a bad value."""
    if isinstance(rgb_encoder, str):  # v0.5 positional: vcodec, pix_fmt, g, crf, preset, queue_maxsize, threads
        legacy = (rgb_encoder, depth_encoder, queue_maxsize, encoder_threads, *legacy_positional)
        if len(legacy) > 7:
            raise TypeError(f"StreamingVideoEncoder takes at most 8 positional arguments, got {len(legacy) + 1}")
        names = ("vcodec", "pix_fmt", "g", "crf", "preset", "queue_maxsize", "encoder_threads")
        defaults = {"pix_fmt": "yuv420p", "g": 2, "crf": 30, "preset": None, "queue_maxsize": 30}
        values = {**defaults, **dict(zip(names, legacy, strict=False))}
        vcodec, pix_fmt, g, crf, preset = (values[n] for n in names[:5])
        queue_maxsize, encoder_threads = values["queue_maxsize"], values.get("encoder_threads")
        rgb_encoder = depth_encoder = None
    elif legacy_positional:
        raise TypeError("StreamingVideoEncoder takes at most 5 positional arguments with encoder configs")
    check_positive_int("fps", fps)
    check_positive_int("queue_maxsize", queue_maxsize)
    check_positive_int("encoder_threads", encoder_threads, allow_none=True)
    keyword_style = vcodec is not None or pix_fmt is not None or UNSET not in (g, crf, preset)
    if keyword_style and rgb_encoder is not None:
        raise TypeError("Pass either rgb_encoder (LeRobot v0.6) or vcodec/pix_fmt/g/crf/preset (v0.5), not both")
    if keyword_style:
        rgb_encoder = rgb_config_from_keywords(vcodec, pix_fmt, g, crf, preset)
    return EncoderArguments(rgb_encoder, depth_encoder, int(queue_maxsize), encoder_threads)
