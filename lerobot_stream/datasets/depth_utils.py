"""LeRobot v0.6's ``lerobot.datasets.depth_utils``: depth maps to 12-bit codes and back.

The arithmetic is `workers.depth` (the encoder processes run the same code); this module adds LeRobot's
calling conventions: torch tensors in and out (when torch is installed), ``av.VideoFrame`` output for the
PyAV backend, and the single-channel layouts ``(H, W)``, ``(H, W, 1)``, ``(1, H, W)`` and batches of them.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from workers.codecs import DepthQuantization
from workers.depth import DEPTH_QMAX, MM_PER_METRE, code_frame, frame_codes
from workers.depth import dequantize_depth as _dequantize
from workers.depth import quantize_depth as _quantize

__all__ = ["DEPTH_QMAX", "MM_PER_METRE", "dequantize_depth", "quantize_depth"]

_UNITS = ("m", "mm")


def _as_numpy(value: Any) -> np.ndarray:
    if hasattr(value, "detach") and hasattr(value, "numpy"):  # torch.Tensor
        return value.detach().cpu().numpy()
    return np.asarray(value)


def _squeeze_channel(array: np.ndarray) -> np.ndarray:
    """``(..., 1, H, W)`` or ``(..., H, W, 1)`` -> ``(..., H, W)``; 2-D stays as is."""
    if array.ndim >= 3 and array.shape[-3] == 1:
        return np.squeeze(array, axis=-3)
    if array.ndim >= 3 and array.shape[-1] == 1:
        return np.squeeze(array, axis=-1)
    return array


def _quantizer(depth_min: float, depth_max: float, shift: float, use_log: bool) -> DepthQuantization:
    """The parameters as the quantizer takes them; log mode needs ``depth_min + shift > 0``."""
    q = DepthQuantization(float(depth_min), float(depth_max), float(shift), bool(use_log))
    if q.use_log and q.depth_min + q.shift <= 0:
        raise ValueError(
            "depth_min + shift must be positive for logarithmic quantization, "
            f"got depth_min={q.depth_min} + shift={q.shift} = {q.depth_min + q.shift}"
        )
    return q


def quantize_depth(
    depth: Any,
    depth_min: float = DepthQuantization.depth_min,
    depth_max: float = DepthQuantization.depth_max,
    shift: float = DepthQuantization.shift,
    use_log: bool = DepthQuantization.use_log,
    pix_fmt: str = "gray12le",
    video_backend: str | None = "pyav",
    input_unit: str = "auto",
) -> Any:
    """12-bit codes of a depth map (uint16 ``(H, W)``), or an ``av.VideoFrame`` of ``pix_fmt`` holding them
    when ``video_backend="pyav"``. ``input_unit`` ``"auto"`` reads the unit from the dtype (float: metres,
    integer: millimetres); ``depth_min``, ``depth_max`` and ``shift`` are in metres."""
    if input_unit not in ("auto", *_UNITS):
        raise ValueError(f"input_unit must be 'auto', 'm', or 'mm', got {input_unit!r}")
    q = _quantizer(depth_min, depth_max, shift, use_log)
    array = _squeeze_channel(_as_numpy(depth))
    codes = _quantize(array, q, unit=None if input_unit == "auto" else input_unit)
    return code_frame(codes, pix_fmt) if video_backend == "pyav" else codes


def dequantize_depth(
    quantized: Any,
    depth_min: float = DepthQuantization.depth_min,
    depth_max: float = DepthQuantization.depth_max,
    shift: float = DepthQuantization.shift,
    use_log: bool = DepthQuantization.use_log,
    pix_fmt: str = "gray12le",
    output_unit: str = "mm",
    output_tensor: bool = True,
    output_channel_last: bool = False,
) -> Any:
    """Depth from 12-bit codes (array, tensor or ``av.VideoFrame``; any single-channel layout, batched or
    not), with the channel axis first (or last). ``"mm"``: uint16 millimetres as an array, float32 as a
    tensor; ``"m"``: float32 metres. ``output_tensor`` needs torch."""
    if output_unit not in _UNITS:
        raise ValueError(f"output_unit must be 'm' or 'mm', got {output_unit!r}")
    q = _quantizer(depth_min, depth_max, shift, use_log)
    if hasattr(quantized, "planes") and hasattr(quantized, "to_ndarray"):  # av.VideoFrame
        codes = frame_codes(quantized)
    else:
        codes = _squeeze_channel(_as_numpy(quantized))
    depth = _dequantize(codes, q, "m")
    if output_unit == "mm":
        depth = np.clip(np.rint(depth * np.float32(MM_PER_METRE)), 0, 65535).astype(np.float32)
    depth = np.expand_dims(depth, axis=-1 if output_channel_last else -3)
    if output_tensor:
        import torch

        return torch.from_numpy(np.ascontiguousarray(depth))
    return depth.astype(np.uint16) if output_unit == "mm" else depth
