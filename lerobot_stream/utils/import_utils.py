"""Which optional libraries a feature can use here (LeRobot's module of the same name)."""

from __future__ import annotations

#: The only decoder lerobot_stream's reader uses: PyAV, a runtime dependency.
VIDEO_BACKEND = "pyav"


def get_safe_default_video_backend() -> str:
    """The video decoding backend to pass as ``video_backend``: always ``"pyav"`` here.

    LeRobot prefers torchcodec where it loads; lerobot_stream's reader decodes with PyAV whatever it is given
    (`lerobot_stream.datasets.dataset_reader`), so naming anything else would only mislead.
    """
    return VIDEO_BACKEND
