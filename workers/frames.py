"""Turning what callers pass as a camera frame into the pixels the encoders take.

RGB cameras: numpy arrays HWC ``(H, W, 3)`` or CHW ``(3, H, W)``, uint8 or float in [0, 1]; PIL
images; torch tensors (through ``.numpy()``); stored as uint8 HWC.

Depth cameras: ``(H, W)``, ``(H, W, 1)`` or ``(1, H, W)``; ``uint16`` (or another integer type with
values in 0..65535) millimetres, or float metres; stored as a 2-D ``uint16`` or ``float32`` map.

Anything else gets a ``ValueError`` that names the camera, what was expected and what was received -
raised in the caller, before the frame reaches an encoder.

Float frames are scaled by 255 and truncated, as LeRobot's image writer does, so both recording paths
store the same pixels.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np

#: How a validated frame is laid out: RGB channels last or first, or a 2-D depth map.
Layout = Literal["hwc", "chw", "hw"]
#: The buffer a camera's frames are stored in: (shape, dtype name), e.g. ((480, 640, 3), "uint8").
SlotFormat = tuple[tuple[int, ...], str]
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
    return (array.shape[1], array.shape[2]) if layout == "chw" else (array.shape[0], array.shape[1])


def slot_format(array: np.ndarray, layout: Layout) -> SlotFormat:
    """The buffer a validated frame is stored in (a ring slot, a queued copy)."""
    height, width = frame_hw(array, layout)
    if layout == "hw":
        return (height, width), depth_storage_dtype(array.dtype).name
    return (height, width, CHANNELS), "uint8"


def depth_storage_dtype(dtype: np.dtype) -> np.dtype:
    """Depth is stored as uint16 millimetres or float32 metres, whatever the caller's exact dtype."""
    return np.dtype(np.float32) if np.issubdtype(dtype, np.floating) else np.dtype(np.uint16)


def check_depth_frame(
    camera: str,
    frame: Any,
    expected_hw: tuple[int, int] | None = None,
    expected_dtype: np.dtype | None = None,
) -> np.ndarray:
    """Validate one depth map for ``camera``; return it as a 2-D array (a view, no copy).

    ``expected_dtype`` is the storage dtype already in use (uint16 = millimetres, float32 = metres): a
    frame in the other unit would be quantized on the wrong scale, so it is an error.
    """
    array = as_numpy(frame)
    if not isinstance(array, np.ndarray):
        raise ValueError(
            f"Depth camera '{camera}': expected a numpy array (H, W), (H, W, 1) or (1, H, W), received "
            f"{_describe(frame)}."
        )
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]
    elif array.ndim == 3 and array.shape[0] == 1:
        array = array[0]
    if array.ndim != 2 or array.size == 0:
        raise ValueError(
            f"Depth camera '{camera}': expected a depth map of shape (H, W), (H, W, 1) or (1, H, W), "
            f"received shape {as_numpy(frame).shape}."
        )
    is_float = np.issubdtype(array.dtype, np.floating)
    if not is_float and not np.issubdtype(array.dtype, np.integer):
        raise ValueError(
            f"Depth camera '{camera}': expected uint16 millimetres or float metres, received dtype {array.dtype}."
        )
    if expected_hw is not None and array.shape != tuple(expected_hw):
        raise ValueError(
            f"Depth camera '{camera}': resolution changed within the episode: expected "
            f"{expected_hw[0]}x{expected_hw[1]} (height x width), received {array.shape[0]}x{array.shape[1]}."
        )
    storage = depth_storage_dtype(array.dtype)
    if expected_dtype is not None and storage != expected_dtype:
        expected_unit = "float metres" if expected_dtype == np.float32 else "uint16 millimetres"
        raise ValueError(
            f"Depth camera '{camera}': this stream records {expected_unit}, received dtype {array.dtype} "
            f"({'metres' if is_float else 'millimetres'}). Convert the frame; units cannot change mid-stream."
        )
    if not is_float and array.dtype != np.uint16:
        low, high = int(array.min()), int(array.max())
        if low < 0 or high > 65535:
            raise ValueError(
                f"Depth camera '{camera}': integer depth is millimetres in 0..65535, received values in "
                f"[{low}, {high}] (dtype {array.dtype})."
            )
    return array


def copy_frame(destination: np.ndarray, array: np.ndarray, layout: Layout) -> None:
    """Write a validated frame into its buffer (uint8 HWC, or a 2-D depth map) in one pass: the only copy
    on the hot path."""
    if layout == "hw":
        np.copyto(destination, array, casting="unsafe")
        return
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
    copy_frame(destination, array, layout)
    return destination


def to_depth_map(frame: Any, camera: str = "camera") -> np.ndarray:
    """``frame`` validated as a depth map, as a 2-D uint16 (millimetres) or float32 (metres) array."""
    array = check_depth_frame(camera, frame)
    return array.astype(depth_storage_dtype(array.dtype), copy=False)


def slot_from_shape(camera: str, shape: tuple[int, ...], depth: bool, depth_dtype: Any = np.uint16) -> SlotFormat:
    """The buffer format for frames of a declared ``shape`` (a LeRobot feature's shape, a caller's hint).

    RGB: ``(H, W, 3)`` or ``(3, H, W)``; depth: ``(H, W)``, ``(H, W, 1)`` or ``(1, H, W)`` in ``depth_dtype``
    (uint16 millimetres or float metres).
    """
    shape = tuple(int(d) for d in shape)
    if depth:
        if len(shape) == 3 and 1 in (shape[0], shape[-1]):
            shape = shape[:2] if shape[-1] == 1 else shape[1:]
        if len(shape) != 2:
            raise ValueError(f"Depth camera '{camera}': frame_shapes must be (H, W) or (H, W, 1), got {shape}")
        return shape, depth_storage_dtype(np.dtype(depth_dtype)).name
    if len(shape) == 3 and shape[-1] == CHANNELS:
        return (shape[0], shape[1], CHANNELS), "uint8"
    if len(shape) == 3 and shape[0] == CHANNELS:
        return (shape[1], shape[2], CHANNELS), "uint8"
    raise ValueError(f"Camera '{camera}': frame_shapes must be (H, W, 3) or (3, H, W), got {shape}")
