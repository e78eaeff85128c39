"""Built-in synthetic sources: cameras that look like cameras to an encoder, and a joint-state stream.

A synthetic camera pre-generates a pool of frames (a moving gradient, texture, a bright moving blob
and mild noise, distinct per camera and deterministic from its seed) so that producing a frame during a
recording costs nothing. Pure noise would be the worst case for every codec and a static image far too
easy; this sits in between, like a real scene with some motion.
"""

from __future__ import annotations

import numpy as np

DEFAULT_POOL = 48


class FramePool:
    """Frames served in a loop from ``offset``, so that reading one costs nothing (shared, read-only arrays)."""

    def __init__(self, frames: list[np.ndarray], offset: int = 0):
        self._frames = frames
        self._next = offset % len(frames)

    def read(self) -> np.ndarray:
        """The next frame (a shared, read-only array: copy it if you modify it)."""
        frame = self._frames[self._next]
        self._next = (self._next + 1) % len(self._frames)
        return frame

    def frame(self, index: int) -> np.ndarray:
        return self._frames[index % len(self._frames)]


class _LoopingSource(FramePool):
    """A pool of frames rendered once, at construction, by `_render`."""

    def __init__(self, height: int = 480, width: int = 640, seed: int = 0, pool: int = DEFAULT_POOL):
        if height < 2 or width < 2:
            raise ValueError(f"frame size must be at least 2x2, got {height}x{width}")
        self.height, self.width, self.seed = height, width, seed
        super().__init__([self._render(i, pool) for i in range(pool)])

    def _render(self, index: int, pool: int) -> np.ndarray:
        raise NotImplementedError


class SyntheticCamera(_LoopingSource):
    """A deterministic, looping video source of ``height x width`` RGB uint8 frames."""

    def _render(self, index: int, pool: int) -> np.ndarray:
        rng = np.random.default_rng(self.seed * 1000 + index)
        phase = 2 * np.pi * index / pool
        y = np.linspace(0.0, 1.0, self.height, dtype=np.float32)[:, None]
        x = np.linspace(0.0, 1.0, self.width, dtype=np.float32)[None, :]
        hue = (self.seed * 0.37) % 1.0
        base = 0.5 + 0.35 * np.sin(2 * np.pi * (x * (1 + hue) + y * 0.7) + phase)
        texture = 0.08 * np.sin(40 * np.pi * x + 7 * self.seed) * np.sin(30 * np.pi * y)
        cy = 0.5 + 0.3 * np.sin(phase + self.seed)
        cx = 0.5 + 0.3 * np.cos(phase * 1.3 + self.seed)
        blob = 0.6 * np.exp(-((x - cx) ** 2 + (y - cy) ** 2) / 0.01)
        channels = [base + texture + blob, np.roll(base, self.seed * 17 + 5, axis=1) + texture, 1.0 - base + blob * 0.5]
        image = np.stack([np.broadcast_to(c, (self.height, self.width)) for c in channels], axis=-1)
        image = image + rng.normal(0.0, 0.015, image.shape).astype(np.float32)
        return (np.clip(image, 0.0, 1.0) * 255).astype(np.uint8)


class SyntheticDepthCamera(_LoopingSource):
    """A deterministic, looping depth source: ``height x width`` uint16 millimetres, like a RealSense.

    A floor that recedes from ~0.8 m (bottom) to ~4 m (top), a box moving in front of it, depth noise
    growing with distance (about 1 % of the depth) and ~2 % of pixels with no reading (0), as structured
    light and stereo sensors return them.
    """

    def _render(self, index: int, pool: int) -> np.ndarray:
        rng = np.random.default_rng(self.seed * 1000 + index + 500)
        phase = 2 * np.pi * index / pool
        y = np.linspace(0.0, 1.0, self.height, dtype=np.float32)[:, None]
        x = np.linspace(0.0, 1.0, self.width, dtype=np.float32)[None, :]
        metres = np.broadcast_to(4.0 - 3.2 * y, (self.height, self.width)).copy()
        cx, cy = 0.5 + 0.3 * np.sin(phase + self.seed), 0.55 + 0.1 * np.cos(phase)
        box = (np.abs(x - cx) < 0.15) & (np.abs(y - cy) < 0.2)
        front = np.broadcast_to(0.9 + 0.3 * np.sin(phase) + 0.2 * (x - cx), metres.shape)  # a slanted face
        metres[box] = front[box]
        metres += rng.normal(0.0, 1.0, metres.shape).astype(np.float32) * 0.01 * metres
        depth = np.clip(metres * 1000, 0, 65535).astype(np.uint16)
        depth[rng.random(depth.shape) < 0.02] = 0
        return depth


class SyntheticRobot:
    """Smooth joint trajectories for ``observation.state`` and ``action`` (float32 vectors)."""

    def __init__(self, joints: int = 6, seed: int = 0):
        rng = np.random.default_rng(seed)
        self.joints = joints
        self._frequency = rng.uniform(0.1, 0.5, joints).astype(np.float32)
        self._phase = rng.uniform(0, 2 * np.pi, joints).astype(np.float32)

    def state(self, t: float) -> np.ndarray:
        return np.sin(2 * np.pi * self._frequency * t + self._phase).astype(np.float32)

    def action(self, t: float, lead_s: float = 0.1) -> np.ndarray:
        return self.state(t + lead_s)

    def names(self) -> list[str]:
        return [f"joint_{i}" for i in range(self.joints)]
