"""Temporal windows for training: ``delta_timestamps`` turned into rows to read, and which of them are padding.

A policy trained on a dataset often needs several timesteps per item - past observations, a chunk of future
actions. LeRobot asks for them as ``delta_timestamps = {key: [seconds relative to the item, ...]}``. Each
offset must land on a recorded timestep (a multiple of ``1/fps`` within ``tolerance_s``), so it becomes a
whole number of frames. Offsets that fall outside the item's episode read the episode's first or last frame
instead and are flagged in a ``<key>_is_pad`` mask: a window never mixes frames of two episodes.
"""

from __future__ import annotations

import numbers

import numpy as np


def _off_grid(deltas: list[float], fps: int, tolerance_s: float) -> list[float]:
    return [d for d in deltas if abs(d * fps - round(d * fps)) / fps > tolerance_s]


def check_delta_timestamps(
    delta_timestamps: dict[str, list[float]], fps: int, tolerance_s: float, raise_value_error: bool = True
) -> bool:
    """True if every offset is a multiple of ``1/fps`` within ``tolerance_s``; otherwise a ``ValueError`` naming
    the keys and offsets that are not (or False, with ``raise_value_error=False``). A value that is not a list of
    numbers is a ``ValueError`` either way."""
    for key, deltas in delta_timestamps.items():
        if not isinstance(deltas, (list, tuple)) or not all(
            isinstance(d, numbers.Real) and not isinstance(d, bool) for d in deltas
        ):
            raise ValueError(f"delta_timestamps[{key!r}] must be a list of seconds, got {deltas!r}")
    off_grid = {key: bad for key, deltas in delta_timestamps.items() if (bad := _off_grid(deltas, fps, tolerance_s))}
    if not off_grid:
        return True
    if raise_value_error:
        raise ValueError(
            f"delta_timestamps must be multiples of 1/{fps} s (within {tolerance_s} s) to land on recorded frames; "
            f"these are not: {off_grid}"
        )
    return False


def get_delta_indices(delta_timestamps: dict[str, list[float]], fps: int) -> dict[str, list[int]]:
    """The offsets in frames: ``{key: [round(seconds * fps), ...]}``."""
    return {key: [round(d * fps) for d in deltas] for key, deltas in delta_timestamps.items()}


def window(index: int, offsets: list[int], episode_start: int, episode_end: int) -> tuple[list[int], np.ndarray]:
    """The absolute row indices to read for the item at absolute ``index`` (clamped into the episode
    ``[episode_start, episode_end)``) and the mask of offsets that fell outside it."""
    wanted = [index + offset for offset in offsets]
    rows = [min(max(row, episode_start), episode_end - 1) for row in wanted]
    padding = np.array([not episode_start <= row < episode_end for row in wanted], dtype=bool)
    return rows, padding
