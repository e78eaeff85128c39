"""The SVT-AV1 preset that keeps what changes between frames, per library version.

Measured (640x480, g=2, crf=30, one thread; red channel of a noise-free frame stepping by 8 levels per
frame, and the calibrated scene of `lerobot_stream.sources.scene` for speed; ``tests/test_fidelity.py`` checks
the error of the preset used on every run, ``benchmarks/calibrate_content.py`` measures the speed):

================  =====================  ==================  ===========================
SVT-AV1 (PyAV)    preset asked           worst red error     scene frames/s, KB/frame
================  =====================  ==================  ===========================
3.0 (PyAV 15.1)   10, 11, 12, 13         4                   84-85, 18.7
4.1 (PyAV 18.1)   11, 12, 13 (all M11)   11 on inter frames  138-140, 18.5
4.1 (PyAV 18.1)   10                     4                   79, 18.3
================  =====================  ==================  ===========================

SVT-AV1 4 runs presets 12 and 13 as M11, a new speed level that skips small uniform changes in inter
frames: on noise-free content (simulation cameras, flat colours) a real change of a whole region
disappears from every other frame. No encoder parameter tried brings it back at M11 (``enable-tf``,
``aq-mode``, variance boost, quantisation matrices, ``tune``, ``scd``, CDEF/deblocking/restoration off,
``max-qp``, low-delay prediction; ``rtc=1`` does, at M10's speed and twice the bytes). So on SVT-AV1 4
and later a request for preset 11-13 is encoded at M10: the same speed and fidelity that PyAV 15
(LeRobot's pin, SVT-AV1 3) gives at preset 12 today, ~43 % slower than M11. A dataset records the
preset that was asked for.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import logging
import re
import sys

logger = logging.getLogger(__name__)

#: The fastest preset that keeps inter-frame changes on SVT-AV1 4.
FIDELITY_PRESET = 10
#: Presets that SVT-AV1 4 runs as its lossy-on-clean-content M11.
_M11_PRESETS = (11, 12, 13)


def _library_paths() -> list[str]:
    if sys.platform.startswith("linux"):
        try:
            with open("/proc/self/maps") as maps:
                return sorted({line.split()[-1] for line in maps if "SvtAv1Enc" in line and "/" in line})
        except OSError:
            return []
    found = ctypes.util.find_library("SvtAv1Enc")
    return [found] if found else []


@functools.lru_cache(maxsize=1)
def svt_av1_version() -> tuple[int, ...] | None:
    """The version of the SVT-AV1 library PyAV's FFmpeg uses (loaded with ``av``), or None if unknown."""
    import av  # noqa: F401  - loads FFmpeg and with it SVT-AV1

    for path in _library_paths():
        try:
            get_version = ctypes.CDLL(path).svt_av1_get_version
        except (OSError, AttributeError):
            continue
        get_version.restype = ctypes.c_char_p
        match = re.match(rb"v?(\d+)\.(\d+)\.(\d+)", get_version() or b"")
        if match:
            return tuple(int(part) for part in match.groups())
    return None


def encoded_preset(requested: int | str | None) -> int | str | None:
    """The preset to open SVT-AV1 with for a ``requested`` one (see the module docstring)."""
    if requested is None or not str(requested).lstrip("-").isdigit():
        return requested
    version = svt_av1_version()
    if version is not None and version >= (4,) and int(requested) in _M11_PRESETS:
        _log_once(int(requested), version)
        return FIDELITY_PRESET
    return requested


@functools.cache
def _log_once(requested: int, version: tuple[int, ...]) -> None:
    logger.info(
        "SVT-AV1 %s: encoding preset %d as %d (its M11 drops small changes between frames of noise-free "
        "content; see workers.svt)",
        ".".join(map(str, version)),
        requested,
        FIDELITY_PRESET,
    )
