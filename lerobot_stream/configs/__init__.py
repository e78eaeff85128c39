"""LeRobot v0.6's ``lerobot.configs`` names for video encoding (the rest of LeRobot's configs - policies,
training - are not part of this library)."""

from lerobot_stream.configs.video import (
    DEFAULT_DEPTH_UNIT,
    DEPTH_METER_UNIT,
    DEPTH_MILLIMETER_UNIT,
    VALID_VIDEO_CODECS,
    VIDEO_ENCODER_INFO_KEYS,
    DepthEncoderConfig,
    RGBEncoderConfig,
    VideoEncoderConfig,
    depth_encoder_defaults,
    encoder_config_from_video_info,
    infer_depth_unit,
    rgb_encoder_defaults,
)

__all__ = [
    "DEFAULT_DEPTH_UNIT",
    "DEPTH_METER_UNIT",
    "DEPTH_MILLIMETER_UNIT",
    "VALID_VIDEO_CODECS",
    "VIDEO_ENCODER_INFO_KEYS",
    "DepthEncoderConfig",
    "RGBEncoderConfig",
    "VideoEncoderConfig",
    "depth_encoder_defaults",
    "encoder_config_from_video_info",
    "infer_depth_unit",
    "rgb_encoder_defaults",
]
