"""What the installed PyAV/FFmpeg can encode, and checks of encoder settings against it (exported under LeRobot
v0.6's ``lerobot.datasets.pyav_utils`` names by `lerobot_stream.datasets.pyav_utils`; here because they are codec
facts, which the encoder side owns, and the config objects use them too).

Option checks: PyAV up to 16 describes each codec's options (type and range), and a setting is checked
against that description with a message naming the option, the value and the allowed range, as LeRobot
v0.6 does. PyAV 17 and later no longer expose option descriptions; there SVT-AV1's ``crf`` and ``preset``
are checked against FFmpeg's ranges kept here. On every version the check then opens x264/x265/aom once
on a tiny frame size with the settings (a few milliseconds, silently), so FFmpeg itself rejects what the
descriptions cannot tell (an unknown x264 preset) and the error names the codec, the options and FFmpeg's
reason. SVT-AV1 is not opened: it prints a banner and, run as root, makes the opening thread real-time.
Hardware encoders are not opened (they fail without their device). What is not checked here fails the
camera's first frame with the codec's message.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import av
import numpy as np

from workers.codecs import is_hardware_encoder, quiet_codec_log
from workers.depth import plane_rows
from workers.scheduling import calling_thread_policy_kept

logger = logging.getLogger(__name__)

_NUMERIC_OPTION_TYPES = ("INT", "INT64", "UINT64", "FLOAT", "DOUBLE")
_INTEGER_OPTION_TYPES = ("INT", "INT64", "UINT64")
_PROBE_SIZE = 64


def write_u16_plane(plane: Any, src: np.ndarray, fill_value: int | None = None) -> None:
    """Copy a 2-D ``uint16`` image into a 16-bit plane, row by row (FFmpeg pads rows to ``line_size``)."""
    height, width = src.shape
    rows = plane_rows(plane, height)
    if fill_value is not None:
        rows.fill(fill_value)
    rows[:, :width] = src


@functools.cache
def get_pix_fmt_channels(pix_fmt: str) -> int:
    """Number of components of ``pix_fmt`` (3 for yuv420p, 1 for gray12le)."""
    return len(av.VideoFormat(pix_fmt).components)


@functools.cache
def get_codec(vcodec: str) -> av.codec.Codec | None:
    """The write-mode codec ``vcodec`` of this FFmpeg build, or None if it has none."""
    try:
        return av.codec.Codec(vcodec, "w")
    except Exception:
        return None


def detect_available_encoders_pyav(encoders: list[str] | str) -> list[str]:
    """The names in ``encoders`` that this FFmpeg build has as video encoders, in the given order.

    Compiled in, not necessarily usable: `lerobot_stream.datasets.video_utils.detect_available_hw_encoders`
    also encodes a probe frame.
    """
    names = [encoders] if isinstance(encoders, str) else list(encoders)
    found = []
    for name in names:
        codec = get_codec(name)
        if codec is not None and codec.type == "video":
            found.append(name)
        else:
            logger.debug("encoder '%s' not available as a video encoder", name)
    return found


@functools.cache
def _described_options(vcodec: str) -> dict[str, Any] | None:
    """Option name -> PyAV option description, or None where PyAV does not describe options (>= 17)."""
    codec = get_codec(vcodec)
    descriptor = getattr(codec, "descriptor", None)
    if codec is None or descriptor is None:
        return None
    return {option.name: option for option in descriptor.options}


@dataclass(frozen=True)
class _Range:
    """An option description where PyAV gives none: FFmpeg's own type and range for that option."""

    kind: str
    min: float
    max: float
    choices: tuple = ()


#: Options of codecs that are not opened to check them (SVT-AV1 prints a banner and, run as root, changes
#: the opening thread's scheduling): FFmpeg's libsvtav1 option table.
_KNOWN_RANGES: dict[str, dict[str, _Range]] = {
    "libsvtav1": {"crf": _Range("INT", 0, 63), "preset": _Range("INT", -2, 13)},
}
_NOT_OPENED = frozenset(_KNOWN_RANGES)


def _check_described_value(vcodec: str, key: str, value: Any, option: Any) -> None:
    kind = option.kind if isinstance(option, _Range) else option.type.name
    if kind in _NUMERIC_OPTION_TYPES:
        try:
            if isinstance(value, bool):
                raise ValueError
            number = float(value)
        except (TypeError, ValueError):
            raise ValueError(
                f"{key}={value!r} is not numeric; codec {vcodec!r} expects a number for this option."
            ) from None
        if kind in _INTEGER_OPTION_TYPES and not number.is_integer():
            raise ValueError(
                f"{key}={number!r} must be an integer for codec {vcodec!r} "
                f"(FFmpeg option {option.name!r} is {kind}); float values are not allowed."
            )
        low, high = float(option.min), float(option.max)
        if low < high and not low <= number <= high:
            raise ValueError(f"{key}={number} is out of range for codec {vcodec!r}; must be in [{low}, {high}]")
    elif kind == "STRING":
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            raise ValueError(f"{key}={value!r} is not a valid string value for codec {vcodec!r}.")
        choices = [getattr(choice, "name", choice) for choice in (option.choices or [])]
        if choices and str(value) not in choices:
            raise ValueError(
                f"{key}={str(value)!r} is not a supported choice for codec {vcodec!r}; valid choices: {choices}"
            )


def _open_probe(vcodec: str, pix_fmt: str, options: dict[str, Any]) -> None:
    """Open ``vcodec`` with ``options`` on a tiny frame size; ValueError with FFmpeg's reason if it refuses."""
    as_strings = {key: str(value) for key, value in options.items()}
    context = av.CodecContext.create(vcodec, "w")
    context.width = context.height = _PROBE_SIZE
    context.pix_fmt = pix_fmt
    context.time_base = Fraction(1, 30)
    context.framerate = Fraction(30, 1)
    context.options = quiet_codec_log(vcodec, as_strings, "none")
    try:
        with calling_thread_policy_kept():  # SVT-AV1 opened by root: FIFO
            context.open()
    except Exception as exc:
        raise ValueError(f"Codec {vcodec!r} rejects the settings {as_strings} with pix_fmt={pix_fmt!r}: {exc}") from exc
    finally:
        del context


def check_video_encoder_parameters_pyav(
    vcodec: str,
    pix_fmt: str,
    codec_options: dict[str, Any],
    channels: int | None = None,
    *,
    probe_options: dict[str, Any] | None = None,
) -> None:
    """Raise ``ValueError`` if this FFmpeg build cannot encode ``vcodec`` with these settings.

    Checks, in order: the codec exists; it takes ``pix_fmt``; ``pix_fmt`` carries ``channels`` components;
    ``g`` is a positive integer; each option's type and range (see the module docstring). The encoder is
    opened with ``probe_options`` (default: ``codec_options``).
    """

    codec = get_codec(vcodec)
    if codec is None:
        raise ValueError(f"Codec {vcodec!r} is not available in the bundled FFmpeg build")
    formats = [f.name for f in (codec.video_formats or [])]
    if formats and pix_fmt not in formats:
        raise ValueError(
            f"pix_fmt={pix_fmt!r} is not supported by codec {vcodec!r}; supported pixel formats: {formats}"
        )
    if channels is not None:
        carried = get_pix_fmt_channels(pix_fmt)
        if carried < channels:
            raise ValueError(
                f"pix_fmt={pix_fmt!r} carries only {carried} component(s) "
                f"but the source data has {channels} channel(s)."
            )
    g = codec_options.get("g")
    if g is not None and (isinstance(g, bool) or not isinstance(g, (int, np.integer)) or g < 1):
        raise ValueError(f"g={g!r} must be a positive integer for codec {vcodec!r}")
    described = _described_options(vcodec) or _KNOWN_RANGES.get(vcodec, {})
    for key, value in codec_options.items():
        if key != "g" and key in described:
            _check_described_value(vcodec, key, value, described[key])
    if not is_hardware_encoder(vcodec) and vcodec not in _NOT_OPENED:
        _open_probe(vcodec, pix_fmt, codec_options if probe_options is None else probe_options)
