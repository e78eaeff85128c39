"""Recording episodes into a LeRobot v3.0 dataset: the engine's writer (LeRobot's ``DatasetWriter`` adds its
constructor and members over it, `lerobot_stream.datasets.dataset_writer`).

Two recording paths behind one interface (`lerobot_stream.recorder.video_cameras`):

* **streaming** (``streaming_encoder`` given): camera frames go to the per-camera encoder processes as
  they arrive. With our encoder (process backend) and no image features ``save_episode`` does not wait for the
  encoders: it journals the rows, ends the cameras' episode and returns; the episode is committed in the
  background once its videos are complete (`lerobot_stream.recorder.pending_episodes` says what a reader sees
  meanwhile). Otherwise it finishes the cameras' files and appends them before returning.
* **PNG**: camera frames are written as PNG files under ``root/images`` by background threads during the
  episode; ``save_episode`` encodes them, cameras in parallel, with the same encode core, then deletes
  them.

``save_episode`` commits an episode in an order that keeps the dataset readable if the process dies at
any point: the videos are appended (new files written aside, then renamed into place), then the data
parquet (rewritten aside, renamed), then the episodes table, info.json and stats.json. Every file is
complete on disk after each episode; there is no parquet writer held open until ``finalize``.

Fixed compared to LeRobot v0.5.1's writer: every camera's video has exactly one
frame per data row (frames the encoder could not take are repeated and counted in the episode metadata
as ``videos/<key>/repeated_frames``); one-frame episodes; no staging files survive
``clear_episode_buffer``; an encoder error is reported, cleaned up and leaves the writer usable;
deterministic stats.json; ``batch_encoding_size > 1`` is accepted and changes nothing (each episode is encoded
while it is recorded or when it is saved: `lerobot_stream.storage.layout.check_batch_encoding_size`).
"""

from __future__ import annotations

import contextlib
import logging
import os
import weakref
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from lerobot_stream.configs.video import depth_encoder_defaults, rgb_encoder_defaults
from lerobot_stream.errors import EpisodeSaveError
from lerobot_stream.recorder.episode_checks import check_episode_space, check_private_folders, record_depth_units
from lerobot_stream.recorder.episode_commit import EpisodeCommitter
from lerobot_stream.recorder.frame_staging import FrameStaging
from lerobot_stream.recorder.journal import RowJournal, mark_committing
from lerobot_stream.recorder.pending_episodes import PendingEpisode
from lerobot_stream.recorder.save_outcomes import save_failure
from lerobot_stream.recorder.saved_episodes import SavedEpisodes
from lerobot_stream.recorder.streamed_videos import EPISODE_FOLDER_GLOB, StreamedVideos
from lerobot_stream.recorder.streaming_encoder import CameraStatus, EncoderService
from lerobot_stream.recorder.video_cameras import StagedVideos, VideoCameras
from lerobot_stream.storage.features import data_schema, validate_frame
from lerobot_stream.storage.layout import STAGING_DIR, check_batch_encoding_size
from lerobot_stream.storage.metadata import LeRobotDatasetMetadata
from lerobot_stream.storage.writer_lock import WriterLock
from shm import check_owner, in_owner
from workers.codecs import EncoderSettings
from workers.encode import EpisodeResult
from workers.errors import CameraEncoderError
from workers.frames import to_depth_map, to_hwc_uint8
from workers.stats import DepthStatsAccumulator, ImageStatsAccumulator

logger = logging.getLogger(__name__)

#: PNG compression of image features' frames, which are stored in the parquet: small beats fast.
_IMAGE_PNG_COMPRESSION = 6


class DatasetWriter:
    """Buffers one episode at a time and writes it into the dataset on ``save_episode``."""

    def __init__(
        self,
        meta: LeRobotDatasetMetadata,
        root: Path,
        rgb_encoder: Any = None,
        depth_encoder: Any = None,
        encoder_threads: int | None = None,
        batch_encoding_size: int = 1,
        streaming_encoder: EncoderService | None = None,
        initial_frames: int = 0,
    ):
        check_batch_encoding_size(batch_encoding_size)
        self._owner_pid = os.getpid()  # a forked child must neither write nor clean up this dataset
        self._meta = meta
        self._root = Path(root).absolute()
        self._lock = WriterLock(self._root)
        self._rgb_encoder = rgb_encoder if rgb_encoder is not None else rgb_encoder_defaults()
        self._depth_encoder = (
            depth_encoder if depth_encoder is not None else (depth_encoder_defaults() if meta.depth_keys else None)
        )
        self._streaming_encoder = streaming_encoder
        #: The recording number of the next episode (names its journal and staging folder; see `journal`).
        self._next_number = meta.total_episodes
        self._latest_episode: dict[str, Any] | None = None
        self._finalized = False
        self._schema = data_schema(meta.features)
        # No bound methods of this writer stored in its parts: a reference cycle would keep an abandoned writer
        # (and its writer lock) alive until the cyclic garbage collector happens to run.
        self._staging = FrameStaging(self._root, meta.depth_keys)
        #: The video cameras, on either path (`video_cameras`): the writer never asks which.
        self._videos: VideoCameras = (
            StreamedVideos(streaming_encoder, meta, self._root / STAGING_DIR)
            if streaming_encoder is not None and meta.video_keys
            else StagedVideos(self._staging, meta, self._rgb_encoder, self._depth_encoder, encoder_threads)
        )
        self._committer = EpisodeCommitter(meta, self._schema)
        self._image_stats: dict[str, ImageStatsAccumulator] = {}
        self._journal = RowJournal(self._root / STAGING_DIR, self._schema, meta.features, meta.fps)
        commit = weakref.WeakMethod(self.commit_encoded_episode)  # no reference cycle through the committing thread
        self._saved = SavedEpisodes(
            meta, self._root, initial_frames, lambda buffer, videos, settings: commit()(buffer, videos, settings, {})
        )
        #: The streamed cameras when ``save_episode`` returns before their videos are complete (see the module
        #: docstring), else None. Our encoder's process backend only: the thread backend stands for LeRobot's
        #: design (the benchmarks' baseline) and saves as LeRobot does; LeRobot's own encoder has no end_episode.
        pipelined = self._journaling and getattr(streaming_encoder, "backend", None) == "process"
        self._pipelined = self._videos if pipelined and isinstance(self._videos, StreamedVideos) else None
        if self._journaling:
            # pyarrow imports pandas (when installed) on its first conversion of Python values: ~150 ms, which
            # belongs here and not in the first recorded frame's journal append.
            pa.array([[0.0]], type=pa.list_(pa.float32(), 1))
        self.episode_buffer = self._create_episode_buffer()
        check_private_folders(self._root)
        self._lock.acquire("writing to it from this process")  # held until finalize; see writer_lock
        try:
            self._videos.warm_up()
        except BaseException:
            self._lock.release()
            raise

    # -- buffer ---------------------------------------------------------------------------------------------
    def _create_episode_buffer(self, episode_index: int | None = None) -> dict[str, Any]:
        #: Why the episode being recorded cannot be saved (an encoder failed), or None.
        self._episode_failure: CameraEncoderError | None = None
        buffer: dict[str, Any] = {"size": 0, "task": []}
        for key in self._meta.features:
            buffer[key] = []
        buffer["episode_index"] = self._saved.episodes if episode_index is None else episode_index
        depth_keys = self._meta.depth_keys
        self._image_stats = {
            key: DepthStatsAccumulator() if key in depth_keys else ImageStatsAccumulator()
            for key in self._meta.image_keys
        }
        return buffer

    def camera_status(self) -> dict[str, CameraStatus]:
        """Each streamed camera (`EncoderService.encoding_status`): counts and health of the episode being
        recorded (or the last one, between episodes), and the backlog of every episode its encoder still holds;
        empty on the PNG path."""
        return self._videos.status()

    # -- recording ------------------------------------------------------------------------------------------
    def add_frame(self, frame: dict) -> None:
        """Add one timestep. Camera frames are handed off (streaming) or queued as PNG; the rest is kept."""
        check_owner(self._owner_pid, "dataset writer")
        if self._finalized:
            raise RuntimeError("This dataset writer is finalized; use LeRobotDataset.resume() to record more.")
        frame = {
            k: (v.detach().cpu().numpy() if hasattr(v, "detach") and hasattr(v, "numpy") else v)
            for k, v in frame.items()
        }
        validate_frame(frame, self._meta.features)
        buffer = self.episode_buffer
        frame_index = buffer["size"]
        episode_index = buffer["episode_index"]
        features = self._meta.features
        if self._episode_failure is not None:
            raise self._failed_episode_error(episode_index)
        if frame_index == 0:
            check_private_folders(self._root)
            check_episode_space(self._root, self._meta, self._committer, self._videos.streaming, episode_index)
            record_depth_units(self._meta, frame)
            number, self._next_number = self._next_number, self._next_number + 1
            self._videos.start_episode(number)
            if self._journaling:  # the PNG path has no journal: no settings to resolve in the loop for it
                self._journal.number = number
                self._journal.camera_settings = {key: self._videos.settings_for(key) for key in self._meta.video_keys}
        values: dict[str, Any] = {}
        cameras_fed = 0
        for key, value in frame.items():
            if key == "task":
                continue
            dtype = features[key]["dtype"]
            if dtype == "video":
                values[key] = self._add_camera_frame(key, value, episode_index, frame_index, cameras_fed == 0)
                cameras_fed += 1
            elif dtype == "image":
                pixels = to_depth_map(value, key) if key in self._meta.depth_keys else to_hwc_uint8(value, key)
                self._image_stats[key].update(pixels)
                values[key] = str(self._staging.stage(key, episode_index, frame_index, pixels, _IMAGE_PNG_COMPRESSION))
            else:
                values[key] = value if dtype == "string" else np.array(value, copy=True)
        for key, value in values.items():
            buffer[key].append(value)
        buffer["frame_index"].append(frame_index)
        buffer["timestamp"].append(frame_index / self._meta.fps)
        buffer["task"].append(frame["task"])
        buffer["size"] += 1
        if self._journaling:
            self._journal.update(self.episode_buffer)

    def _add_camera_frame(self, key: str, value: Any, episode_index: int, frame_index: int, first: bool) -> str | None:
        """Hand one camera's frame to its path (`VideoCameras.add`). An encoder that failed (a full disk, a crash)
        dooms the episode - its video cannot be completed - so from then on every ``add_frame`` of the episode
        raises the same one error, before anything is added, instead of adding rows no video will match."""
        try:
            return self._videos.add(key, value, episode_index, frame_index)
        except CameraEncoderError as exc:
            self._episode_failure = exc
            raise self._failed_episode_error(episode_index) from exc
        except Exception as exc:
            if not first:  # the frame reached some cameras and not this one: they are out of step
                self._episode_failure = CameraEncoderError(key, f"camera {key}: {type(exc).__name__}: {exc}")
            raise

    def _failed_episode_error(self, episode_index: int) -> CameraEncoderError:
        cause = self._episode_failure
        hint = " Free disk space first." if "No space left" in str(cause) else ""
        return CameraEncoderError(
            cause.camera,
            f"{cause} - episode {episode_index} cannot be saved, and this frame was not added. Call "
            f"clear_episode_buffer() and record the episode again.{hint}",
            cause.pid,
        )

    def has_pending_frames(self) -> bool:
        return self.episode_buffer is not None and self.episode_buffer["size"] > 0

    # -- saving ---------------------------------------------------------------------------------------------
    def save_episode(self, episode_data: dict | None = None, parallel_encoding: bool = True) -> None:
        """Save the buffered episode: at once (see the module docstring for the commit order), or - streaming
        with our encoder - hand it to the background commit and return without waiting for the encoders."""
        check_owner(self._owner_pid, "dataset writer")
        if self._finalized:
            raise RuntimeError("This dataset writer is finalized; use LeRobotDataset.resume() to record more.")
        buffer = episode_data if episode_data is not None else self.episode_buffer
        length = buffer.get("size", 0)
        if length == 0:
            raise ValueError("You must add one or several frames with `add_frame` before calling `add_episode`.")
        if episode_data is None:  # an earlier episode that failed in the background moved this one up
            buffer["episode_index"] = self._saved.episodes
        episode_index = buffer["episode_index"]
        if episode_index != self._saved.episodes:
            raise NotImplementedError(
                f"The episode buffer is for episode {episode_index} but the dataset has {self._saved.episodes} "
                "episodes; episodes must be saved in order."
            )
        if self._pipelined is not None:
            self._save_later(buffer, episode_index)
        else:
            self._save_now(buffer, episode_index, parallel_encoding)
        self._saved.count(length)
        if episode_data is None:
            self.episode_buffer = self._create_episode_buffer()
        self.raise_save_failures(f" (Episode {episode_index}, just saved, is kept: it is being encoded.)")

    def _save_now(self, buffer: dict, episode_index: int, parallel_encoding: bool) -> None:
        videos: dict[str, EpisodeResult] = {}
        journal: Path | None = None
        try:
            with self._discarded_on_failure(episode_index):
                self._staging.wait()
                if self._journal.open:  # every row on disk: a recorder killed while saving loses nothing
                    self._journal.update(buffer, flush=True)
                videos = self._videos.finish(episode_index, parallel_encoding)
                journal = mark_committing(self._journal.detach(), episode_index)
                self.commit_encoded_episode(buffer, videos)
        finally:
            self._journal.discard()
            if journal is not None:
                journal.unlink(missing_ok=True)
            self._videos.remove_encoded()  # each camera's temporary MP4, deleted by whoever made it
            self._staging.remove_episode(self._meta.image_keys, episode_index)  # their bytes are in the parquet now
            self._staging.cleanup()

    @contextlib.contextmanager
    def _discarded_on_failure(self, episode_index: int) -> Iterator[None]:
        """A save that fails (an encoder failed during the episode, or anything inside the block) discards the
        episode and raises `EpisodeSaveError` saying what the dataset holds."""
        try:
            if self._episode_failure is not None:
                raise self._episode_failure
            yield
        except Exception as exc:
            self.clear_episode_buffer()
            raise EpisodeSaveError(save_failure(self._root, episode_index, self._meta.total_episodes, exc)) from exc
        except BaseException:
            self.clear_episode_buffer()
            raise

    def _save_later(self, buffer: dict, episode_index: int) -> None:
        """Journal every row, end the cameras' episode and queue it for the background commit."""
        with self._discarded_on_failure(episode_index):
            self._journal.update(buffer, flush=True)
            settings = {key: self._videos.settings_for(key) for key in self._meta.video_keys}
            videos = self._pipelined.end()
        self._saved.submit(PendingEpisode(buffer, videos, settings, self._journal.detach()))

    # -- saved episodes -------------------------------------------------------------------------------------
    @property
    def saved_episodes(self) -> int:
        """Episodes in the dataset, counting those saved and still being committed in the background."""
        return self._saved.episodes

    @property
    def saved_frames(self) -> int:
        return self._saved.frames

    @property
    def pending_episodes(self) -> int:
        """Episodes saved whose videos are still being encoded (not in the dataset's files yet)."""
        return len(self._saved)

    def wait_for_saved_episodes(self) -> None:
        """Until every saved episode is in the dataset's files (logging progress every few seconds)."""
        self._saved.wait(self._videos.status)

    def raise_save_failures(self, note: str = "") -> None:
        """Raise `EpisodeSaveError` for the saved episodes that could not be committed (or only in part) since
        the last time this was raised (`SavedEpisodes.raise_failures`)."""
        self._saved.raise_failures(note)

    def commit_encoded_episode(
        self,
        buffer: dict,
        videos: dict[str, EpisodeResult],
        settings: dict[str, EncoderSettings] | None = None,
        image_stats: dict[str, ImageStatsAccumulator] | None = None,
    ) -> None:
        """Make a buffered episode whose cameras are already encoded part of the dataset (`save_episode`'s last
        step; also how a killed recorder's episode is salvaged, `lerobot_stream.recovery.salvage`, which passes
        the ``settings`` the cameras were encoded with). ``image_stats``: of its image features (default: those
        of the episode being recorded)."""
        episode_index = buffer["episode_index"]
        settings_for = settings.__getitem__ if settings else self._videos.settings_for
        stats = self._image_stats if image_stats is None else image_stats
        metadata = self._committer.commit(buffer, episode_index, videos, stats, settings_for)
        self._latest_episode = {"episode_index": episode_index, **metadata}

    # -- journal of the episode being recorded --------------------------------------------------------------
    @property
    def _journaling(self) -> bool:
        """Streaming episodes are journaled (see `lerobot_stream.recorder.journal`); a killed recorder's
        episode is then salvaged from the journal and the cameras' fragmented MP4s. Datasets with image
        features are not: their frames live in staged PNGs."""
        return self._videos.streaming and not self._meta.image_keys

    # -- discarding -----------------------------------------------------------------------------------------
    def clear_episode_buffer(self, delete_images: bool = True) -> None:
        """Throw the unsaved episode away: cancel its encoding and delete its staging files."""
        check_owner(self._owner_pid, "dataset writer")
        episode_index = self.episode_buffer["episode_index"] if self.episode_buffer else self._meta.total_episodes
        self._videos.cancel()
        self._journal.discard()
        self._remove_empty_episode_folders()
        self._staging.discard_errors()
        if delete_images:
            self._staging.remove_episode(self._meta.camera_keys, int(np.asarray(episode_index).reshape(-1)[0]))
        self._staging.cleanup()
        self.episode_buffer = self._create_episode_buffer()

    def _remove_empty_episode_folders(self) -> None:
        """The staging folders of episodes whose files are gone (cancelled, or committed). Recording thread
        only: the committing thread never removes a folder the next episode may be creating files in."""
        staging = self._root / STAGING_DIR
        if staging.is_dir() and not staging.is_symlink():
            for folder in staging.glob(EPISODE_FOLDER_GLOB):
                with contextlib.suppress(OSError):
                    folder.rmdir()  # only if empty

    # -- teardown -------------------------------------------------------------------------------------------
    def finalize(self) -> None:
        """Discard an unsaved episode (with a warning), stop encoders and writers. Idempotent. Does nothing
        in a forked child: the episode, the encoders and the files are the parent's."""
        if self._finalized or not in_owner(self._owner_pid):
            return
        self._finalized = True
        if self.has_pending_frames():
            logger.warning(
                "Discarding the unsaved episode %d (%d frames): save_episode() was not called",
                self.episode_buffer["episode_index"],
                self.episode_buffer["size"],
            )
            with contextlib.suppress(Exception):
                self.clear_episode_buffer()
        try:
            self.wait_for_saved_episodes()
            if self._streaming_encoder is not None:
                self._streaming_encoder.close()
        finally:
            try:
                self._staging.stop()
                self._remove_empty_episode_folders()
                self._staging.cleanup()
                self._meta.finalize()
            finally:
                self._lock.release()  # whatever else failed: the dataset must not stay locked
        self.raise_save_failures()

    def __del__(self) -> None:
        """A writer nobody finalized: release what this process holds - the image-writer threads and the
        writer lock (the encoder processes are released by the encoder's own ``close``) - and touch no file.

        Unlike LeRobot's writer this does not finalize during garbage collection: file I/O at an unpredictable
        moment (interpreter shutdown, another thread's allocation) can fail half-way. An unsaved episode stays
        on disk as a crash would leave it, and the next open of the dataset salvages or discards it
        (`lerobot_stream.recovery.recover`)."""
        if self._finalized or not in_owner(self._owner_pid):
            return
        with contextlib.suppress(Exception):
            if self.has_pending_frames():
                logger.warning(
                    "Dataset writer dropped without finalize(); its unsaved episode (%d frames) is left for "
                    "recovery at the next open",
                    self.episode_buffer["size"],
                )
            self._staging.stop()
        with contextlib.suppress(Exception):
            self._lock.release()
