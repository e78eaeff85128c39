"""LeRobot v0.6's ``lerobot.datasets.pyav_utils`` names: what the installed PyAV/FFmpeg can encode, and checks of
encoder settings against it (`workers.pyav_checks`)."""

from workers.pyav_checks import (
    check_video_encoder_parameters_pyav,
    detect_available_encoders_pyav,
    get_codec,
    get_pix_fmt_channels,
    write_u16_plane,
)

__all__ = [
    "check_video_encoder_parameters_pyav",
    "detect_available_encoders_pyav",
    "get_codec",
    "get_pix_fmt_channels",
    "write_u16_plane",
]
