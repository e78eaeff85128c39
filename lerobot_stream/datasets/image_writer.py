"""PNG (and depth TIFF) writing for the non-streaming path, in background threads so ``add_frame`` does
not wait.

PNGs are encoded with PyAV's PNG encoder (no imaging library needed). A write that fails is remembered
and raised by the next `AsyncImageWriter.wait_until_done`, so ``save_episode`` never encodes a video from
a folder with a frame missing.
"""

from __future__ import annotations

import functools
import logging
import queue
import threading
from pathlib import Path

import av
import numpy as np

from lerobot_stream.datasets.tiff import tiff_bytes
from lerobot_stream.datasets.utils import atomic_write
from workers.frames import check_depth_frame, to_depth_map, to_hwc_uint8

logger = logging.getLogger(__name__)


def encode_png(image_hwc: np.ndarray, compress_level: int = 1) -> bytes:
    """PNG bytes of a uint8 HWC RGB image."""
    height, width = image_hwc.shape[:2]
    context = av.CodecContext.create("png", "w")
    context.width, context.height = width, height
    context.pix_fmt = "rgb24"
    context.options = {"compression_level": str(compress_level)}
    frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image_hwc), format="rgb24")
    packets = list(context.encode(frame)) + list(context.encode(None))
    return b"".join(bytes(p) for p in packets)


def image_array_to_pil_image(image_array: np.ndarray, range_check: bool = True):
    """A PIL image of an array (LeRobot's helper; needs Pillow, which LeRobot environments have): a
    single-channel depth map keeps its precision (``I;16`` for uint16, ``F`` for float32), an RGB frame
    (HWC or CHW, uint8 or float in [0, 1]) becomes 8-bit RGB."""
    import PIL.Image

    if image_array.ndim not in (2, 3):
        raise ValueError(f"The array has {image_array.ndim} dimensions, but 2 or 3 is expected for an image.")
    if image_array.ndim == 2 or 1 in (image_array.shape[0], image_array.shape[-1]):
        depth = image_array if image_array.ndim == 2 else check_depth_frame("image", image_array)
        if depth.dtype not in (np.uint16, np.float32):
            raise ValueError(
                f"Unsupported single-channel image dtype: {depth.dtype}. Supported dtypes: ['float32', 'uint16']."
            )
        return PIL.Image.fromarray(np.ascontiguousarray(depth))
    if image_array.dtype != np.uint8 and not range_check:
        image_array = np.clip(image_array, 0.0, 1.0)
    return PIL.Image.fromarray(to_hwc_uint8(image_array, "image"))


def write_image(image, path: Path, compress_level: int = 1, name: str = "image") -> None:
    """Validate, encode and atomically write one frame: PNG (numpy HWC/CHW, float in [0, 1], PIL), or a
    depth map as TIFF when ``path`` ends in ``.tiff``."""
    if Path(path).suffix == ".tiff":
        data = tiff_bytes(to_depth_map(image, name))
    else:
        data = encode_png(to_hwc_uint8(image, name), compress_level)

    def write(temp: Path) -> None:
        temp.write_bytes(data)

    atomic_write(Path(path), write, durable=False)  # staging: written again if lost


class AsyncImageWriter:
    """A few threads that write PNG files from a bounded queue."""

    def __init__(self, num_threads: int = 4, max_pending: int = 256):
        if num_threads <= 0:
            raise ValueError(f"num_threads must be positive, got {num_threads}")
        self._queue: queue.Queue = queue.Queue(maxsize=max_pending)
        self._errors: list[str] = []
        self._lock = threading.Lock()
        self._threads = [
            threading.Thread(target=self._run, daemon=True, name=f"png-writer-{i}") for i in range(num_threads)
        ]
        for thread in self._threads:
            thread.start()
        self._stopped = False

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            try:
                if item is None:
                    return
                image, path, compress_level, name = item
                try:
                    write_image(image, path, compress_level, name)
                except Exception as exc:
                    logger.error("Error writing image %s: %s", path, exc)
                    with self._lock:
                        self._errors.append(f"{path}: {exc}")
            finally:
                self._queue.task_done()

    def save_image(self, image, path: Path, compress_level: int = 1, name: str = "image") -> None:
        if self._stopped:
            raise RuntimeError("The image writer is stopped")
        # Copy: camera drivers reuse their buffers.
        self._queue.put((np.array(image) if isinstance(image, np.ndarray) else image, Path(path), compress_level, name))

    def wait_until_done(self) -> None:
        """Block until every queued image is written; raise if any write failed."""
        self._queue.join()
        with self._lock:
            errors, self._errors = self._errors, []
        if errors:
            raise OSError(f"{len(errors)} image(s) could not be written: {errors[:3]}")

    def discard_errors(self) -> None:
        self._queue.join()
        with self._lock:
            self._errors = []

    def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        for _ in self._threads:
            self._queue.put(None)
        for thread in self._threads:
            thread.join(timeout=10)


def safe_stop_image_writer(func):
    """Decorator (LeRobot's name): if ``func`` raises, stop the background image writer of the
    ``dataset=`` keyword argument before the exception propagates, so no writer thread outlives it."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except BaseException:
            writer = getattr(kwargs.get("dataset"), "writer", None)
            if writer is not None and writer.image_writer is not None:
                logger.warning("Waiting for image writer to terminate...")
                writer.stop_image_writer()
            raise

    return wrapper
