"""Feature specs: validation of recorded frames and the parquet (arrow) types LeRobot's reader expects.

Error messages keep LeRobot's wording where its users and tests match on it. Differences on purpose:
image/video features accept both HWC ``(H, W, 3)`` and CHW ``(3, H, W)`` whatever the declared layout,
float images must lie in [0, 1], and every message names the feature, expected and received value.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pyarrow as pa

from lerobot_stream.configs.video import is_depth_map
from lerobot_stream.storage.delta_timestamps import check_delta_timestamps, get_delta_indices  # noqa: F401 - LeRobot's home
from lerobot_stream.storage.layout import DEFAULT_FEATURES
from workers.frames import as_numpy

CAMERA_DTYPES = ("image", "video")


def validate_feature_names(features: dict[str, dict]) -> None:
    """Feature names become folder names (``videos/<key>/``, ``images/<key>/``): no path separators, no
    ``.``/``..``, nothing that could lead outside the dataset - checked at create and whenever a dataset's
    ``info.json`` is read, since a damaged or hostile one must not steer file operations elsewhere."""
    invalid = [name for name in features if "/" in name]
    if invalid:
        raise ValueError(f"Feature names should not contain '/'. Found '/' in '{invalid}'.")
    unsafe = [name for name in features if not isinstance(name, str) or name in ("", ".", "..") or "\\" in name]
    unsafe += [name for name in features if isinstance(name, str) and ("\x00" in name or name.startswith("."))]
    if unsafe:
        raise ValueError(f"Feature names must be plain folder names (no '.', '..', '\\' or NUL); invalid: {unsafe}")
    for feature in features.values():
        if is_depth_map(feature):
            camera_hw(feature, depth=True)


def camera_hw(feature: dict, depth: bool | None = None) -> tuple[int, int]:
    """(height, width) of an image/video feature declared as (H, W, 3) or (3, H, W) - for depth maps
    (H, W, 1) or (1, H, W)."""
    shape = tuple(feature["shape"])
    channels = 1 if (is_depth_map(feature) if depth is None else depth) else 3
    if len(shape) == 3 and shape[-1] == channels:
        return shape[0], shape[1]
    if len(shape) == 3 and shape[0] == channels:
        return shape[1], shape[2]
    raise ValueError(f"Camera features must have shape (H, W, {channels}) or ({channels}, H, W), got {shape}")


def _validate_depth(name: str, feature: dict, value: Any) -> str:
    height, width = camera_hw(feature, depth=True)
    array = as_numpy(value)
    if not isinstance(array, np.ndarray):
        return (
            f"The depth feature '{name}' is expected to be a 'np.ndarray', but type '{type(value)}' provided instead.\n"
        )
    if array.shape not in ((height, width), (height, width, 1), (1, height, width)):
        return (
            f"The depth feature '{name}' of shape '{array.shape}' does not have the expected shape "
            f"'{(height, width, 1)}' (or (H, W) / (1, H, W)).\n"
        )
    if not (np.issubdtype(array.dtype, np.integer) or np.issubdtype(array.dtype, np.floating)):
        return f"The depth feature '{name}' of dtype '{array.dtype}' is not uint16 (millimetres) or float (metres).\n"
    unit = (feature.get("info") or {}).get("depth_unit")
    received = "m" if np.issubdtype(array.dtype, np.floating) else "mm"
    if unit is not None and received != unit:
        return (
            f"The depth feature '{name}' is recorded in '{unit}' ({'float' if unit == 'm' else 'uint16'}), "
            f"but a frame of dtype '{array.dtype}' ('{received}') was provided.\n"
        )
    return ""


def _validate_camera(name: str, feature: dict, value: Any) -> str:
    if is_depth_map(feature):
        return _validate_depth(name, feature, value)
    height, width = camera_hw(feature)
    array = as_numpy(value)
    if not isinstance(array, np.ndarray):
        return (
            f"The feature '{name}' is expected to be of type 'PIL.Image' or 'np.ndarray' channel first or channel "
            f"last, but type '{type(value)}' provided instead.\n"
        )
    hwc, chw = (height, width, 3), (3, height, width)
    if array.shape not in (hwc, chw):
        return f"The feature '{name}' of shape '{array.shape}' does not have the expected shape '{chw}' or '{hwc}'.\n"
    if array.dtype == np.uint8:
        return ""
    if not np.issubdtype(array.dtype, np.floating):
        return (
            f"The feature '{name}' of dtype '{array.dtype}' is not of the expected dtype 'uint8' or float in [0, 1].\n"
        )
    low, high = float(np.min(array)), float(np.max(array))
    if not (low >= 0.0 and high <= 1.0):
        return (
            f"The feature '{name}' is a float image, which requires values in the range [0.0, 1.0], "
            f"but its values lie in [{low}, {high}].\n"
        )
    return ""


def _validate_numeric(name: str, feature: dict, value: Any) -> str:
    expected_dtype = feature["dtype"]
    expected_shape = tuple(feature["shape"])
    if not isinstance(value, np.ndarray):
        return (
            f"The feature '{name}' is not a 'np.ndarray'. Expected type is '{expected_dtype}', "
            f"but type '{type(value)}' provided instead.\n"
        )
    if value.dtype != np.dtype(expected_dtype):
        return f"The feature '{name}' of dtype '{value.dtype}' is not of the expected dtype '{expected_dtype}'.\n"
    if value.shape != expected_shape:
        return f"The feature '{name}' of shape '{value.shape}' does not have the expected shape '{expected_shape}'.\n"
    return ""


def validate_feature(name: str, feature: dict, value: Any) -> str:
    """An error message for one value, or '' if it is valid."""
    dtype = feature["dtype"]
    if dtype in CAMERA_DTYPES:
        return _validate_camera(name, feature, value)
    if dtype == "string":
        return (
            ""
            if isinstance(value, str)
            else f"The feature '{name}' is expected to be of type 'str', but type '{type(value)}' provided instead.\n"
        )
    try:
        np.dtype(dtype)
    except TypeError as exc:
        raise NotImplementedError(f"The feature dtype '{dtype}' is not implemented yet.") from exc
    return _validate_numeric(name, feature, value)


def validate_frame(frame: dict, features: dict[str, dict]) -> None:
    """Check one ``add_frame`` dict against the features; raise one ``ValueError`` listing every problem."""
    if not isinstance(frame, dict):
        raise ValueError(f"A frame must be a dict of feature values, got {type(frame).__name__}.")
    expected = set(features) - set(DEFAULT_FEATURES)
    actual = set(frame) - {"task"}
    header = "Feature mismatch in `frame` dictionary:\n"
    if "task" not in frame:
        raise ValueError(header + "Missing features: {'task'}\n")
    if not isinstance(frame["task"], str) or not frame["task"]:
        raise ValueError(f"The frame's 'task' must be a non-empty string, got {frame['task']!r}.")
    mismatch = ""
    if expected - actual:
        mismatch += f"Missing features: {expected - actual}\n"
    if actual - expected:
        mismatch += f"Extra features: {actual - expected}\n"
    if mismatch:
        raise ValueError(header + mismatch)
    errors = "".join(validate_feature(name, features[name], frame[name]) for name in features if name in frame)
    if errors:
        raise ValueError(errors)


# ---- arrow types ------------------------------------------------------------------------------------------

_HF_DTYPES = {
    "float32": "float32",
    "float64": "float64",
    "float16": "float16",
    "int64": "int64",
    "int32": "int32",
    "int16": "int16",
    "int8": "int8",
    "uint8": "uint8",
    "uint16": "uint16",
    "uint32": "uint32",
    "uint64": "uint64",
    "bool": "bool",
    "string": "string",
}

IMAGE_STRUCT = pa.struct([pa.field("bytes", pa.binary()), pa.field("path", pa.string())])


def _arrow_scalar(dtype: str) -> pa.DataType:
    if dtype == "string":
        return pa.string()
    if dtype == "bool":
        return pa.bool_()
    return pa.from_numpy_dtype(np.dtype(dtype))


def arrow_type(feature: dict) -> pa.DataType | None:
    """The parquet column type of a feature (None for videos, which live in MP4 files)."""
    dtype = feature["dtype"]
    if dtype == "video":
        return None
    if dtype == "image":
        return IMAGE_STRUCT
    scalar = _arrow_scalar(dtype)
    shape = tuple(feature.get("shape") or (1,))
    if dtype == "string" or shape == (1,):
        return scalar
    if len(shape) == 1:
        return pa.list_(pa.field("element", scalar), shape[0])
    if len(shape) <= 5:  # stored like HF datasets' ArrayND: nested variable-size lists
        nested = scalar
        for _ in shape:
            nested = pa.list_(pa.field("element", nested))
        return nested
    raise ValueError(f"Features with {len(shape)} dimensions are not supported (shape {shape}).")


def _hf_feature(feature: dict) -> dict:
    dtype = feature["dtype"]
    if dtype == "image":
        return {"_type": "Image"}
    hf_dtype = _HF_DTYPES.get(dtype, dtype)
    shape = tuple(feature.get("shape") or (1,))
    if dtype == "string" or shape == (1,):
        return {"dtype": hf_dtype, "_type": "Value"}
    if len(shape) == 1:
        return {"feature": {"dtype": hf_dtype, "_type": "Value"}, "length": shape[0], "_type": "List"}
    return {"shape": list(shape), "dtype": hf_dtype, "_type": f"Array{len(shape)}D"}


def _field(name: str, feature: dict) -> pa.Field:
    shape = tuple(feature.get("shape") or (1,))
    metadata = None
    if feature["dtype"] not in (*CAMERA_DTYPES, "string") and len(shape) >= 2:
        # Mark the column as HF datasets' ArrayND extension type, as the `datasets` library writes it.
        metadata = {
            b"ARROW:extension:name": f"datasets.features.features.Array{len(shape)}DExtensionType".encode(),
            b"ARROW:extension:metadata": json.dumps(
                [list(shape), _HF_DTYPES.get(feature["dtype"], feature["dtype"])]
            ).encode(),
        }
    return pa.field(name, arrow_type(feature), metadata=metadata)


def data_schema(features: dict[str, dict]) -> pa.Schema:
    """Schema of the data parquet files: every non-video feature in declaration order, plus the HF
    ``datasets`` feature description LeRobot's reader uses to decode images and arrays."""
    fields = [_field(name, f) for name, f in features.items() if f["dtype"] != "video"]
    hf = {name: _hf_feature(f) for name, f in features.items() if f["dtype"] != "video"}
    metadata = {b"huggingface": json.dumps({"info": {"features": hf}}).encode()}
    return pa.schema(fields, metadata=metadata)


# ---- the helpers LeRobot's recording script imports ---------------------------------------------------------


def hw_to_dataset_features(hw_features: dict[str, Any], prefix: str, use_video: bool = True) -> dict[str, dict]:
    """Dataset features from a robot's hardware description: joints (``float``) become one float32 vector
    (``<prefix>.state`` for observations, ``action`` for actions); cameras (an ``(H, W, C)`` shape) become
    ``<prefix>.images.<name>`` video (or image) features, and a single-channel camera is a depth map
    (``info.is_depth_map``), as in LeRobot v0.6."""
    joints = [key for key, kind in hw_features.items() if kind is float]
    features: dict[str, dict] = {}
    if joints and prefix in ("action", "observation"):
        name = "action" if prefix == "action" else f"{prefix}.state"
        features[name] = {"dtype": "float32", "shape": (len(joints),), "names": joints}
    for key, shape in hw_features.items():
        if not isinstance(shape, tuple):
            continue
        if len(shape) != 3 or shape[2] not in (1, 3):
            raise ValueError(
                f"Camera feature '{key}' has shape {shape}. "
                "Expected a 3-tuple (H, W, C), e.g. (480, 640, 3) for RGB or (480, 640, 1) for depth."
            )
        features[f"{prefix}.images.{key}"] = {
            "dtype": "video" if use_video else "image",
            "shape": shape,
            "names": ["height", "width", "channels"],
            "info": {"is_depth_map": shape[2] == 1},
        }
    validate_feature_names(features)
    return features


def build_dataset_frame(ds_features: dict[str, dict], values: dict[str, Any], prefix: str) -> dict[str, Any]:
    """One ``add_frame`` dict for the features under ``prefix`` (``"observation"`` or ``"action"``), from a
    robot's flat readings: 1-D float32 features gather their ``names`` from ``values``; cameras take
    ``values[<name after "<prefix>.images.">]``."""
    frame: dict[str, Any] = {}
    for key, feature in ds_features.items():
        if key in DEFAULT_FEATURES or not key.startswith(prefix):
            continue
        if feature["dtype"] == "float32" and len(feature["shape"]) == 1:
            frame[key] = np.array([values[name] for name in feature["names"]], dtype=np.float32)
        elif feature["dtype"] in CAMERA_DTYPES:
            frame[key] = values[key.removeprefix(f"{prefix}.images.")]
    return frame


def combine_feature_dicts(*dicts: dict) -> dict:
    """Merge feature dicts: 1-D numeric features with ``names`` are concatenated (names de-duplicated in
    order, shape recomputed; a dtype conflict is a ``ValueError``); anything else - cameras, strings,
    other shapes - takes the last definition."""
    merged: dict = {}
    for features in dicts:
        for key, value in features.items():
            if not isinstance(value, dict):
                merged[key] = value
                continue
            shape = value.get("shape")
            vector = (
                value.get("dtype") not in (*CAMERA_DTYPES, "string")
                and isinstance(shape, tuple)
                and len(shape) == 1
                and "names" in value
            )
            if not vector:
                merged[key] = value
                continue
            target = merged.setdefault(key, {"dtype": value["dtype"], "names": [], "shape": (0,)})
            if target.get("dtype") != value["dtype"]:
                raise ValueError(f"dtype mismatch for '{key}': {target.get('dtype')} vs {value['dtype']}")
            target["names"].extend(name for name in value["names"] if name not in target["names"])
            target["shape"] = (len(target["names"]),)
    return merged
