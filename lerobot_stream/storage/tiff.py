"""Depth frames as TIFF files: what LeRobot v0.6's image path writes for depth maps (PNG cannot hold float).

Only what depth needs: one grey channel, ``uint16`` (millimetres) or ``float32`` (metres), little-endian,
uncompressed, in strips. Written here rather than through an imaging library, which is not a dependency of
this package; Pillow and LeRobot read these files as ``I;16`` and ``F`` images. The reader takes
uncompressed single-channel files as Pillow writes them too.
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np

_HEADER = struct.Struct("<2sHI")
_ENTRY = struct.Struct("<HHII")
_SHORT, _LONG = 3, 4
_TYPE_SIZES = {1: 1, 3: 2, 4: 4}  # BYTE, SHORT, LONG
_SAMPLE_FORMATS = {np.dtype(np.uint16): (16, 1), np.dtype(np.float32): (32, 3)}  # bits, SampleFormat


def tiff_bytes(depth: np.ndarray) -> bytes:
    """An uncompressed TIFF of a 2-D ``uint16`` or ``float32`` array."""
    array = np.ascontiguousarray(depth)
    if array.ndim != 2 or array.dtype not in _SAMPLE_FORMATS:
        raise ValueError(f"TIFF depth frames are 2-D uint16 or float32, got shape {array.shape} dtype {array.dtype}")
    bits, sample_format = _SAMPLE_FORMATS[array.dtype]
    height, width = array.shape
    data = array.astype(array.dtype.newbyteorder("<"), copy=False).tobytes()
    entries = [
        (256, _LONG, width),  # ImageWidth
        (257, _LONG, height),  # ImageLength
        (258, _SHORT, bits),  # BitsPerSample
        (259, _SHORT, 1),  # Compression: none
        (262, _SHORT, 1),  # PhotometricInterpretation: BlackIsZero
        (273, _LONG, 0),  # StripOffsets (patched below)
        (277, _SHORT, 1),  # SamplesPerPixel
        (278, _LONG, height),  # RowsPerStrip: one strip
        (279, _LONG, len(data)),  # StripByteCounts
        (339, _SHORT, sample_format),  # SampleFormat: 1 unsigned integer, 3 IEEE float
    ]
    ifd_size = 2 + len(entries) * _ENTRY.size + 4
    data_offset = _HEADER.size + ifd_size
    ifd = [struct.pack("<H", len(entries))]
    for tag, kind, value in entries:
        value = data_offset if tag == 273 else value
        # A SHORT value sits in the first two bytes of the 4-byte field.
        ifd.append(
            struct.pack("<HHI", tag, kind, 1)
            + struct.pack("<HH" if kind == _SHORT else "<I", *((value, 0) if kind == _SHORT else (value,)))
        )
    ifd.append(struct.pack("<I", 0))
    return _HEADER.pack(b"II", 42, _HEADER.size) + b"".join(ifd) + data


def write_tiff(path: str | Path, depth: np.ndarray) -> None:
    Path(path).write_bytes(tiff_bytes(depth))


def _values(blob: bytes, kind: int, count: int, field: bytes, byte_order: str) -> list[int]:
    size = _TYPE_SIZES.get(kind)
    if size is None:
        raise ValueError(f"unsupported TIFF field type {kind}")
    raw = field[: size * count] if size * count <= 4 else None
    if raw is None:
        (offset,) = struct.unpack(byte_order + "I", field)
        raw = blob[offset : offset + size * count]
    code = {1: "B", 3: "H", 4: "I"}[kind]
    return list(struct.unpack(f"{byte_order}{count}{code}", raw))


def read_tiff(source: str | Path | bytes) -> np.ndarray:
    """A single-channel uncompressed TIFF as a 2-D array (uint16, or float32 for float samples)."""
    blob = source if isinstance(source, bytes) else Path(source).read_bytes()
    order = {b"II": "<", b"MM": ">"}.get(blob[:2])
    if order is None or struct.unpack(order + "H", blob[2:4])[0] != 42:
        raise ValueError("not a TIFF file")
    (ifd_offset,) = struct.unpack(order + "I", blob[4:8])
    (count,) = struct.unpack(order + "H", blob[ifd_offset : ifd_offset + 2])
    tags: dict[int, list[int]] = {}
    for i in range(count):
        start = ifd_offset + 2 + i * _ENTRY.size
        tag, kind, n = struct.unpack(order + "HHI", blob[start : start + 8])
        if kind in _TYPE_SIZES:
            tags[tag] = _values(blob, kind, n, blob[start + 8 : start + 12], order)
    if tags.get(259, [1])[0] != 1 or tags.get(277, [1])[0] != 1:
        raise ValueError("only uncompressed single-channel TIFF depth frames are supported")
    width, height, bits = tags[256][0], tags[257][0], tags.get(258, [8])[0]
    sample_format = tags.get(339, [1])[0]
    dtype = {(16, 1): "u2", (32, 3): "f4", (8, 1): "u1"}.get((bits, sample_format))
    if dtype is None:
        raise ValueError(f"unsupported TIFF sample: {bits} bits, format {sample_format}")
    data = b"".join(blob[o : o + n] for o, n in zip(tags[273], tags[279], strict=True))
    array = np.frombuffer(data, dtype=order + dtype, count=width * height).reshape(height, width)
    return array.astype(np.float32 if dtype == "f4" else np.uint16 if dtype == "u2" else np.uint8)
