"""Codec names, the FFmpeg options each codec family takes, thread bounds and the hardware probe.

The tables and option rules are LeRobot's (v0.5's keyword API and v0.6's encoder configs); they live here rather than in
``lerobot_stream`` because the encoder processes need them and dependencies point one way
(``lerobot_stream -> workers -> shm``). ``lerobot_stream.datasets.video_utils`` re-exports them.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

from workers.svt import encoded_preset

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
#: Every ``vcodec`` accepted (LeRobot's list; the config objects export it under LeRobot's name).
VALID_VIDEO_CODECS: frozenset[str] = frozenset({"h264", "hevc", "libsvtav1", "libaom-av1", "auto", *HW_ENCODERS})

#: The software codecs whose quality option is ``crf``.
SOFTWARE_CRF_CODECS = ("h264", "hevc", "libsvtav1")
#: SVT-AV1's preset when none is given (LeRobot's default).
LIBSVTAV1_DEFAULT_PRESET = 12


def is_hardware_encoder(vcodec: str) -> bool:
    return vcodec in HW_ENCODERS


def available_cores() -> int:
    """Cores this process may run on (respects CPU affinity and container cpusets on Linux)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def default_encoder_threads(num_streams: int) -> int:
    """Threads per encoder when the caller leaves ``encoder_threads=None``.

    One single-threaded SVT-AV1 encoder per core turns out as many frames as one encoder on every core, or a few
    per cent more (1.01-1.08x on 2 cores: `benchmarks.microbench` ``thread_split``,
    ``benchmarks/results/2026-12-06-xeon-2vcpu-microbench-pyav*.txt``), with one thread per core where every
    encoder starting a thread per core would put ``cores x streams`` threads against the recording loop; so the
    cores are split between the streams.
    """
    return max(1, available_cores() // max(1, num_streams))


def thread_bound(encoder_threads: int | None, num_streams: int, bound: bool = True) -> int | None:
    """The thread count an encoder gets: the caller's ``encoder_threads`` when given, else
    `default_encoder_threads` (or, with ``bound=False``, None: the codec's own default, every core, as
    LeRobot leaves it). The one place this is decided, for every host and path."""
    if encoder_threads is not None:
        return encoder_threads
    return default_encoder_threads(num_streams) if bound else None


def encoder_options(
    vcodec: str,
    *,
    g: int | None = 2,
    crf: int | float | None = 30,
    preset: int | str | None = None,
    fast_decode: int | None = 0,
    extra_options: dict[str, Any] | None = None,
    encoder_threads: int | None = None,
    as_strings: bool = False,
) -> dict[str, Any]:
    """The FFmpeg options one stream is opened with: LeRobot v0.6's mapping of the encoder settings.

    This is the single codec policy of the project: `VideoEncoderConfig.get_codec_options` returns it and
    the encoder processes open their streams with it.

    * ``g`` always (a generic codec option);
    * libsvtav1: ``crf``, ``preset``, ``svtav1-params`` = ``fast-decode=<0..2>`` and ``lp=<threads>``;
    * h264/hevc (x264/x265): ``crf``, ``preset``, ``tune=fastdecode`` when ``fast_decode``, ``threads``;
    * libaom-av1: ``crf``, ``preset``, ``threads`` with ``row-mt=1``;
    * videotoolbox: ``q:v`` = ``clamp(100 - 2 * crf, 1, 100)``; nvenc: constant QP (``rc=0``, ``qp``) and
      ``preset``; vaapi: ``qp``; qsv: ``global_quality`` and ``preset``; hardware encoders take no thread
      bound (their work runs on the device).

    ``extra_options`` are merged last and never replace one of the keys above - except
    ``svtav1-params``, whose entries are appended after ours (so ``{"svtav1-params": "tune=0"}`` works;
    LeRobot v0.6 drops it silently).
    """
    options: dict[str, Any] = {}

    def put(key: str, value: Any) -> None:
        if value is not None:
            options[key] = str(value) if as_strings else value

    put("g", g)
    if vcodec == "libsvtav1":
        put("crf", crf)
        put("preset", preset)
        params = []
        if fast_decode is not None:
            params.append(f"fast-decode={max(0, min(2, int(fast_decode)))}")
        if encoder_threads is not None:
            params.append(f"lp={encoder_threads}")
        extra_params = (extra_options or {}).get("svtav1-params")
        if extra_params:
            params.append(str(extra_params))
        if params:
            put("svtav1-params", ":".join(params))
    elif vcodec in ("h264", "hevc", "libx264", "libx265"):
        put("crf", crf)
        put("preset", preset)
        if fast_decode:
            put("tune", "fastdecode")
        put("threads", encoder_threads)
    elif vcodec == "libaom-av1":
        put("crf", crf)
        put("preset", preset)
        if encoder_threads is not None:
            put("threads", encoder_threads)
            put("row-mt", 1)
    elif vcodec.endswith("_videotoolbox"):
        if crf is not None:
            put("q:v", max(1, min(100, int(100 - 2 * crf))))
    elif vcodec.endswith("_nvenc"):
        put("rc", 0)  # constqp
        put("qp", crf)
        put("preset", preset)
    elif vcodec.endswith("_vaapi"):
        put("qp", crf)
    elif vcodec.endswith("_qsv"):
        put("global_quality", crf)
        put("preset", preset)
    else:
        put("crf", crf)
        put("preset", preset)
    for key, value in (extra_options or {}).items():
        if key not in options:
            put(key, value)
    return options


@dataclass(frozen=True)
class DepthQuantization:
    """How depth maps become 12-bit codes (LeRobot v0.6's quantizer); distances in metres."""

    depth_min: float = 0.01
    depth_max: float = 10.0
    shift: float = 3.5
    use_log: bool = True


def threads_for(vcodec: str, threads: int | None) -> int | None:
    """The thread count ``vcodec`` is given: none for a hardware encoder (it runs on its device; some reject the
    option), ``threads`` otherwise."""
    return None if is_hardware_encoder(vcodec) else threads


#: The fields that make an encoder config a depth stream's (LeRobot v0.6's ``DepthEncoderConfig``).
DEPTH_CONFIG_FIELDS = ("depth_min", "depth_max", "shift", "use_log")


def is_depth_config(config: Any) -> bool:
    """Whether an encoder config object (ours or LeRobot's, read by attribute) describes a depth stream."""
    return config is not None and all(hasattr(config, name) for name in DEPTH_CONFIG_FIELDS)


@dataclass(frozen=True)
class EncoderSettings:
    """How one stream is encoded; plain data, so the recorder sends it to an encoder process as is.

    Built from LeRobot's keyword settings (v0.5) or from an encoder config object (v0.6, ours or
    LeRobot's own: `from_config`). ``depth`` is set for depth-map streams.
    """

    fps: int
    vcodec: str = "libsvtav1"
    pix_fmt: str = "yuv420p"
    g: int | None = 2
    crf: int | float | None = 30
    preset: int | str | None = None
    #: The effective thread bound (already resolved from the caller's ``encoder_threads``).
    threads: int | None = None
    extra_options: dict[str, Any] = field(default_factory=dict)
    fast_decode: int = 0
    depth: DepthQuantization | None = None

    @classmethod
    def from_config(cls, config: Any, fps: int, threads: int | None) -> EncoderSettings:
        """Settings from a ``VideoEncoderConfig``-like object (lerobot_stream's or LeRobot's own).

        Read by attribute, so this package needs neither; a config with ``depth_min``/``depth_max``/
        ``shift``/``use_log`` describes a depth stream.
        """
        depth = None
        if is_depth_config(config):
            depth = DepthQuantization(
                float(config.depth_min), float(config.depth_max), float(config.shift), bool(config.use_log)
            )
        return cls(
            fps=int(fps),
            vcodec=config.vcodec,
            pix_fmt=config.pix_fmt,
            g=config.g,
            crf=config.crf,
            preset=config.preset,
            threads=threads_for(config.vcodec, threads),
            extra_options=dict(getattr(config, "extra_options", None) or {}),
            fast_decode=int(getattr(config, "fast_decode", 0) or 0),
            depth=depth,
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able values: the settings travel in files (a row journal, a backlog's spill file) that
        recovery reads after the recorder and its encoders are gone."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> EncoderSettings:
        """The inverse of `to_dict`."""
        values = dict(values)
        depth = values.pop("depth", None)
        return cls(**values, depth=DepthQuantization(**depth) if depth else None)

    @property
    def is_depth(self) -> bool:
        return self.depth is not None

    @property
    def time_base(self) -> Fraction:
        return Fraction(1, int(self.fps))

    @property
    def effective_preset(self) -> int | str | None:
        if self.preset is None and self.vcodec == "libsvtav1":
            return LIBSVTAV1_DEFAULT_PRESET
        return self.preset

    def stream_options(self) -> dict[str, str]:
        """The FFmpeg options this stream is opened with (thread bound included, see `encoder_options`;
        SVT-AV1 4's M11 presets are opened as M10, see `workers.svt`)."""
        preset = encoded_preset(self.effective_preset) if self.vcodec == "libsvtav1" else self.effective_preset
        return encoder_options(
            self.vcodec,
            g=self.g,
            crf=self.crf,
            preset=preset,
            fast_decode=self.fast_decode,
            extra_options=self.extra_options,
            encoder_threads=threads_for(self.vcodec, self.threads),
            as_strings=True,
        )

    def describe(self) -> dict[str, object]:
        """The settings actually used, as recorded in a dataset's ``info.json`` (LeRobot v0.6's
        ``video.<field>`` keys, plus the encoder name and the thread bound used)."""
        info: dict[str, object] = {
            "video.g": self.g,
            "video.crf": self.crf,
            "video.preset": self.effective_preset,
            "video.fast_decode": self.fast_decode,
            "video.video_backend": "pyav",
            "video.extra_options": dict(self.extra_options),
            "video.encoder": self.vcodec,
            "video.encoder_threads": self.threads,
        }
        if self.depth is not None:
            info.update(
                {
                    "video.depth_min": self.depth.depth_min,
                    "video.depth_max": self.depth.depth_max,
                    "video.shift": self.depth.shift,
                    "video.use_log": self.depth.use_log,
                }
            )
        return info


def resolve_settings(
    config: Any, fps: int, encoder_threads: int | None = None, streams: int = 1, bound: bool = True
) -> EncoderSettings:
    """How one stream of a ``streams``-stream recording is encoded: the codec policy, in one place.

    ``config`` is an encoder config (ours or LeRobot's); the caller's ``encoder_threads`` wins, else the
    cores are split between the streams (`thread_bound`). Every path uses this - the streaming encoder, the
    dataset writer's PNG path and the settings it records in ``info.json``, LeRobot's thread host and the
    benchmark - so what is recorded is what was used.
    """
    return EncoderSettings.from_config(config, fps, thread_bound(encoder_threads, streams, bound))


def quiet_codec_log(vcodec: str, options: dict[str, str], level: str) -> dict[str, str]:
    """``options`` with the codec's own console log turned down to ``level`` where FFmpeg's log level does
    not reach it: x265 prints a banner and an encode summary to stderr on every stream otherwise.
    (SVT-AV1's equivalent is the ``SVT_LOG`` environment variable, set for the encoder processes.)"""
    if vcodec not in ("hevc", "libx265"):
        return options
    params = options.get("x265-params")
    return {**options, "x265-params": f"{params}:log-level={level}" if params else f"log-level={level}"}


def check_vcodec(vcodec: str) -> None:
    """``ValueError`` (LeRobot's message) unless ``vcodec`` is one of `VALID_VIDEO_CODECS`."""
    if vcodec not in VALID_VIDEO_CODECS:
        raise ValueError(f"Invalid vcodec '{vcodec}'. Must be one of: {sorted(VALID_VIDEO_CODECS)}")


def compatible_pix_fmt(vcodec: str, pix_fmt: str) -> str:
    """SVT-AV1 and x265 in PyAV's wheels only take 4:2:0 here; fall back to ``yuv420p`` with a warning."""
    if vcodec in ("libsvtav1", "hevc") and pix_fmt == "yuv444p":
        logger.warning("Incompatible pixel format 'yuv444p' for codec %s, using 'yuv420p' instead", vcodec)
        return "yuv420p"
    return pix_fmt
