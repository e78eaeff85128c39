"""Image files for the non-streaming path: PNG for colour frames, TIFF for depth maps, written in the
background so ``add_frame`` does not wait (LeRobot's ``image_writer`` module, same names and behaviour).

PNGs are encoded with PyAV's PNG encoder and depth TIFFs by `lerobot_stream.storage.tiff` (no imaging
library needed); other formats (``.jpg``, ``.bmp``, colour ``.tiff``) go through Pillow where it is installed.

As in LeRobot, a failed write is logged and does not raise - neither from `write_image` nor from
`AsyncImageWriter.wait_until_done`. Unlike LeRobot, the writer also remembers each failure:
`AsyncImageWriter.check_errors` raises them, and the dataset writer calls it before encoding an episode, so
``save_episode`` never encodes a video from a folder with a frame missing.

``num_processes > 0`` writes from that many processes (``num_threads`` threads each), started with the
``spawn`` method: safe beside the encoder threads (``fork`` is not), but like every ``spawn`` user the
recording script needs an ``if __name__ == "__main__":`` guard.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import multiprocessing
import queue
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import av
import numpy as np

from lerobot_stream.errors import UnsupportedImageError
from lerobot_stream.storage.layout import atomic_write
from lerobot_stream.storage.tiff import tiff_bytes
from workers.frames import as_numpy, check_depth_frame, to_depth_map, to_hwc_uint8

logger = logging.getLogger(__name__)

_DEPTH_SUFFIXES = (".tiff", ".tif")
#: How often a wait on writer processes checks that they are still alive.
_POLL_S = 0.2


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


def _is_depth_map(array: Any) -> bool:
    """2-D, or one channel first or last: what depth cameras deliver."""
    return isinstance(array, np.ndarray) and (
        array.ndim == 2 or (array.ndim == 3 and 1 in (array.shape[0], array.shape[-1]))
    )


def image_array_to_pil_image(image_array: np.ndarray, range_check: bool = True):
    """A PIL image of an array (LeRobot's helper; needs Pillow, which LeRobot environments have): a
    single-channel depth map keeps its precision (``I;16`` for uint16, ``F`` for float32), an RGB frame
    (HWC or CHW, uint8 or float in [0, 1]) becomes 8-bit RGB; other channel counts are not images."""
    import PIL.Image

    if image_array.ndim not in (2, 3):
        raise ValueError(f"The array has {image_array.ndim} dimensions, but 2 or 3 is expected for an image.")
    if _is_depth_map(image_array):
        depth = image_array if image_array.ndim == 2 else check_depth_frame("image", image_array)
        if depth.dtype not in (np.uint16, np.float32):
            raise UnsupportedImageError(
                f"Unsupported single-channel image dtype: {depth.dtype}. Supported dtypes: ['float32', 'uint16']."
            )
        return PIL.Image.fromarray(np.ascontiguousarray(depth))
    if 3 not in (image_array.shape[0], image_array.shape[-1]):
        raise UnsupportedImageError(
            f"An image has 1 or 3 channels (first or last axis); received shape {image_array.shape}."
        )
    if image_array.dtype != np.uint8 and not range_check:
        image_array = np.clip(image_array, 0.0, 1.0)
    return PIL.Image.fromarray(to_hwc_uint8(image_array, "image"))


def _file_bytes(image: Any, path: Path, compress_level: int, name: str) -> bytes | None:
    """The file's bytes for the PNG and depth-TIFF cases; None for a format left to Pillow."""
    suffix = path.suffix.lower()
    array = as_numpy(image)
    if suffix in _DEPTH_SUFFIXES and _is_depth_map(array):
        return tiff_bytes(to_depth_map(array, name))
    if suffix == ".png":
        return encode_png(to_hwc_uint8(image, name), compress_level)
    return None


def write_image_or_raise(image: Any, path: Path, compress_level: int = 1, name: str = "image") -> None:
    """Validate, encode and atomically write one frame (see the module docstring for the formats); raise
    with the camera ``name`` and the problem if it cannot be written."""
    path = Path(path)
    data = _file_bytes(image, path, compress_level, name)
    if data is not None:
        atomic_write(path, lambda temp: temp.write_bytes(data), durable=False)  # staging: written again if lost
        return
    array = as_numpy(image)
    if not isinstance(array, np.ndarray):
        raise ValueError(f"Camera '{name}': cannot write {type(image).__name__} as {path.suffix}")
    picture = image_array_to_pil_image(array)  # Pillow: the other formats
    import PIL.Image

    image_format = PIL.Image.registered_extensions().get(path.suffix.lower())
    if image_format is None:
        raise ValueError(f"Camera '{name}': no image format for the file name {path.name}")
    atomic_write(path, lambda temp: picture.save(temp, format=image_format), durable=False)


def write_image(image: Any, fpath: Path, compress_level: int = 1, name: str = "image") -> None:
    """LeRobot's ``write_image``: write one frame; a failure is logged (naming the file and why), not raised."""
    try:
        write_image_or_raise(image, fpath, compress_level, name)
    except Exception as exc:
        logger.error("Error writing image %s: %s", fpath, exc)


def _write_items(tasks, report: Callable[[str], None]) -> None:
    """One writer thread: write queued ``(image, path, compress_level, name)`` items until a ``None``; each
    failure is logged and passed to ``report``."""
    while True:
        item = tasks.get()
        try:
            if item is None:
                return
            image, path, compress_level, name = item
            try:
                write_image_or_raise(image, path, compress_level, name)
            except Exception as exc:
                logger.error("Error writing image %s: %s", path, exc)
                report(f"{path}: {exc}")
        finally:
            tasks.task_done()


def _writer_process(tasks, errors, num_threads: int) -> None:
    """Body of one writer process: ``num_threads`` threads over the shared queue, failures sent back."""
    threads = [threading.Thread(target=_write_items, args=(tasks, errors.put), daemon=True) for _ in range(num_threads)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


class AsyncImageWriter:
    """Background image writing: ``num_threads`` threads in this process, or ``num_processes`` processes of
    ``num_threads`` threads each (LeRobot's constructor and attributes: ``queue``, ``threads``, ``processes``)."""

    def __init__(self, num_processes: int = 0, num_threads: int = 1, max_pending: int = 256):
        if num_threads < 0 or num_processes < 0:
            raise ValueError(f"num_threads and num_processes cannot be negative, got {num_threads}, {num_processes}")
        if num_threads <= 0 and num_processes <= 0:
            raise ValueError("Number of threads and processes must be greater than zero.")
        self.num_processes = num_processes
        self.num_threads = num_threads
        self.threads: list[threading.Thread] = []
        self.processes: list[multiprocessing.Process] = []
        self._errors: list[str] = []
        self._lock = threading.Lock()
        self._stopped = False
        if num_processes == 0:
            self.queue: Any = queue.Queue(maxsize=max_pending)
            self._error_queue = None
            for i in range(num_threads):
                thread = threading.Thread(
                    target=_write_items, args=(self.queue, self._record_error), daemon=True, name=f"image-writer-{i}"
                )
                thread.start()
                self.threads.append(thread)
        else:
            context = multiprocessing.get_context("spawn")
            self.queue = context.JoinableQueue(maxsize=max_pending)
            # A SimpleQueue writes to its pipe in put() itself (a Queue hands over to a feeder thread): an error
            # is readable here before its task is marked done, so check_errors() after join() never misses it.
            self._error_queue = context.SimpleQueue()
            for _ in range(num_processes):
                process = context.Process(
                    target=_writer_process, args=(self.queue, self._error_queue, max(1, num_threads)), daemon=True
                )
                process.start()
                self.processes.append(process)

    @property
    def stopped(self) -> bool:
        return self._stopped

    def save_image(self, image: Any, fpath: Path, compress_level: int = 1, name: str = "image") -> None:
        """Queue one frame for writing (a copy of a numpy array: camera drivers reuse their buffers). After
        `stop` nothing is written: logged as an error, as LeRobot ignores it."""
        if self._stopped:
            logger.error("Image writer is stopped; %s was not written", fpath)
            return
        if hasattr(image, "detach") and hasattr(image, "numpy"):  # a torch tensor: no torch in the writers
            image = image.detach().cpu().numpy()
        elif isinstance(image, np.ndarray):
            image = np.array(image)
        item = (image, Path(fpath), compress_level, name)
        if not self.processes:
            self.queue.put(item)
            return
        while True:  # a full queue whose processes died would block forever
            self._check_processes()
            try:
                self.queue.put(item, timeout=_POLL_S)
                return
            except queue.Full:
                continue

    def _check_processes(self) -> None:
        """Raise if a writer process has exited: what is queued to them would never be written."""
        dead = [process for process in self.processes if not process.is_alive()]
        if dead:
            codes = ", ".join(f"pid {process.pid} exit code {process.exitcode}" for process in dead)
            raise RuntimeError(
                f"image writer process(es) exited ({codes}); the images queued to them are not written. With "
                "image_writer_processes > 0 the recording script must guard its top-level code with "
                '`if __name__ == "__main__":` - each writer process imports the script again (Python\'s spawn).'
            )

    def wait_until_done(self) -> None:
        """Block until every queued image is written (or failed: see `check_errors`); with writer processes, raise
        instead of waiting forever if one of them has exited."""
        if not self.processes:
            self.queue.join()
            return
        waiter = threading.Thread(target=self.queue.join, daemon=True, name="image-writer-join")
        waiter.start()
        while waiter.is_alive():
            waiter.join(_POLL_S)
            if waiter.is_alive():
                self._check_processes()

    def _record_error(self, message: str) -> None:
        with self._lock:
            self._errors.append(message)

    def _collected_errors(self) -> list[str]:
        with self._lock:
            errors, self._errors = self._errors, []
        while self._error_queue is not None and not self._error_queue.empty():
            errors.append(self._error_queue.get())
        return errors

    def check_errors(self) -> None:
        """Wait for the queue, then raise ``OSError`` naming the files that could not be written (once)."""
        self.wait_until_done()
        errors = self._collected_errors()
        if errors:
            raise OSError(f"{len(errors)} image(s) could not be written: {errors[:3]}")

    def discard_errors(self) -> None:
        self.wait_until_done()
        self._collected_errors()

    def stop(self) -> None:
        """Finish what is queued and stop every thread and process. Idempotent."""
        if self._stopped:
            return
        self._stopped = True
        for _ in self.threads:
            self.queue.put(None)
        for thread in self.threads:
            thread.join(timeout=10)
        for _ in range(len(self.processes) * max(1, self.num_threads)):
            with contextlib.suppress(queue.Full):  # processes that died take no more work: do not block on them
                self.queue.put(None, timeout=_POLL_S if all(p.is_alive() for p in self.processes) else 0)
        for process in self.processes:
            process.join(timeout=10)
            if process.is_alive():
                logger.warning("image writer process %d did not stop; terminating it", process.pid)
                process.terminate()
                process.join(timeout=5)
        if self._error_queue is not None:  # keep what the processes reported for a last check_errors()
            self._errors.extend(self._collected_errors())
            self.queue.close()
            self.queue.cancel_join_thread()  # items left for dead processes must not keep this process alive
            self._error_queue.close()
            self._error_queue = None


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
                writer.image_writer.stop()  # the dataset's staging starts a new one if recording goes on
            raise

    return wrapper
