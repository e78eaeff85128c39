"""Codec names, the FFmpeg options each codec family takes, thread bounds and the hardware probe.

The tables and option rules are LeRobot's (see ``shared/docs/api.md``); they live here rather than in
``lerobot_stream`` because the encoder processes need them and dependencies point one way
(``lerobot_stream -> workers -> shm``). ``lerobot_stream.datasets.video_utils`` re-exports them.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from fractions import Fraction

logger = logging.getLogger(__name__)

#: Hardware encoders in order of preference for ``vcodec="auto"``.
HW_ENCODERS: list[str] = [
    "h264_videotoolbox",
    "hevc_videotoolbox",
    "h264_nvenc",
    "hevc_nvenc",
    "h264_vaapi",
    "h264_qsv",
]
VALID_VIDEO_CODECS: set[str] = {"h264", "hevc", "libsvtav1", "auto", *HW_ENCODERS}

_SOFTWARE_CRF_CODECS = ("h264", "hevc", "libsvtav1")
_DEFAULT_SVTAV1_PRESET = 12


def is_hardware_encoder(vcodec: str) -> bool:
    return vcodec in HW_ENCODERS


def codec_options(vcodec: str, g: int | None = 2, crf: int | None = 30, preset: int | None = None) -> dict[str, str]:
    """FFmpeg ``stream.options`` for ``vcodec``: GOP, quality and preset, all as strings.

    Each hardware family spells "quality" differently (``q:v``, ``qp``, ``global_quality``); nvenc takes
    no GOP option here because its constant-QP mode is what keeps quality comparable to ``crf``.
    """
    options: dict[str, str] = {}
    is_videotoolbox = vcodec.endswith("_videotoolbox")
    is_nvenc = vcodec.endswith("_nvenc")
    if g is not None and not is_nvenc:
        options["g"] = str(g)
    if crf is not None:
        if vcodec in _SOFTWARE_CRF_CODECS:
            options["crf"] = str(crf)
        elif is_videotoolbox:
            options["q:v"] = str(max(1, min(100, int(100 - 2 * crf))))
        elif is_nvenc:
            options["rc"] = "constqp"
            options["qp"] = str(crf)
        elif vcodec.endswith("_vaapi"):
            options["qp"] = str(crf)
        elif vcodec.endswith("_qsv"):
            options["global_quality"] = str(crf)
    if vcodec == "libsvtav1":
        options["preset"] = str(_DEFAULT_SVTAV1_PRESET if preset is None else preset)
    elif preset is not None and not is_hardware_encoder(vcodec):
        options["preset"] = str(preset)
    return options


def available_cores() -> int:
    """Cores this process may run on (respects CPU affinity and container cpusets on Linux)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def default_encoder_threads(num_cameras: int) -> int:
    """Threads per encoder when the caller leaves ``encoder_threads=None``.

    Several single-threaded encoders beat one multi-threaded encoder (measured: 2 x 107 frames/s with
    ``lp=1`` against 148 frames/s with SVT-AV1's own threads on the same 2 cores), so the cores are split
    between the cameras instead of letting every encoder start a thread per core.
    """
    return max(1, available_cores() // max(1, num_cameras))


def with_thread_limit(vcodec: str, options: dict[str, str], threads: int | None) -> tuple[dict[str, str], int | None]:
    """Apply a thread bound: returns (options, codec-context thread count or None).

    SVT-AV1 takes its bound as ``svtav1-params: lp=N``; x264/x265 through the codec context's thread
    count. Hardware encoders get none (their work is on the device; FFmpeg rejects or ignores it).
    """
    options = dict(options)
    if threads is None or is_hardware_encoder(vcodec):
        return options, None
    if vcodec == "libsvtav1":
        params = options.get("svtav1-params")
        options["svtav1-params"] = f"{params}:lp={threads}" if params else f"lp={threads}"
        return options, None
    return options, threads


@dataclass(frozen=True)
class EncoderSettings:
    """How one camera is encoded; picklable so the recorder can send it to an encoder process."""

    fps: int
    vcodec: str = "libsvtav1"
    pix_fmt: str = "yuv420p"
    g: int | None = 2
    crf: int | None = 30
    preset: int | None = None
    #: The effective thread bound (already resolved from the caller's ``encoder_threads``).
    threads: int | None = None
    extra_options: dict[str, str] = field(default_factory=dict)

    @property
    def time_base(self) -> Fraction:
        return Fraction(1, int(self.fps))

    @property
    def effective_preset(self) -> int | None:
        if self.preset is None and self.vcodec == "libsvtav1":
            return _DEFAULT_SVTAV1_PRESET
        return self.preset

    def stream_options(self) -> tuple[dict[str, str], int | None]:
        """(FFmpeg options, codec-context thread count) for this camera's stream."""
        options = codec_options(self.vcodec, self.g, self.crf, self.preset)
        options.update(self.extra_options)
        return with_thread_limit(self.vcodec, options, self.threads)

    def describe(self) -> dict[str, object]:
        """The settings actually used, as recorded in a dataset's ``info.json``."""
        return {
            "video.g": self.g,
            "video.crf": self.crf,
            "video.preset": self.effective_preset,
            "video.encoder": self.vcodec,
            "video.encoder_threads": self.threads,
        }


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
