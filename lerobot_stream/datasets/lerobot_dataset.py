"""`LeRobotDataset`: LeRobot's dataset facade - record with ``create``/``resume``, read back after
``finalize``.

Recording::

    with LeRobotDataset.create("me/rig", fps=30, features=features, root=root, streaming_encoding=True) as ds:
        for episode in range(3):
            for _ in range(300):
                ds.add_frame({"observation.images.front": frame, "action": action, "task": "pick"})
            ds.save_episode()
    # leaving the block finalizes; an exception inside it discards the half-recorded episode first

Reading (``dataset[i]``) returns torch tensors where torch is installed, as LeRobot does, and numpy arrays
otherwise (torch is not a dependency): camera frames as float32 CHW in [0, 1] decoded at the row's
timestamp, depth maps in ``depth_output_unit``, other features as stored, plus ``"task"``.
"""

from __future__ import annotations

import logging
import shutil
import warnings
from pathlib import Path
from typing import Any

from lerobot_stream.compat.signatures import dataset_encoder_configs
from lerobot_stream.datasets.dataset_reader import DatasetReader
from lerobot_stream.datasets.dataset_reading import DatasetReading
from lerobot_stream.datasets.dataset_writer import DatasetWriter
from lerobot_stream.datasets.video_utils import StreamingVideoEncoder
from lerobot_stream.recorder.episode_checks import check_encoders_usable
from lerobot_stream.storage.layout import check_batch_encoding_size
from lerobot_stream.storage.metadata import LeRobotDatasetMetadata

logger = logging.getLogger(__name__)


class LeRobotDataset(DatasetReading):
    def __init__(
        self,
        repo_id: str,
        root: str | Path | None = None,
        episodes: list[int] | None = None,
        image_transforms=None,
        delta_timestamps: dict[str, list[float]] | None = None,
        tolerance_s: float = 1e-4,
        revision: str | None = None,
        force_cache_sync: bool = False,
        download_videos: bool = True,
        video_backend: str | None = None,
        batch_encoding_size: int = 1,
        vcodec: str | None = None,
        streaming_encoding: bool = False,
        encoder_queue_maxsize: int = 30,
        encoder_threads: int | None = None,
        depth_output_unit: str = "mm",
        rgb_encoder: Any = None,
        depth_encoder: Any = None,
    ):
        """Open an existing local dataset for reading."""
        self._set_attributes(
            LeRobotDatasetMetadata(repo_id, root, revision, force_cache_sync),
            repo_id,
            root,
            revision,
            tolerance_s,
            video_backend,
            batch_encoding_size,
            dataset_encoder_configs(rgb_encoder, depth_encoder, vcodec),
            encoder_threads,
        )
        if depth_output_unit not in ("m", "mm"):
            raise ValueError(f"depth_output_unit must be 'm' or 'mm', got {depth_output_unit!r}")
        self._depth_output_unit = depth_output_unit
        self.meta.rescale_depth_stats(depth_output_unit)
        self.image_transforms = image_transforms
        self.delta_timestamps = delta_timestamps
        self.episodes = episodes
        # As in LeRobot v0.6, an opened dataset has its reader at once (a wrong window is an error now).
        self.reader = self._new_reader()
        self.reader.try_load()
        if streaming_encoding or batch_encoding_size != 1:
            warnings.warn(
                "Passing write-mode parameters (streaming_encoding, batch_encoding_size) to LeRobotDataset.__init__() "
                "is deprecated. Use LeRobotDataset.resume() instead.",
                DeprecationWarning,
                stacklevel=2,
            )
            self.writer = self._build_writer(streaming_encoding, encoder_queue_maxsize)

    # -- construction ---------------------------------------------------------------------------------------
    def _set_attributes(
        self,
        meta: LeRobotDatasetMetadata,
        repo_id: str,
        root: str | Path | None,
        revision: str | None,
        tolerance_s: float,
        video_backend: str | None,
        batch_encoding_size: int,
        encoders: tuple[Any, Any],
        encoder_threads: int | None,
    ) -> None:
        """The attributes every way of constructing a dataset defines (LeRobot checks they are the same)."""
        self._meta = meta
        self.repo_id = repo_id
        self._requested_root = Path(root).absolute() if root is not None else None
        self._root = meta.root
        self.revision = revision
        self.tolerance_s = tolerance_s
        self.image_transforms = None
        self.delta_timestamps = None
        self.episodes = None
        self._video_backend = video_backend or "pyav"
        self._batch_encoding_size = batch_encoding_size
        self._rgb_encoder, self._depth_encoder = encoders
        self._vcodec = self._rgb_encoder.vcodec
        self._encoder_threads = encoder_threads
        self._depth_output_unit = "mm"
        self.reader: DatasetReader | None = None
        self._is_finalized = False
        self.writer: DatasetWriter | None = None

    @staticmethod
    def _build_streaming_encoder(
        fps: int,
        rgb_encoder: Any,
        depth_encoder: Any,
        encoder_queue_maxsize: int,
        encoder_threads: int | None,
    ) -> StreamingVideoEncoder:
        """The one place a dataset builds its streaming encoder (LeRobot v0.6's seam)."""
        return StreamingVideoEncoder(
            fps=fps,
            rgb_encoder=rgb_encoder,
            depth_encoder=depth_encoder,
            queue_maxsize=encoder_queue_maxsize,
            encoder_threads=encoder_threads,
        )

    def _build_writer(
        self,
        streaming_encoding: bool,
        encoder_queue_maxsize: int,
        backlog: tuple[float | None, float | None] = (None, None),
    ) -> DatasetWriter:
        """``backlog``: (memory MB, disk reserve MB) of the encoder processes' backlog (`workers.backlog`)."""
        encoder = None
        if streaming_encoding and self.meta.video_keys:
            depth = self._depth_encoder if self.meta.depth_keys else None
            encoder = self._build_streaming_encoder(
                self.meta.fps, self._rgb_encoder, depth, encoder_queue_maxsize, self._encoder_threads
            )
            if hasattr(encoder, "set_backlog_budget"):  # LeRobot's own encoder, plugged in at the seam, has none
                encoder.set_backlog_budget(*backlog)
        try:
            return DatasetWriter(
                self.meta,
                self.root,
                self._rgb_encoder,
                self._depth_encoder,
                self._encoder_threads,
                self._batch_encoding_size,
                encoder,
                initial_frames=self.meta.total_frames,
            )
        except BaseException:
            if encoder is not None:
                encoder.close()
            raise

    @classmethod
    def create(
        cls,
        repo_id: str,
        fps: int,
        features: dict,
        root: str | Path | None = None,
        robot_type: str | None = None,
        use_videos: bool = True,
        tolerance_s: float = 1e-4,
        image_writer_processes: int = 0,
        image_writer_threads: int = 0,
        video_backend: str | None = None,
        batch_encoding_size: int = 1,
        rgb_encoder: Any = None,
        depth_encoder: Any = None,
        metadata_buffer_size: int = 10,
        streaming_encoding: bool = False,
        encoder_queue_maxsize: int = 30,
        encoder_threads: int | None = None,
        video_files_size_in_mb: int | None = None,
        data_files_size_in_mb: int | None = None,
        *,
        vcodec: str | None = None,
        backlog_memory_mb: float | None = None,
        backlog_disk_reserve_mb: float | None = None,
    ) -> LeRobotDataset:
        """Create an empty dataset at ``root`` (which must not exist) and return it ready to record.

        Encoder settings as in LeRobot v0.6 (``rgb_encoder``/``depth_encoder`` config objects) or v0.5
        (``vcodec=``); passing a codec name where v0.6 has ``rgb_encoder`` also works. With streaming encoding,
        ``backlog_memory_mb``/``backlog_disk_reserve_mb`` bound what the encoders hold back while they are
        behind (`StreamingVideoEncoder.set_backlog_budget`; None: the defaults).
        """
        encoders = dataset_encoder_configs(rgb_encoder, depth_encoder, vcodec)
        check_batch_encoding_size(batch_encoding_size)
        check_encoders_usable(features, *encoders)
        meta = LeRobotDatasetMetadata.create(
            repo_id=repo_id,
            fps=fps,
            features=features,
            robot_type=robot_type,
            root=root,
            use_videos=use_videos,
            metadata_buffer_size=metadata_buffer_size,
        )
        try:  # from here on a failure (too little /dev/shm, say) removes the dataset this call created
            if video_files_size_in_mb is not None or data_files_size_in_mb is not None:
                meta.update_chunk_settings(
                    video_files_size_in_mb=video_files_size_in_mb, data_files_size_in_mb=data_files_size_in_mb
                )
            settings = (tolerance_s, video_backend, batch_encoding_size, encoders, encoder_threads)
            writing = (streaming_encoding, encoder_queue_maxsize, image_writer_processes, image_writer_threads)
            backlog = (backlog_memory_mb, backlog_disk_reserve_mb)
            return cls._open_for_writing(meta, repo_id, None, settings, writing, backlog)
        except BaseException:
            shutil.rmtree(meta.root, ignore_errors=True)  # created by LeRobotDatasetMetadata.create: it did not exist
            raise

    @classmethod
    def _open_for_writing(
        cls,
        meta: LeRobotDatasetMetadata,
        repo_id: str,
        revision: str | None,
        settings: tuple[float, str | None, int, tuple[Any, Any], int | None],
        writing: tuple[bool, int, int, int],
        backlog: tuple[float | None, float | None],
    ) -> LeRobotDataset:
        """The dataset object with its writer, for `create` and `resume`: ``settings`` are (tolerance_s,
        video_backend, batch_encoding_size, encoder configs, encoder_threads), ``writing`` (streaming_encoding,
        encoder_queue_maxsize, image_writer_processes, image_writer_threads), ``backlog`` (memory MB, disk reserve
        MB)."""
        streaming_encoding, encoder_queue_maxsize, image_writer_processes, image_writer_threads = writing
        obj = cls.__new__(cls)
        obj._set_attributes(meta, repo_id, meta.root, revision, *settings)
        obj.writer = obj._build_writer(streaming_encoding, encoder_queue_maxsize, backlog)
        if image_writer_processes or image_writer_threads:
            obj.writer.start_image_writer(image_writer_processes, image_writer_threads)
        return obj

    @classmethod
    def resume(
        cls,
        repo_id: str,
        root: str | Path | None = None,
        tolerance_s: float = 1e-4,
        revision: str | None = None,
        force_cache_sync: bool = False,
        video_backend: str | None = None,
        batch_encoding_size: int = 1,
        rgb_encoder: Any = None,
        depth_encoder: Any = None,
        image_writer_processes: int = 0,
        image_writer_threads: int = 0,
        streaming_encoding: bool = False,
        encoder_queue_maxsize: int = 30,
        encoder_threads: int | None = None,
        *,
        vcodec: str | None = None,
        backlog_memory_mb: float | None = None,
        backlog_disk_reserve_mb: float | None = None,
    ) -> LeRobotDataset:
        """Open an existing dataset to append episodes (new episodes go to new files, as in LeRobot); the
        backlog budgets as in `create`."""
        if root is None:
            raise ValueError("resume() requires an explicit 'root' directory (the dataset to append to).")
        from lerobot_stream.recovery.recover import recover_dataset

        report = recover_dataset(Path(root), decode_videos=False)  # decoding every video belongs to `recover`
        if report.changed:
            logger.warning("Recovered %s before resuming: %s", root, report.summary())
        encoders = dataset_encoder_configs(rgb_encoder, depth_encoder, vcodec)
        check_batch_encoding_size(batch_encoding_size)
        meta = LeRobotDatasetMetadata(repo_id, root, revision, force_cache_sync)
        check_encoders_usable(meta.features, *encoders)
        settings = (tolerance_s, video_backend, batch_encoding_size, encoders, encoder_threads)
        writing = (streaming_encoding, encoder_queue_maxsize, image_writer_processes, image_writer_threads)
        backlog = (backlog_memory_mb, backlog_disk_reserve_mb)
        return cls._open_for_writing(meta, repo_id, revision, settings, writing, backlog)

    # -- recording ------------------------------------------------------------------------------------------
    def _require_writer(self, name: str) -> DatasetWriter:
        if self.writer is None:
            raise RuntimeError(
                f"Cannot call '{name}()' on a read-only dataset. Use LeRobotDataset.create() for new recording or "
                "LeRobotDataset.resume() for resume recording."
            )
        return self.writer

    def add_frame(self, frame: dict) -> None:
        self._require_writer("add_frame").add_frame(frame)

    def save_episode(self, episode_data: dict | None = None, parallel_encoding: bool = True) -> None:
        self._require_writer("save_episode").save_episode(episode_data, parallel_encoding)

    def clear_episode_buffer(self, delete_images: bool = True) -> None:
        self._require_writer("clear_episode_buffer").clear_episode_buffer(delete_images)

    def wait_for_saved_episodes(self) -> None:
        """Wait until every saved episode is in the dataset's files, and raise `EpisodeSaveError` for those that
        could not be (with streaming encoding, ``save_episode`` returns before the encoders are done; see
        `lerobot_stream.recorder.pending_episodes`). Not part of LeRobot's API: its ``save_episode`` waits."""
        writer = self._require_writer("wait_for_saved_episodes")
        writer.wait_for_saved_episodes()
        writer.raise_save_failures()

    def has_pending_frames(self) -> bool:
        return self.writer is not None and self.writer.has_pending_frames()

    @property
    def episode_buffer(self) -> dict | None:
        return self.writer.episode_buffer if self.writer is not None else None

    @property
    def _streaming_encoder(self) -> StreamingVideoEncoder | None:
        return self.writer._streaming_encoder if self.writer is not None else None

    def finalize(self) -> None:
        """Stop encoders and writers; the dataset on disk is complete. Idempotent."""
        if self._is_finalized:
            return
        self._is_finalized = True
        if self.writer is not None:
            self.writer.finalize()
            self.reader = None  # it read the data before these episodes: the next read loads it afresh

    def __enter__(self) -> LeRobotDataset:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None and self.has_pending_frames():
            logger.warning("Discarding the unsaved episode because of %s", exc_type.__name__)
            self.writer.clear_episode_buffer()
        self.finalize()

    def __repr__(self) -> str:
        return (
            f"LeRobotDataset(repo_id={self.repo_id!r}, root={str(self.root)!r}, episodes={self.num_episodes}, "
            f"frames={self.num_frames}, fps={self.fps})"
        )
