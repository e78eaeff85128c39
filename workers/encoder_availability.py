"""Which encoders really encode on this machine: software ones this PyAV's FFmpeg has, hardware ones that encode
a probe frame (a GPU's encoder compiled into FFmpeg proves nothing without the GPU), and the choice behind
``vcodec="auto"``. Probes are cached for the life of the process and print nothing; PyAV is imported only when
a probe runs, so importing this module stays cheap.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from fractions import Fraction

from workers.codecs import HW_ENCODERS, VALID_VIDEO_CODECS, check_vcodec, is_hardware_encoder
from workers.errors import EncoderUnavailable

logger = logging.getLogger(__name__)


def probe_encoder(name: str, width: int = 256, height: int = 256) -> bool:
    """True if ``name`` can open *and* encode a small frame here.

    Being compiled into FFmpeg proves nothing: PyAV's wheels ship nvenc on machines without an NVIDIA GPU
    and the encoder only fails when it is opened. FFmpeg's own log is silent by default under PyAV, so
    the probe prints nothing.
    """
    import av  # local: keep importing this module cheap for processes that never encode

    try:
        codec = av.codec.Codec(name, "w")
    except Exception:
        logger.debug("HW encoder '%s' not available (not in this FFmpeg build)", name)
        return False
    try:
        context = av.CodecContext.create(codec, "w")
        formats = [f.name for f in (codec.video_formats or [])]
        pix_fmt = "yuv420p" if not formats or "yuv420p" in formats else ("nv12" if "nv12" in formats else formats[0])
        context.width, context.height = width, height
        context.pix_fmt = pix_fmt
        context.time_base = Fraction(1, 30)
        context.framerate = Fraction(30, 1)
        frame = av.VideoFrame(width, height, "yuv420p").reformat(format=pix_fmt)
        frame.pts = 0
        packets = list(context.encode(frame)) + list(context.encode(None))
        ok = len(packets) > 0
    except Exception as exc:
        logger.debug("HW encoder '%s' not available: %s", name, exc)
        return False
    logger.debug("HW encoder '%s' %s", name, "works" if ok else "produced no packet")
    return ok


_hw_encoders_found: list[str] | None = None


def detect_hw_encoders() -> list[str]:
    """Hardware encoders that really encode a frame on this machine, in order of preference.

    Each candidate is opened and fed one small frame (`probe_encoder`); the result is cached for the life of
    the process. Never raises; prints nothing.
    """
    global _hw_encoders_found
    if _hw_encoders_found is None:
        found = []
        for name in HW_ENCODERS:
            try:
                if probe_encoder(name):
                    found.append(name)
            except Exception as exc:  # a probe must never take the caller down
                logger.debug("HW encoder '%s' probe failed: %s", name, exc)
        _hw_encoders_found = found
    return list(_hw_encoders_found)


def resolve_vcodec(vcodec: str, hw_encoders: Callable[[], list[str]] = detect_hw_encoders) -> str:
    """Validate ``vcodec``; ``"auto"`` becomes the first working hardware encoder (``hw_encoders()``, called
    only then), else ``"libsvtav1"``."""
    check_vcodec(vcodec)
    if vcodec != "auto":
        logger.debug("Using video codec: %s", vcodec)
        return vcodec
    available = hw_encoders()
    for name in HW_ENCODERS:
        if name in available:
            logger.info("Auto-selected video codec: %s", name)
            return name
    logger.info("No hardware encoder available, falling back to software encoder 'libsvtav1'")
    return "libsvtav1"


def software_encoder_available(vcodec: str) -> bool:
    """Whether this PyAV's FFmpeg has an encoder for ``vcodec`` (cheap: a lookup, nothing is opened)."""
    import av

    try:
        av.codec.Codec(vcodec, "w")
    except Exception:
        return False
    return True


def usable_vcodecs() -> list[str]:
    """The ``vcodec`` names that encode here: software encoders this FFmpeg has, probed hardware ones, ``auto``."""
    software = [name for name in ("libsvtav1", "h264", "hevc", "libaom-av1") if software_encoder_available(name)]
    return [*software, *detect_hw_encoders(), "auto"]


def check_encoder_usable(vcodec: str) -> None:
    """Raise `EncoderUnavailable` unless ``vcodec`` can encode on this machine - checked before a recording
    writes anything, where the alternative is an encoder process failing on the first frame. Hardware encoders
    are probed by encoding one frame (`detect_hw_encoders`, cached); software ones are looked up."""
    if vcodec == "auto":
        return
    if vcodec not in VALID_VIDEO_CODECS:
        reason = "not a codec lerobot_stream knows"
    elif is_hardware_encoder(vcodec):
        reason = (
            None
            if vcodec in detect_hw_encoders()
            else "it did not encode a probe frame: no such hardware or driver here"
        )
    else:
        reason = None if software_encoder_available(vcodec) else "this PyAV's FFmpeg has no encoder for it"
    if reason is not None:
        raise EncoderUnavailable(
            f"vcodec {vcodec!r} cannot encode on this machine ({reason}); usable here: {', '.join(usable_vcodecs())}"
        )
