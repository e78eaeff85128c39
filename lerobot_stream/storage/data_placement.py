"""Where each episode's data rows go: appended to the current parquet file or a new one.

Follows LeRobot v3.0: one growing parquet file (``data/chunk-XXX/file-YYY.parquet``, one row group per
episode) until appending would reach ``data_files_size_in_mb``; then the next file. A resumed dataset
starts a new file after the last one used. Two-phase like `lerobot_stream.storage.video_placement`:
`DataPlacer.prepare` decides where the episode goes and writes nothing, `DataPlacer.commit` writes the new
version of the file aside and renames it into place, so a failure never damages a saved episode.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from lerobot_stream.storage.layout import DEFAULT_DATA_PATH, atomic_write, file_is_full, update_chunk_file_indices
from lerobot_stream.storage.metadata import LeRobotDatasetMetadata


@dataclass
class PreparedData:
    """One episode's rows and the file they go to, waiting for `DataPlacer.commit`."""

    path: Path
    table: pa.Table
    #: Whether the file's earlier episodes are kept (False: a new file).
    append: bool


class DataPlacer:
    """Tracks the current data file and appends episodes to it."""

    def __init__(self, meta: LeRobotDatasetMetadata, schema: pa.Schema, resume_after: tuple[int, int] | None):
        self.meta = meta  # chunk and file-size settings are read at each episode: they may change
        self.schema = schema
        self._file: tuple[int, int] | None = None
        #: For a resumed dataset: the last (chunk, file) already used.
        self._resume_after = resume_after
        #: Dataset index of the first frame in the current file (None before the first episode).
        self.current_file_start_frame: int | None = None

    def path(self, chunk_index: int, file_index: int) -> Path:
        return self.meta.root / DEFAULT_DATA_PATH.format(chunk_index=chunk_index, file_index=file_index)

    def prepare(self, table: pa.Table, length: int) -> tuple[PreparedData, dict[str, int]]:
        """Pick the file for this episode (rolling over at the size limit) and its metadata; writes nothing."""
        global_start = self.meta.total_frames
        if self._file is None:
            chunk_file = (
                update_chunk_file_indices(*self._resume_after, self.meta.chunks_size) if self._resume_after else (0, 0)
            )
            append = False
            self.current_file_start_frame = global_start
        else:
            chunk_file = self._file
            size = self.path(*chunk_file).stat().st_size
            frames_in_file = global_start - (self.current_file_start_frame or 0)
            average = size / frames_in_file if frames_in_file else 0
            append = not file_is_full(size, average * length, self.meta.data_files_size_in_mb)
            if not append:
                chunk_file = update_chunk_file_indices(*chunk_file, self.meta.chunks_size)
                self.current_file_start_frame = global_start
        self._file = chunk_file
        metadata = {
            "data/chunk_index": chunk_file[0],
            "data/file_index": chunk_file[1],
            "dataset_from_index": global_start,
            "dataset_to_index": global_start + length,
        }
        return PreparedData(self.path(*chunk_file), table, append), metadata

    def current_path(self) -> Path | None:
        """The data file the next episode would be appended to (None before the first episode here)."""
        return None if self._file is None else self.path(*self._file)

    def cursor(self) -> tuple[tuple[int, int] | None, int | None]:
        """The current file and its first frame's dataset index."""
        return self._file, self.current_file_start_frame

    def restore_cursor(self, cursor: tuple[tuple[int, int] | None, int | None]) -> None:
        """Back to `cursor` (a save that failed is rolled back, its files and this position with it)."""
        self._file, self.current_file_start_frame = cursor

    def commit(self, prepared: PreparedData) -> None:
        """Write the file with the episode appended (aside, then renamed into place)."""

        def write(temp: Path) -> None:
            with pq.ParquetWriter(temp, self.schema, compression="snappy", use_dictionary=True) as writer:
                if prepared.append:  # one row group per episode, as LeRobot writes them
                    previous = pq.ParquetFile(prepared.path)
                    for group in range(previous.num_row_groups):
                        writer.write_table(previous.read_row_group(group).cast(self.schema))
                writer.write_table(prepared.table)

        atomic_write(prepared.path, write)
