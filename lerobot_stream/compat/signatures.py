"""LeRobot's two argument styles, told apart and mapped in one place.

LeRobot v0.6 passes encoder *config objects* (``RGBEncoderConfig``, ``DepthEncoderConfig``, theirs or ours);
v0.5 passed a codec *name* and loose keywords (``vcodec``, ``pix_fmt``, ``g``, ``crf``, ``preset``), often
positionally. A v0.5 call therefore puts a codec name where v0.6 has a config - that is how the two are told
apart (`is_codec_name`), and nowhere else. Below this package everything takes config objects or
`workers.codecs.EncoderSettings` only.

Each public entry point whose positional order changed has its v0.5 order here, as a table (`V05_ORDERS`):
the arguments that follow the ones both versions share, in order.
"""

from __future__ import annotations

from typing import Any

from lerobot_stream.configs.video import depth_encoder_defaults, rgb_config_from_keywords, rgb_encoder_defaults

#: LeRobot v0.5's positional orders, after the leading arguments both versions share (named in the comment).
V05_ORDERS: dict[str, tuple[str, ...]] = {
    # StreamingVideoEncoder(fps, ...)
    "StreamingVideoEncoder": ("vcodec", "pix_fmt", "g", "crf", "preset", "queue_maxsize", "encoder_threads"),
    # encode_video_frames(imgs_dir, video_path, fps, ...)
    "encode_video_frames": (
        "vcodec",
        "pix_fmt",
        "g",
        "crf",
        "fast_decode",
        "log_level",
        "overwrite",
        "preset",
        "encoder_threads",
    ),
    # _CameraEncoderThread(video_path, fps, ...)
    "_CameraEncoderThread": (
        "vcodec",
        "pix_fmt",
        "g",
        "crf",
        "preset",
        "frame_queue",
        "result_queue",
        "stop_event",
        "encoder_threads",
    ),
}


def is_codec_name(value: Any) -> bool:
    """Is ``value`` - found where LeRobot v0.6 takes an encoder config - a v0.5 codec name?"""
    return isinstance(value, str)


def bind_v05(entry_point: str, values: tuple) -> dict[str, Any]:
    """Name the positional ``values`` of a v0.5 call to ``entry_point`` (those after the shared leading ones)."""
    order = V05_ORDERS[entry_point]
    if len(values) > len(order):
        raise TypeError(
            f"{entry_point} takes at most {len(order)} arguments after its first ones in LeRobot v0.5's form"
        )
    return dict(zip(order, values, strict=False))


def encoder_config(value: Any) -> Any:
    """An encoder config from what a caller of either version passed: a v0.5 codec name becomes the config with
    that codec and LeRobot's defaults; a config (or None: the defaults) is returned as it is."""
    return rgb_config_from_keywords(value) if is_codec_name(value) else value


def dataset_encoder_configs(rgb_encoder: Any, depth_encoder: Any, vcodec: str | None) -> tuple[Any, Any]:
    """``LeRobotDataset.create``/``resume``'s encoder arguments as (RGB config, depth config): v0.6's config
    objects, or v0.5's ``vcodec`` name (by keyword, or positionally where v0.6 has ``rgb_encoder``); None
    becomes LeRobot's defaults."""
    if is_codec_name(rgb_encoder):  # v0.5, positionally: the codec name lands where v0.6 has rgb_encoder
        rgb_encoder, vcodec = None, rgb_encoder
    if vcodec is not None and rgb_encoder is not None:
        raise TypeError("Pass either rgb_encoder (LeRobot v0.6) or vcodec (v0.5), not both")
    if vcodec is not None:
        rgb_encoder = rgb_config_from_keywords(vcodec)
    return (
        rgb_encoder if rgb_encoder is not None else rgb_encoder_defaults(),
        depth_encoder if depth_encoder is not None else depth_encoder_defaults(),
    )
