"""Camera frames staged as image files during an episode, and encoded from them at save time.

LeRobot's legacy recording path (``streaming_encoding=False``) and ``image`` features both write each
camera frame as a file under ``root/images`` (PNG; TIFF for depth maps) from background threads
(`lerobot_stream.recorder.image_writer`). At ``save_episode`` the video cameras' files are encoded -
cameras in parallel, with the encoder processes' own encode core - into one `EpisodeResult` per camera,
the same result the streaming path returns, and the files are deleted.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from lerobot_stream.recorder.frame_files import encode_image_folder
from lerobot_stream.recorder.image_writer import AsyncImageWriter
from lerobot_stream.storage.layout import DEFAULT_DEPTH_PATH, DEFAULT_IMAGE_PATH, IMAGES_DIR, STAGING_DIR
from workers.codecs import EncoderSettings
from workers.encode import EpisodeResult
from workers.errors import CameraEncoderError, EncodingFailed

logger = logging.getLogger(__name__)


class FrameStaging:
    """The image files of the episode being recorded, the threads that write them, and their encoding."""

    def __init__(self, root: Path, depth_keys: list[str]):
        self.root = Path(root).absolute()
        self._depth_keys = set(depth_keys)
        #: The background writer threads (LeRobot's ``image_writer``), started on first use.
        self.writer: AsyncImageWriter | None = None
        #: The MP4s of the last `encode_episode`, until `remove_encoded`.
        self._encoded: list[Path] = []

    # -- writer threads -------------------------------------------------------------------------------------
    def start(self, num_threads: int = 4, num_processes: int = 0) -> None:
        if self.writer is not None and not self.writer.stopped:
            logger.warning("An image writer is already running")
            return
        self.writer = AsyncImageWriter(num_processes=num_processes, num_threads=num_threads or 4)

    def stop(self) -> None:
        if self.writer is not None:
            self.writer.stop()
            self.writer = None

    def wait(self) -> None:
        """Every staged frame is on disk (or its write error is raised)."""
        if self.writer is not None:
            self.writer.check_errors()

    def discard_errors(self) -> None:
        if self.writer is not None:
            self.writer.discard_errors()

    # -- files ----------------------------------------------------------------------------------------------
    def path(self, key: str, episode_index: int, frame_index: int) -> Path:
        template = DEFAULT_DEPTH_PATH if key in self._depth_keys else DEFAULT_IMAGE_PATH
        return self.root / template.format(image_key=key, episode_index=episode_index, frame_index=frame_index)

    def episode_dir(self, key: str, episode_index: int) -> Path:
        return self.path(key, episode_index, 0).parent

    def stage(self, key: str, episode_index: int, frame_index: int, image: Any, compression: int) -> Path:
        """Queue one frame's file; returns its path."""
        path = self.path(key, episode_index, frame_index)
        if frame_index == 0:
            path.parent.mkdir(parents=True, exist_ok=True)
        if self.writer is None or self.writer.stopped:  # stopped: by `safe_stop_image_writer` after an error
            self.start()
        self.writer.save_image(image, path, compression, key)
        return path

    def cleanup(self) -> None:
        """Remove the staging folders once nothing is left in them."""
        staging = self.root / STAGING_DIR
        if staging.is_dir() and not staging.is_symlink() and not any(staging.iterdir()):
            staging.rmdir()
        images = self.root / IMAGES_DIR  # a symbolic link here is refused by the writer, never followed
        if images.is_dir() and not images.is_symlink() and not any(images.rglob("*.png")):
            staged_depth = any(images.rglob("*.tiff"))
            if not staged_depth:
                shutil.rmtree(images, ignore_errors=True)

    def remove_episode(self, keys: list[str], episode_index: int) -> None:
        """Delete an episode's staged frames of ``keys`` - after the queued writes are done: a write still queued
        would create its folder again after the removal."""
        if self.writer is not None:
            self.writer.wait_until_done()
        for key in keys:
            shutil.rmtree(self.episode_dir(key, episode_index), ignore_errors=True)

    # -- encoding -------------------------------------------------------------------------------------------
    def encode_episode(
        self,
        keys: list[str],
        episode_index: int,
        parallel: bool,
        settings_for: Callable[[str], EncoderSettings],
    ) -> dict[str, EpisodeResult]:
        """Each camera's staged frames as a temporary MP4 under the staging folder (encoded with
        ``settings_for(camera)``); the frames are deleted.

        If any camera fails, the others' MP4s are removed and `EncodingFailed` names every failed camera with its
        cause - the error the streaming path raises for the same failure. Otherwise they stay until
        `remove_encoded`, once the caller has copied them into the dataset.
        """
        self.wait()
        with ThreadPoolExecutor(max_workers=len(keys) if parallel else 1) as pool:
            futures = {key: pool.submit(self._encode, key, episode_index, settings_for(key)) for key in keys}
            errors, results = {}, {}
            for key, future in futures.items():
                try:
                    results[key] = future.result()
                except Exception as exc:
                    errors[key] = CameraEncoderError(key, f"camera {key}: {type(exc).__name__}: {exc}")
        self._encoded = [result.path for result in results.values()]
        if errors:
            self.remove_encoded()
            raise EncodingFailed(errors, {})
        self.remove_episode(keys, episode_index)
        return results

    def remove_encoded(self) -> None:
        """Delete the MP4s of the last `encode_episode`."""
        for path in self._encoded:
            path.unlink(missing_ok=True)
        self._encoded = []

    def _encode(self, key: str, episode_index: int, settings: EncoderSettings) -> EpisodeResult:
        suffix = "tiff" if key in self._depth_keys else "png"
        frames = sorted(self.episode_dir(key, episode_index).glob(f"frame-*.{suffix}"))
        if not frames:
            raise FileNotFoundError(
                f"no staged frames of episode {episode_index} in {self.episode_dir(key, episode_index)}"
            )
        target = self.root / STAGING_DIR / f"{key}_{episode_index:06d}.mp4"
        return encode_image_folder(frames, target, settings)
