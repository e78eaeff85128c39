"""Camera content that costs an encoder what real footage costs: a picture panned like a moving camera.

Robot cameras film textured, cluttered scenes through a sensor that adds noise to every frame. Both make
encoding expensive: texture costs bits and motion search, noise defeats the codec's shortcuts for
static or flat areas. The cheap `lerobot_stream.sources.synthetic.SyntheticCamera` pattern has neither and
encodes ~2.6x faster than footage at a quarter of its bitrate (`benchmarks.calibrate_content`,
benchmarks/results/2026-11-29-content-calibration.txt), so capacities measured on it are wrong by that much.

`PannedImageCamera` moves a window along a smooth closed path over a larger picture (sub-pixel
positions, as a handheld or wrist camera moves) and adds Gaussian sensor noise to every frame. The
picture is either the user's own photograph (``--source photo.jpg``) or, by default, `natural_canvas`: a
procedural scene with the statistics of natural images - a 1/f amplitude spectrum (the texture of real
surfaces at every scale) and opaque objects with sharp edges in front of it (tables, parts, tools). Its
parameters are calibrated so that encoding it costs what the panned photographs of
``benchmarks/calibrate_content.py`` cost, in time and in bytes (see that script and the README).
"""

from __future__ import annotations

import numpy as np

from lerobot_stream.sources.synthetic import DEFAULT_POOL, _LoopingSource

#: Sensor noise of the default scene (standard deviation in 8-bit levels), as a typical USB camera in
#: indoor light shows.
DEFAULT_NOISE_SIGMA = 2.0
#: Amplitude-spectrum exponent of the texture (1 is the natural-image average, 1/f; calibrated to 1.2).
SPECTRUM_EXPONENT = 1.2
#: Standard deviation of the texture's luminance, in 8-bit levels.
TEXTURE_CONTRAST = 18.0
#: Objects drawn in front of the texture per megapixel of canvas.
OBJECTS_PER_MEGAPIXEL = 60
#: How far the camera moves off centre along its path, as a fraction of the frame (each way).
PAN_FRACTION = 0.06


def _pink_noise(rng: np.random.Generator, height: int, width: int, exponent: float) -> np.ndarray:
    """A zero-mean field with amplitude spectrum 1/f**exponent, scaled to unit standard deviation."""
    fy = np.fft.fftfreq(height)[:, None]
    fx = np.fft.rfftfreq(width)[None, :]
    radius = np.sqrt(fx * fx + fy * fy)
    radius[0, 0] = 1.0
    spectrum = (rng.normal(size=radius.shape) + 1j * rng.normal(size=radius.shape)) / radius**exponent
    spectrum[0, 0] = 0.0
    field = np.fft.irfft2(spectrum, s=(height, width))
    return field / field.std()


def natural_canvas(height: int, width: int, seed: int = 0) -> np.ndarray:
    """A ``height x width`` RGB uint8 picture with natural-image statistics (see the module docstring)."""
    rng = np.random.default_rng(seed)
    # Texture: a luminance field plus two weaker chroma fields, around a per-seed base colour.
    luminance = _pink_noise(rng, height, width, SPECTRUM_EXPONENT)
    chroma = [_pink_noise(rng, height, width, SPECTRUM_EXPONENT + 0.3) for _ in range(2)]
    base = rng.uniform(90, 160, 3)
    image = np.empty((height, width, 3), dtype=np.float32)
    mix = np.array([[1.0, 0.6, 0.0], [1.0, -0.3, 0.4], [1.0, -0.2, -0.7]])  # RGB from (Y, C1, C2)
    for channel in range(3):
        image[..., channel] = base[channel] + TEXTURE_CONTRAST * (
            mix[channel, 0] * luminance + 0.5 * (mix[channel, 1] * chroma[0] + mix[channel, 2] * chroma[1])
        )
    # Objects: rectangles and ellipses, flat colour with their own faint texture and shading. Each is drawn
    # within its bounding box only: the whole canvas per object made a 4K scene take minutes.
    count = max(1, round(OBJECTS_PER_MEGAPIXEL * height * width / 1e6))
    detail = _pink_noise(rng, height, width, SPECTRUM_EXPONENT)
    for _ in range(count):
        cy, cx = rng.uniform(0, height), rng.uniform(0, width)
        ry, rx = rng.uniform(0.02, 0.12) * height, rng.uniform(0.02, 0.12) * width
        box_y = slice(max(0, int(cy - ry)), min(height, int(np.ceil(cy + ry)) + 1))
        box_x = slice(max(0, int(cx - rx)), min(width, int(np.ceil(cx + rx)) + 1))
        y, x = np.mgrid[box_y, box_x].astype(np.float32)
        if rng.random() < 0.5:
            inside = (np.abs(y - cy) < ry) & (np.abs(x - cx) < rx)
        else:
            inside = ((y - cy) / ry) ** 2 + ((x - cx) / rx) ** 2 < 1.0
        colour = rng.uniform(20, 235, 3)
        shade = 1.0 + 0.15 * (y[inside] - cy) / ry
        box, box_detail = image[box_y, box_x], detail[box_y, box_x]
        for channel in range(3):
            box[..., channel][inside] = colour[channel] * shade + 10 * box_detail[inside]
    return np.clip(image, 0, 255).astype(np.uint8)


def canvas_size(height: int, width: int) -> tuple[int, int]:
    """The smallest picture a ``height x width`` camera can pan over: the frame plus its path, each way."""
    margin_y, margin_x = int(np.ceil(PAN_FRACTION * height)) + 2, int(np.ceil(PAN_FRACTION * width)) + 2
    return height + 2 * margin_y, width + 2 * margin_x


def _shift_bilinear(canvas: np.ndarray, top: float, left: float, height: int, width: int) -> np.ndarray:
    """The ``height x width`` window of ``canvas`` at a fractional position, bilinearly interpolated in 8-bit
    fixed point (uint16 result; within half a level of the exact value per pass, several times faster than
    floats)."""
    y0, x0 = int(np.floor(top)), int(np.floor(left))
    wy, wx = np.uint16(round((top - y0) * 256)), np.uint16(round((left - x0) * 256))
    window = canvas[y0 : y0 + height + 1, x0 : x0 + width + 1].astype(np.uint16)
    rows = window[:-1] * (np.uint16(256) - wy)
    rows += window[1:] * wy
    rows += np.uint16(128)
    rows >>= 8
    out = rows[:, :-1] * (np.uint16(256) - wx)
    out += rows[:, 1:] * wx
    out += np.uint16(128)
    out >>= 8
    return out


#: The sensor noise is drawn once per camera, this many rows and values larger than a frame; each frame adds it
#: at its own offset. Drawing Gaussian noise for every frame was most of the time it took to build the scene
#: (~30 ms a 720p frame); shifted, the noise still differs from frame to frame wherever the codec looks.
_NOISE_SPAN = 64


def _noise_field(rng: np.random.Generator, height: int, width: int, sigma: float) -> np.ndarray:
    field = rng.standard_normal((height + _NOISE_SPAN, 3 * width + _NOISE_SPAN), dtype=np.float32)
    return np.rint(field * np.float32(sigma)).astype(np.int16)


#: What one camera's pool of pre-rendered frames may take: large frames get fewer of them (at least 8).
POOL_BYTES = 256 * 2**20


def pool_size(height: int, width: int, pool: int = DEFAULT_POOL) -> int:
    """How many frames a camera pre-renders: ``pool``, fewer where that would exceed `POOL_BYTES`."""
    return int(min(pool, max(8, POOL_BYTES // (height * width * 3))))


class PannedImageCamera(_LoopingSource):
    """A camera panning over ``canvas`` (any RGB uint8 picture) along a closed Lissajous path, with sensor
    noise; the pool of ``pool`` frames is one lap, so the loop has no jump.

    ``canvas=None`` uses `natural_canvas` (seeded). A canvas smaller than the frame plus the pan margin is
    scaled up first, by the smallest factor that fits (bicubic).
    """

    def __init__(
        self,
        height: int = 480,
        width: int = 640,
        seed: int = 0,
        pool: int = DEFAULT_POOL,
        canvas: np.ndarray | None = None,
        noise_sigma: float = DEFAULT_NOISE_SIGMA,
    ):
        need_h, need_w = canvas_size(height, width)
        if canvas is None:
            canvas = natural_canvas(need_h, need_w, seed)
        self._canvas = _at_least(np.asarray(canvas, dtype=np.uint8), need_h, need_w)
        rng = np.random.default_rng(seed + 77)
        self._noise = _noise_field(rng, height, width, noise_sigma) if noise_sigma else None
        super().__init__(height, width, seed, pool_size(height, width, pool))
        self._noise = None  # every frame is rendered

    def _render(self, index: int, pool: int) -> np.ndarray:
        phase = 2 * np.pi * index / pool + self.seed
        canvas_h, canvas_w = self._canvas.shape[:2]
        spare_y, spare_x = canvas_h - self.height - 2, canvas_w - self.width - 2
        top = spare_y / 2 * (1 + np.sin(phase))
        left = spare_x / 2 * (1 + np.sin(2 * phase + 0.5))
        frame = _shift_bilinear(self._canvas, top, left, self.height, self.width)
        if self._noise is None:
            return frame.astype(np.uint8)
        dy, dx = np.random.default_rng(self.seed * 1000 + index + 77).integers(0, _NOISE_SPAN, 2)
        noisy = frame.astype(np.int16)
        noisy += self._noise[dy : dy + self.height, dx : dx + 3 * self.width].reshape(self.height, self.width, 3)
        np.clip(noisy, 0, 255, out=noisy)
        return noisy.astype(np.uint8)


def _at_least(canvas: np.ndarray, height: int, width: int) -> np.ndarray:
    if canvas.ndim != 3 or canvas.shape[2] != 3:
        raise ValueError(f"a canvas must be an RGB picture (H, W, 3), got shape {canvas.shape}")
    factor = max(height / canvas.shape[0], width / canvas.shape[1])
    if factor <= 1.0:
        return canvas
    import av  # only for scaling a user's picture up

    size = (int(np.ceil(canvas.shape[1] * factor)), int(np.ceil(canvas.shape[0] * factor)))
    frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(canvas), format="rgb24")
    return frame.reformat(width=size[0], height=size[1], interpolation="BICUBIC").to_ndarray()
