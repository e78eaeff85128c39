"""Depth maps as video: LeRobot v0.6's 12-bit quantization, run in the encoder process.

A depth frame arrives as raw sensor values - ``uint16`` millimetres or ``float32`` metres - and becomes
one 12-bit code per pixel (0..4095), written into a 16-bit grey plane (``gray12le``) that HEVC Main 12
encodes losslessly by default. The mapping is LeRobot v0.6.1's, computed the same way (float32, in the
unit of the input), so LeRobot's ``dequantize_depth`` reads our files back:

* log mode (default): ``norm = (ln(d + shift) - ln(min + shift)) / (ln(max + shift) - ln(min + shift))``;
* linear mode: ``norm = (d - min) / (max - min)``;
* ``code = clip(rint(norm * 4095), 0, 4095)``.

``depth_min``, ``depth_max`` and ``shift`` are in metres; millimetre input converts them first.

Integer input has at most 65536 values, so its codes come from a lookup table built once per setting
with the same float32 arithmetic: a gather instead of a logarithm per pixel (the quantization is the
most expensive per-pixel step of an RGB-D rig). Float input is computed directly; NaN becomes code 0 and
+inf code 4095, deterministically.
"""

from __future__ import annotations

import functools
import math

import numpy as np

from workers.codecs import DepthQuantization

DEPTH_QUANT_BITS = 12
DEPTH_QMAX = (1 << DEPTH_QUANT_BITS) - 1  # 4095
MM_PER_METRE = 1000.0
#: Pixel formats a depth stream can be written in: one 16-bit grey plane that holds the 12-bit codes.
DEPTH_PIX_FMTS = ("gray12le", "gray16le")


def depth_unit_of(dtype: np.dtype | type) -> str:
    """``"m"`` for floating-point depth, ``"mm"`` for integer depth (LeRobot v0.6's convention)."""
    return "m" if np.issubdtype(np.dtype(dtype), np.floating) else "mm"


def unit_factor(recorded: str | None, wanted: str) -> float:
    """Multiply depth in the ``recorded`` unit by this to get it in ``wanted`` (1 when ``recorded`` is unknown)."""
    if recorded is None or recorded == wanted:
        return 1.0
    return MM_PER_METRE if recorded == "m" else 1 / MM_PER_METRE


def check_quantization(q: DepthQuantization) -> None:
    """Raise ``ValueError`` for parameters that cannot quantize (checked before recording starts)."""
    values = {"depth_min": q.depth_min, "depth_max": q.depth_max, "shift": q.shift}
    bad = [name for name, value in values.items() if not math.isfinite(value)]
    if bad:
        raise ValueError(f"Depth quantization parameters must be finite numbers, got {values}")
    if not q.depth_max > q.depth_min:
        raise ValueError(
            f"depth_max must be greater than depth_min (metres), got depth_min={q.depth_min}, depth_max={q.depth_max}"
        )
    if q.use_log and q.depth_min + q.shift <= 0:
        raise ValueError(
            "depth_min + shift must be positive for logarithmic quantization, "
            f"got depth_min={q.depth_min} + shift={q.shift} = {q.depth_min + q.shift}"
        )


def _quantize_float32(depth: np.ndarray, q: DepthQuantization, unit: str) -> np.ndarray:
    """LeRobot v0.6's arithmetic on float32 values in ``unit``; returns uint16 codes."""
    scale = 1.0 if unit == "m" else MM_PER_METRE
    low, high, shift = (np.float32(q.depth_min * scale), np.float32(q.depth_max * scale), np.float32(q.shift * scale))
    values = depth.astype(np.float32, copy=False)
    if q.use_log:
        log_low, log_high = math.log(float(low + shift)), math.log(float(high + shift))
        norm = (np.log(values + shift) - log_low) / (log_high - log_low)
    else:
        norm = (values - low) / (high - low)
    codes = np.rint(norm * DEPTH_QMAX)
    np.nan_to_num(codes, copy=False, nan=0.0, posinf=DEPTH_QMAX, neginf=0.0)
    return codes.clip(0, DEPTH_QMAX).astype(np.uint16)


@functools.lru_cache(maxsize=8)
def _millimetre_table(q: DepthQuantization) -> np.ndarray:
    """Codes of every uint16 millimetre value (65536 entries, 128 KiB), for quantizing by lookup."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return _quantize_float32(np.arange(65536, dtype=np.uint16), q, "mm")


def quantize_depth(
    depth: np.ndarray, q: DepthQuantization, out: np.ndarray | None = None, unit: str | None = None
) -> np.ndarray:
    """12-bit codes (uint16, shape of ``depth``) of depth values in ``unit`` (default: from the dtype)."""
    unit = unit or depth_unit_of(depth.dtype)
    if depth.dtype == np.uint16 and unit == "mm":
        return np.take(_millimetre_table(q), depth, out=out)
    with np.errstate(divide="ignore", invalid="ignore"):
        codes = _quantize_float32(depth, q, unit)
    if out is None:
        return codes
    np.copyto(out, codes)
    return out


def dequantize_depth(codes: np.ndarray, q: DepthQuantization, unit: str = "mm") -> np.ndarray:
    """Depth from codes: float32 metres, or (``unit="mm"``) uint16 millimetres, as LeRobot v0.6 returns them."""
    if unit not in ("m", "mm"):
        raise ValueError(f"unit must be 'm' or 'mm', got {unit!r}")
    if q.use_log:
        offset = math.log(q.depth_min + q.shift)
        step = (math.log(q.depth_max + q.shift) - offset) / DEPTH_QMAX
    else:
        offset, step = q.depth_min, (q.depth_max - q.depth_min) / DEPTH_QMAX
    metres = np.asarray(codes, dtype=np.float32) * np.float32(step) + np.float32(offset)
    if q.use_log:
        metres = np.exp(metres) - np.float32(q.shift)
    metres = np.clip(metres, q.depth_min, q.depth_max).astype(np.float32)
    if unit == "m":
        return metres
    return np.clip(np.rint(metres * MM_PER_METRE), 0, 65535).astype(np.uint16)


def plane_rows(plane, height: int) -> np.ndarray:
    """A 16-bit plane's memory as a (height, line_size / 2) uint16 array: FFmpeg pads each row of a plane
    (``line_size`` bytes), so pixels are read and written through this strided view, never as one flat
    copy."""
    return np.frombuffer(plane, dtype=np.uint16).reshape(height, plane.line_size // 2)


def frame_codes(frame) -> np.ndarray:
    """The codes held by a depth ``av.VideoFrame`` (a copy, shape (height, width))."""
    return plane_rows(frame.planes[0], frame.height)[:, : frame.width].copy()


def code_frame(codes: np.ndarray, pix_fmt: str):
    """An ``av.VideoFrame`` of ``pix_fmt`` (a 16-bit grey format) holding ``codes``; row padding is zeroed."""
    import av  # local: importing this module stays cheap for the recorder

    height, width = codes.shape
    frame = av.VideoFrame(width, height, pix_fmt)
    rows = plane_rows(frame.planes[0], height)
    rows[:, :width] = codes
    rows[:, width:] = 0
    return frame
