"""Turning what callers pass as a camera frame into the uint8 HWC pixels the encoders take.

Accepted everywhere: numpy arrays HWC ``(H, W, 3)`` or CHW ``(3, H, W)``, uint8 or float in [0, 1]; PIL
images; torch tensors (through ``.numpy()``). Anything else gets a ``ValueError`` that names the camera,
what was expected and what was received - raised in the caller, before the frame reaches an encoder.

Float frames are scaled by 255 and truncated, as LeRobot's image writer does, so both recording paths
store the same pixels.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np

Layout = Literal["hwc", "chw"]
CHANNELS = 3


def as_numpy(frame: Any) -> np.ndarray:
    """ndarray view of a numpy array, PIL image or torch tensor; anything else is returned unchanged."""
    if isinstance(frame, np.ndarray):
        return frame
    if hasattr(frame, "convert") and hasattr(frame, "mode") and hasattr(frame, "size"):  # PIL.Image
        return np.asarray(frame if frame.mode == "RGB" else frame.convert("RGB"))
    if hasattr(frame, "detach") and hasattr(frame, "numpy"):  # torch.Tensor
        return frame.detach().cpu().numpy()
    return frame


def _describe(value: Any) -> str:
    if isinstance(value, np.ndarray):
        return f"array of shape {value.shape} and dtype {value.dtype}"
    return f"{type(value).__name__}"


def detect_layout(shape: tuple[int, ...], expected_hw: tuple[int, int] | None = None) -> Layout | None:
    """'hwc' or 'chw' for a 3-D RGB shape, None if it is neither.

    A shape such as (3, 480, 3) is ambiguous; the known resolution decides, else HWC wins.
    """
    if len(shape) != 3:
        return None
    hwc = shape[2] == CHANNELS
    chw = shape[0] == CHANNELS
    if hwc and chw and expected_hw is not None:
        return "hwc" if tuple(shape[:2]) == expected_hw else "chw"
    if hwc:
        return "hwc"
    if chw:
        return "chw"
    return None


def check_frame(camera: str, frame: Any, expected_hw: tuple[int, int] | None = None) -> tuple[np.ndarray, Layout]:
    """Validate one frame for ``camera``; return it as an array and its layout.

    ``expected_hw`` is the episode's resolution once known: a frame of another size is an error rather
    than a silently re-initialised encoder.
    """
    array = as_numpy(frame)
    if not isinstance(array, np.ndarray):
        raise ValueError(
            f"Camera '{camera}': expected a numpy array (H, W, 3) or (3, H, W), a PIL image or a torch tensor, "
            f"received {_describe(frame)}."
        )
    if array.dtype != np.uint8 and not np.issubdtype(array.dtype, np.floating):
        raise ValueError(
            f"Camera '{camera}': expected dtype uint8, or float with values in [0, 1], received dtype {array.dtype}."
        )
    layout = detect_layout(array.shape, expected_hw)
    if layout is None:
        raise ValueError(
            f"Camera '{camera}': expected an RGB frame of shape (H, W, 3) or (3, H, W), received shape {array.shape}."
        )
    height, width = array.shape[:2] if layout == "hwc" else array.shape[1:]
    if height == 0 or width == 0:
        raise ValueError(f"Camera '{camera}': received an empty frame of shape {array.shape}.")
    if expected_hw is not None and (height, width) != tuple(expected_hw):
        raise ValueError(
            f"Camera '{camera}': resolution changed within the episode: expected {expected_hw[0]}x{expected_hw[1]} "
            f"(height x width), received {height}x{width} (shape {array.shape})."
        )
    if array.dtype != np.uint8:
        low, high = float(np.min(array)), float(np.max(array))
        if not (low >= 0.0 and high <= 1.0):  # also rejects NaN
            raise ValueError(
                f"Camera '{camera}': float frames must have values in [0, 1], received values in "
                f"[{low}, {high}] (dtype {array.dtype}). Scale them or pass uint8."
            )
    return array, layout


def frame_hw(array: np.ndarray, layout: Layout) -> tuple[int, int]:
    return (array.shape[0], array.shape[1]) if layout == "hwc" else (array.shape[1], array.shape[2])


def copy_into_hwc_uint8(destination: np.ndarray, array: np.ndarray, layout: Layout) -> None:
    """Write a validated frame into a uint8 HWC buffer in one pass (the only copy on the hot path)."""
    source = array.transpose(1, 2, 0) if layout == "chw" else array
    if source.dtype == np.uint8:
        np.copyto(destination, source)
    else:
        np.multiply(source, 255, out=destination, casting="unsafe")


def to_hwc_uint8(frame: Any, camera: str = "camera") -> np.ndarray:
    """``frame`` validated, as a contiguous uint8 HWC array: the array itself when it already is one (the
    recorder copied it before queueing it), else a converted copy."""
    array, layout = check_frame(camera, frame)
    if layout == "hwc" and array.dtype == np.uint8 and array.flags.c_contiguous:
        return array
    height, width = frame_hw(array, layout)
    destination = np.empty((height, width, CHANNELS), dtype=np.uint8)
    copy_into_hwc_uint8(destination, array, layout)
    return destination
