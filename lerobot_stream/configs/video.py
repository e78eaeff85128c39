"""Encoder settings as objects: LeRobot v0.6's ``lerobot.configs.video`` names, fields and defaults.

A v0.6 user switches by changing the import prefix. The configs are plain dataclasses: they pickle and
``dataclasses.asdict`` them; the encoder processes never receive them, they receive the
`workers.codecs.EncoderSettings` built from them (plain data of this library's worker package).

Differences from LeRobot v0.6.1, on purpose:

* ``vcodec="auto"`` picks a hardware encoder only if it encoded a probe frame on this machine
  (`lerobot_stream.datasets.video_utils.detect_available_hw_encoders`); LeRobot picks the first one
  compiled into FFmpeg, which fails on machines without the device.
* Settings are checked on every PyAV version (`workers.pyav_checks`), not only where PyAV
  describes codec options.
* `DepthEncoderConfig` also checks its quantizer when it is built (``depth_max > depth_min``,
  ``depth_min + shift > 0`` in log mode) and that ``pix_fmt`` is a 16-bit grey format that can hold the
  12-bit codes; LeRobot finds out on the first frame.
* ``extra_options["svtav1-params"]`` is appended to the SVT-AV1 parameters this library sets instead of
  being dropped (`workers.codecs.encoder_options`).
"""

from __future__ import annotations

import logging
from dataclasses import MISSING, dataclass, field, fields
from typing import Any, ClassVar, TypeVar

import numpy as np

from workers.codecs import (
    DEPTH_CONFIG_FIELDS,
    HW_ENCODERS,
    LIBSVTAV1_DEFAULT_PRESET,
    VALID_VIDEO_CODECS,
    check_vcodec,
    compatible_pix_fmt,
    encoder_options,
)
from workers.codecs import DepthQuantization as _DepthQuantization
from workers.depth import DEPTH_PIX_FMTS, DEPTH_QMAX, DEPTH_QUANT_BITS, check_quantization
from workers.encoder_availability import resolve_vcodec
from workers.pyav_checks import check_video_encoder_parameters_pyav, detect_available_encoders_pyav

logger = logging.getLogger(__name__)

#: Hardware encoders in order of preference for ``vcodec="auto"``.
HW_VIDEO_CODECS: list[str] = list(HW_ENCODERS)
#: Codec names as streams report them, mapped to the encoder that writes them.
VIDEO_CODECS_ALIASES: dict[str, str] = {"av1": "libsvtav1"}

#: Config fields stored in a video feature's ``info`` as ``video.<name>`` (codec and pix_fmt come from the file).
VIDEO_ENCODER_INFO_FIELD_NAMES: frozenset[str] = frozenset(
    {"g", "crf", "preset", "fast_decode", "extra_options", "video_backend"}
)
VIDEO_ENCODER_INFO_KEYS: frozenset[str] = frozenset(f"video.{name}" for name in VIDEO_ENCODER_INFO_FIELD_NAMES)
DEPTH_ENCODER_INFO_FIELD_NAMES: frozenset[str] = frozenset(DEPTH_CONFIG_FIELDS)

# LeRobot's names for the quantizer's defaults, whose home is `workers.codecs.DepthQuantization`.
DEFAULT_DEPTH_MIN: float = _DepthQuantization.depth_min
DEFAULT_DEPTH_MAX: float = _DepthQuantization.depth_max
DEFAULT_DEPTH_SHIFT: float = _DepthQuantization.shift
DEFAULT_DEPTH_USE_LOG: bool = _DepthQuantization.use_log
DEFAULT_DEPTH_PIX_FMT: str = "gray12le"
DEPTH_METER_UNIT: str = "m"
DEPTH_MILLIMETER_UNIT: str = "mm"
DEFAULT_DEPTH_UNIT: str = DEPTH_MILLIMETER_UNIT

__all__ = [
    "DEFAULT_DEPTH_UNIT",
    "DEPTH_METER_UNIT",
    "DEPTH_MILLIMETER_UNIT",
    "DEPTH_QMAX",
    "DEPTH_QUANT_BITS",
    "HW_VIDEO_CODECS",
    "VALID_VIDEO_CODECS",
    "VIDEO_ENCODER_INFO_KEYS",
    "DepthEncoderConfig",
    "RGBEncoderConfig",
    "VideoEncoderConfig",
    "depth_encoder_defaults",
    "encoder_config_from_video_info",
    "infer_depth_unit",
    "is_depth_map",
    "rgb_encoder_defaults",
]

_Config = TypeVar("_Config", bound="VideoEncoderConfig")


def infer_depth_unit(dtype: np.dtype | type) -> str:
    """``"m"`` for floating-point depth frames, ``"mm"`` for integer ones."""
    return DEPTH_METER_UNIT if np.issubdtype(np.dtype(dtype), np.floating) else DEPTH_MILLIMETER_UNIT


def is_depth_map(feature: dict) -> bool:
    """Whether a feature spec is a depth map (``info.is_depth_map``, or the legacy ``video.is_depth_map``)."""
    info = feature.get("info") or {}
    video_info = feature.get("video_info") or {}
    return bool(info.get("is_depth_map") or info.get("video.is_depth_map") or video_info.get("video.is_depth_map"))


@dataclass
class VideoEncoderConfig:
    """How a stream is encoded: codec, pixel format, GOP, quality, preset, fast-decode tuning, extra
    FFmpeg options. Checked against the installed FFmpeg when built (``ValueError`` on a problem)."""

    vcodec: str = "libsvtav1"
    pix_fmt: str = "yuv420p"
    g: int | None = 2
    crf: int | float | None = 30
    preset: int | str | None = None
    fast_decode: int = 0
    video_backend: str = "pyav"
    extra_options: dict[str, Any] = field(default_factory=dict)

    #: Channels of the source frames (3 for RGB, 1 for depth); None skips the pix_fmt channel check.
    _DEFAULT_CHANNELS: ClassVar[int | None] = None

    def __post_init__(self) -> None:
        self.resolve_vcodec()
        if self.preset is None and self.vcodec == "libsvtav1":
            self.preset = LIBSVTAV1_DEFAULT_PRESET
        self.validate()

    @classmethod
    def unchecked(cls: type[_Config], **values: Any) -> _Config:
        """A config with these fields and no check against FFmpeg, for LeRobot v0.5's keyword settings
        (which v0.5 did not check either). Fields not given take their defaults."""
        config = cls.__new__(cls)
        for spec in fields(cls):
            if spec.name in values:
                value = values[spec.name]
            elif spec.default is not MISSING:
                value = spec.default
            else:
                value = spec.default_factory()
            setattr(config, spec.name, value)
        return config

    # -- construction from a dataset's info.json --------------------------------------------------------------
    @classmethod
    def _kwargs_from_video_info(cls, video_info: dict | None) -> dict[str, Any]:
        info = video_info or {}
        kwargs: dict[str, Any] = {}
        for source, name in (("video.codec", "vcodec"), ("video.pix_fmt", "pix_fmt")):
            if info.get(source) is not None:
                kwargs[name] = info[source]
        for name in VIDEO_ENCODER_INFO_FIELD_NAMES:
            value = info.get(f"video.{name}")
            if value is None or (name == "extra_options" and not value):
                continue
            kwargs[name] = value
        return kwargs

    @classmethod
    def from_video_info(cls: type[_Config], video_info: dict | None) -> _Config:
        """Rebuild the config a video was encoded with from its feature's ``info`` block."""
        return cls(**cls._kwargs_from_video_info(video_info))

    # -- checks -----------------------------------------------------------------------------------------------
    def detect_available_encoders(self, encoders: list[str] | str) -> list[str]:
        """The names in ``encoders`` this config's backend can encode with (compiled into FFmpeg)."""
        if self.video_backend != "pyav":
            return []
        return detect_available_encoders_pyav(encoders)

    def resolve_vcodec(self) -> None:
        """Normalise ``vcodec`` (aliases, ``"auto"``) and check that this machine has it."""
        self.vcodec = VIDEO_CODECS_ALIASES.get(self.vcodec, self.vcodec)
        check_vcodec(self.vcodec)
        if self.vcodec == "auto":
            self.vcodec = resolve_vcodec("auto")
        if not self.detect_available_encoders(self.vcodec):
            raise ValueError(f"Unsupported video codec: {self.vcodec} with video backend {self.video_backend}")

    def validate(self) -> None:
        """Check codec, pixel format (against the source channels) and options against FFmpeg."""
        if self.video_backend != "pyav":
            return
        # Every option is checked against what PyAV describes; FFmpeg itself only opens the structured ones:
        # string extra_options pass through unchecked, as in LeRobot v0.6 (a codec may learn new values) - a
        # bad one fails the camera's first frame with the codec's message.
        structured = encoder_options(
            self.vcodec, g=self.g, crf=self.crf, preset=self.preset, fast_decode=self.fast_decode
        )
        check_video_encoder_parameters_pyav(
            self.vcodec,
            self.pix_fmt,
            self.get_codec_options(),
            channels=self._DEFAULT_CHANNELS,
            probe_options=structured,
        )

    # -- FFmpeg options ---------------------------------------------------------------------------------------
    def get_codec_options(self, encoder_threads: int | None = None, as_strings: bool = False) -> dict[str, Any]:
        """The FFmpeg options this config opens a stream with (`workers.codecs.encoder_options`).

        ``encoder_threads`` becomes ``lp`` for SVT-AV1 and ``threads`` for x264/x265/aom; hardware
        encoders ignore it. ``extra_options`` are merged last and never replace a structured field.
        """
        return encoder_options(
            self.vcodec,
            g=self.g,
            crf=self.crf,
            preset=self.preset,
            fast_decode=self.fast_decode,
            extra_options=self.extra_options,
            encoder_threads=encoder_threads,
            as_strings=as_strings,
        )


@dataclass
class RGBEncoderConfig(VideoEncoderConfig):
    """Encoder settings for colour cameras (3-channel frames)."""

    _DEFAULT_CHANNELS: ClassVar[int] = 3


#: "Not given", for LeRobot v0.5 keywords whose None is meaningful (``preset=None``: the codec's default).
UNSET: Any = object()


def rgb_config_from_keywords(
    vcodec: str | None, pix_fmt: str | None = None, g: Any = UNSET, crf: Any = UNSET, preset: Any = UNSET
) -> RGBEncoderConfig:
    """LeRobot v0.5's keyword settings as a config, validated as v0.5 validated them (codec name only)."""
    resolved = resolve_vcodec(vcodec or "libsvtav1")
    return RGBEncoderConfig.unchecked(
        vcodec=resolved,
        pix_fmt=compatible_pix_fmt(resolved, pix_fmt or "yuv420p"),
        g=2 if g is UNSET else g,
        crf=30 if crf is UNSET else crf,
        preset=None if preset is UNSET else preset,
    )


def rgb_encoder_defaults() -> RGBEncoderConfig:
    """LeRobot's RGB defaults: AV1 (SVT-AV1), yuv420p, g=2, crf=30, preset 12."""
    return RGBEncoderConfig()


@dataclass
class DepthEncoderConfig(VideoEncoderConfig):
    """Encoder settings for depth cameras, with the 12-bit quantizer's parameters (metres).

    Defaults: HEVC Main 12, ``gray12le``, lossless (``x265-params: lossless=1``); log quantization
    between 0.01 m and 10 m with a 3.5 m shift.
    """

    vcodec: str = "hevc"
    pix_fmt: str = DEFAULT_DEPTH_PIX_FMT
    extra_options: dict[str, Any] = field(default_factory=lambda: {"x265-params": "lossless=1"})
    depth_min: float = DEFAULT_DEPTH_MIN
    depth_max: float = DEFAULT_DEPTH_MAX
    shift: float = DEFAULT_DEPTH_SHIFT
    use_log: bool = DEFAULT_DEPTH_USE_LOG

    _DEFAULT_CHANNELS: ClassVar[int] = 1

    @classmethod
    def _kwargs_from_video_info(cls, video_info: dict | None) -> dict[str, Any]:
        kwargs = super()._kwargs_from_video_info(video_info)
        for name in DEPTH_ENCODER_INFO_FIELD_NAMES:
            value = (video_info or {}).get(f"video.{name}")
            if value is not None:
                kwargs[name] = value
        return kwargs

    def validate(self) -> None:
        super().validate()
        if self.pix_fmt not in DEPTH_PIX_FMTS:
            raise ValueError(
                f"pix_fmt={self.pix_fmt!r} cannot hold {DEPTH_QUANT_BITS}-bit depth codes; depth streams use one of "
                f"{list(DEPTH_PIX_FMTS)}"
            )
        check_quantization(self.quantization)

    @property
    def quantization(self) -> _DepthQuantization:
        """The quantizer's parameters as the encoder processes take them."""
        return _DepthQuantization(float(self.depth_min), float(self.depth_max), float(self.shift), bool(self.use_log))


def depth_encoder_defaults() -> DepthEncoderConfig:
    """LeRobot's depth defaults (see `DepthEncoderConfig`)."""
    return DepthEncoderConfig()


def encoder_config_from_video_info(video_info: dict | None) -> VideoEncoderConfig:
    """The config class a feature's ``info`` block calls for (depth or RGB), rebuilt from it."""
    info = video_info or {}
    depth = bool(info.get("is_depth_map") or info.get("video.is_depth_map"))
    return (DepthEncoderConfig if depth else RGBEncoderConfig).from_video_info(info)
