"""Which ``meta/episodes`` parquet file the next episode row goes to, and writing it there.

Rows are appended to the current file - rewritten whole each time, through a temporary file and a rename, so it
is complete after every save - until it is full (``data_files_size_in_mb``, LeRobot's rule for these files
too), then a new file starts. A resumed dataset starts a new file after the last one, as LeRobot does.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lerobot_stream.storage.layout import DEFAULT_EPISODES_PATH, file_is_full, update_chunk_file_indices
from lerobot_stream.storage.metadata_files import write_episode_rows


class EpisodesFiles:
    """The episodes table's files as one writer sees them: the file being written and the rows in it."""

    def __init__(self, root: Path, rows: list[dict[str, Any]], chunks_size: int):
        self.root = root
        #: Rows of the file being written (by this writer; a resumed dataset starts a new file).
        self.open_rows: list[dict[str, Any]] = []
        #: (chunk, file) being written; None before this writer's first row.
        self.current: tuple[int, int] | None = None
        if rows:
            last = rows[-1]
            self._first = update_chunk_file_indices(
                last["meta/episodes/chunk_index"], last["meta/episodes/file_index"], chunks_size
            )
        else:
            self._first = (0, 0)

    def _path(self, chunk: int, file: int) -> Path:
        return self.root / DEFAULT_EPISODES_PATH.format(chunk_index=chunk, file_index=file)

    def current_path(self) -> Path | None:
        """The file the next row goes to if it has room (None before this writer's first row)."""
        return self._path(*self.current) if self.current is not None else None

    def next_file(self, chunks_size: int, size_limit_mb: float) -> tuple[int, int]:
        """Where the next row goes: the current file, or the next one once it is full."""
        if self.current is None:
            return self._first
        if not self.open_rows:
            return self.current
        size = self._path(*self.current).stat().st_size
        if file_is_full(size, size / len(self.open_rows), size_limit_mb):
            self.open_rows = []
            return update_chunk_file_indices(*self.current, chunks_size)
        return self.current

    def append(self, row: dict[str, Any], chunk: int, file: int) -> None:
        """Write ``row`` into file (``chunk``, ``file``) after the rows it already holds."""
        write_episode_rows([*self.open_rows, row], self.root, chunk, file)
        self.open_rows.append(row)
        self.current = (chunk, file)

    def state(self) -> tuple[list[dict[str, Any]], tuple[int, int] | None]:
        """What `append` and `next_file` change, for a save that is rolled back (`restore`)."""
        return list(self.open_rows), self.current

    def restore(self, state: tuple[list[dict[str, Any]], tuple[int, int] | None]) -> None:
        self.open_rows, self.current = list(state[0]), state[1]
