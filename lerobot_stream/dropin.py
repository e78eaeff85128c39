"""Use lerobot_stream's encoder inside LeRobot's own recorder, without switching datasets or scripts.

LeRobot v0.5.x and v0.6.x build their streaming encoder in one place,
``LeRobotDataset._build_streaming_encoder``, which calls the module-level name
``lerobot.datasets.lerobot_dataset.StreamingVideoEncoder``. `install` replaces that name with
`LeRobotSeamEncoder`, so every dataset LeRobot creates or resumes with ``streaming_encoding=True`` records
through one encoder process per camera (depth cameras included), with LeRobot's own settings: v0.5's
keywords or v0.6's ``RGBEncoderConfig``/``DepthEncoderConfig`` objects are accepted as they are.

    import lerobot_stream.dropin
    lerobot_stream.dropin.install()      # before LeRobotDataset.create(...) / resume(...)

or, for LeRobot's recording script, ``lerobot-stream-record`` in place of ``lerobot-record`` (same
arguments; add ``--dataset.streaming_encoding=true``).

The episode files are written as regular (not fragmented) MP4s here, because LeRobot's own concatenation
reads them back: under PyAV 15 it mistimes fragmented input.
"""

from __future__ import annotations

import importlib
import logging
import sys
from importlib import metadata
from typing import Any

from lerobot_stream.datasets.video_utils import StreamingVideoEncoder

logger = logging.getLogger(__name__)

_SEAM_MODULE = "lerobot.datasets.lerobot_dataset"
_SEAM_NAME = "StreamingVideoEncoder"
_original: Any = None
#: LeRobot's own ``DatasetWriter.__init__`` while `install` has wrapped it (see `_warm_up_when_writers_are_built`).
_original_writer_init: Any = None


class LeRobotSeamEncoder(StreamingVideoEncoder):
    """lerobot_stream's encoder as LeRobot's dataset writer builds it (see the module docstring)."""

    def __init__(self, *args: Any, **kwargs: Any):
        kwargs.setdefault("fragmented", False)
        super().__init__(*args, **kwargs)


def lerobot_version() -> str | None:
    """The installed LeRobot's version, or None if LeRobot is not installed."""
    try:
        return metadata.version("lerobot")
    except metadata.PackageNotFoundError:
        return None


def install() -> str:
    """Make the installed LeRobot build lerobot_stream's encoder; returns LeRobot's version. Idempotent.

    Raises ``RuntimeError`` if LeRobot is not installed or is a version without the seam (before v0.5).
    """
    global _original
    version = lerobot_version()
    if version is None:
        raise RuntimeError("LeRobot is not installed in this environment: there is no recorder to plug into.")
    module = importlib.import_module(_SEAM_MODULE)
    dataset_class = getattr(module, "LeRobotDataset", None)
    if not hasattr(module, _SEAM_NAME) or not hasattr(dataset_class, "_build_streaming_encoder"):
        raise RuntimeError(
            f"LeRobot {version} has no streaming-encoder seam ({_SEAM_MODULE}.LeRobotDataset._build_streaming_encoder);"
            " lerobot_stream plugs into LeRobot v0.5 and v0.6."
        )
    current = getattr(module, _SEAM_NAME)
    if current is not LeRobotSeamEncoder:
        _original = current
        setattr(module, _SEAM_NAME, LeRobotSeamEncoder)
        _warm_up_when_writers_are_built()
        logger.info("LeRobot %s now records with lerobot_stream's encoder processes", version)
    return version


def _warm_up_when_writers_are_built() -> None:
    """Start the encoder processes when LeRobot builds its dataset writer, not at the first ``add_frame``.

    LeRobot's writer starts an episode on the first frame and never warms its encoder up, so the process
    start-up (~0.3-1 s) would stall the robot's first control tick. The writer knows the cameras
    (``_meta.video_keys``, their shapes, ``_meta.depth_keys`` in v0.6): right after it is built, the
    encoder processes are started and the rings allocated.
    """
    global _original_writer_init
    try:
        writer_class = importlib.import_module("lerobot.datasets.dataset_writer").DatasetWriter
    except (ImportError, AttributeError):
        return
    if _original_writer_init is not None:
        return
    _original_writer_init = original = writer_class.__init__

    def init_and_warm_up(self, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        encoder, meta = getattr(self, "_streaming_encoder", None), getattr(self, "_meta", None)
        if not isinstance(encoder, LeRobotSeamEncoder) or meta is None or not meta.video_keys:
            return
        depth_keys = [k for k in getattr(meta, "depth_keys", []) if k in meta.video_keys]
        shapes = {key: tuple(meta.features[key]["shape"]) for key in meta.video_keys}
        try:
            encoder.warm_up(list(meta.video_keys), shapes, depth_keys)
        except Exception as exc:  # the first episode then starts them, as before
            logger.warning("Could not start the encoder processes ahead of the first frame: %s", exc)

    writer_class.__init__ = init_and_warm_up


def uninstall() -> None:
    """Give LeRobot its own encoder back (after `install`)."""
    global _original
    global _original_writer_init
    module = sys.modules.get(_SEAM_MODULE)
    if module is not None and _original is not None:
        setattr(module, _SEAM_NAME, _original)
    _original = None
    if _original_writer_init is not None:
        importlib.import_module("lerobot.datasets.dataset_writer").DatasetWriter.__init__ = _original_writer_init
        _original_writer_init = None


def record_main() -> None:
    """``lerobot-stream-record``: LeRobot's ``lerobot-record`` with lerobot_stream's encoder plugged in."""
    logging.basicConfig(level=logging.INFO)
    try:
        version = install()
    except RuntimeError as exc:
        print(f"lerobot-stream-record: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    print(f"lerobot-stream-record: LeRobot {version} with lerobot_stream's encoder processes", file=sys.stderr)
    from lerobot.scripts.lerobot_record import main

    main()
