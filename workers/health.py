"""Is a camera broken while it records? Cheap per-frame checks in the encoder, flags for the operator.

A rig operator needs to see during the recording - not after the dataset is trained on - that a camera
froze (a driver delivering the same buffer again), went black (lens cap, lost exposure), is saturated
(blinding light, exposure stuck high) or jumped in exposure. The encoder process sees every frame anyway,
so it checks a sub-sampled view (every 8th row and column: 1/64 of the pixels, microseconds per frame) and
reports flags with its progress; the recorder shows them (`StreamingVideoEncoder.status`, the status line
of ``lerobot-stream record``) and logs each flag once per episode. Every flag an episode raised is stored with
it (``videos/<key>/health`` in the episodes table; ``lerobot-stream info`` lists them).

Thresholds (8-bit levels of the mean over all channels; "a second" is ``fps`` frames):

* ``frozen``: every sampled pixel identical for a second of consecutive frames (sensor noise makes real
  frames differ; a noise-free simulation camera watching a static scene is flagged too - it is a warning);
* ``black``: mean below 8 for a second; ``saturated``: mean above 247 for a second;
* ``exposure jump``: the mean moved by more than 48 levels from one frame to the next (in the last second).

Depth maps get the ``frozen`` check only (black/saturated have no meaning for distances).
"""

from __future__ import annotations

import numpy as np

FLAGS = ("frozen", "black", "saturated", "exposure jump")
_STEP = 8
_DARK, _BRIGHT, _JUMP = 8.0, 247.0, 48.0

#: What each flag means and what to look at, for the operator (the thresholds are the ones above).
HINTS = {
    "frozen": "identical frames for a second or more: is the driver delivering new images?",
    "black": f"mean level below {_DARK:g} for a second: lens cap, lost exposure, or no light",
    "saturated": f"mean level above {_BRIGHT:g} for a second: blinding light or exposure stuck high",
    "exposure jump": f"the mean level jumped by more than {_JUMP:g} between two frames",
}


class HealthMonitor:
    """Per-frame checks of one camera's episode; `flags` says what is wrong now (empty: looks healthy)."""

    def __init__(self, fps: int, depth: bool = False):
        self._window = max(1, int(fps))
        self._depth = depth
        self._previous: np.ndarray | None = None
        self._previous_mean: float | None = None
        self._identical = self._dark = self._bright = 0
        self._since_jump: int | None = None
        #: Every flag raised at some point of the episode (stored with it: `episode_flags`).
        self._seen: set[str] = set()

    def update(self, pixels: np.ndarray) -> None:
        sample = pixels[::_STEP, ::_STEP]
        identical = self._previous is not None and np.array_equal(sample, self._previous)
        self._identical = self._identical + 1 if identical else 0
        self._previous = sample.copy()
        if not self._depth:
            self._update_levels(sample)
        self._seen.update(self.flags())

    def _update_levels(self, sample: np.ndarray) -> None:
        mean = float(sample.mean())
        self._dark = self._dark + 1 if mean < _DARK else 0
        self._bright = self._bright + 1 if mean > _BRIGHT else 0
        if self._previous_mean is not None and abs(mean - self._previous_mean) > _JUMP:
            self._since_jump = 0
        elif self._since_jump is not None:
            self._since_jump += 1
        self._previous_mean = mean

    def episode_flags(self) -> tuple[str, ...]:
        """The flags raised at any time of the episode, in `FLAGS` order."""
        return tuple(flag for flag in FLAGS if flag in self._seen)

    def flags(self) -> tuple[str, ...]:
        found = []
        if self._identical >= self._window:
            found.append("frozen")
        if self._dark >= self._window:
            found.append("black")
        if self._bright >= self._window:
            found.append("saturated")
        if self._since_jump is not None and self._since_jump < self._window:
            found.append("exposure jump")
        return tuple(found)
