"""The rows of the episode being recorded, journaled to disk so a killed recorder loses seconds, not the
episode.

While an episode is recorded with streaming encoding, its data rows (every feature but the cameras, plus
``frame_index``, ``timestamp`` and the task text) are appended about once a second to an Arrow IPC stream
in the dataset's staging folder (``.staging/journal-<episode>.arrow``), next to the cameras' fragmented
MP4s. Each append is one record batch, flushed to the file, so a recorder killed at any moment leaves a
journal whose complete batches are readable. `lerobot_stream.datasets.recovery` turns it back into a
saved episode, cut to the frames that both the journal and every camera's MP4 hold.

The journal is removed when the episode is saved or discarded.
"""

from __future__ import annotations

import contextlib
import logging
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.ipc

from lerobot_stream.datasets.episode_table import arrow_column
from lerobot_stream.datasets.utils import DEFAULT_FEATURES

logger = logging.getLogger(__name__)

JOURNAL_PATTERN = "journal-{episode_index:06d}.arrow"
TASK_COLUMN = "task"


class EpisodeJournal:
    """An append-only Arrow stream of one episode's rows."""

    def __init__(self, path: Path, schema: pa.Schema):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.schema = schema
        self._sink = pa.OSFile(str(self.path), "wb")
        self._writer = pa.ipc.new_stream(self._sink, schema)
        #: Rows written so far.
        self.rows = 0

    def append(self, table: pa.Table) -> None:
        """Write ``table`` as record batches and push them to the file (a killed process keeps them)."""
        self._writer.write_table(table)
        self._sink.flush()
        self.rows += table.num_rows

    def discard(self) -> None:
        """Close and delete the journal. Idempotent."""
        with contextlib.suppress(Exception):
            self._writer.close()
        with contextlib.suppress(Exception):
            self._sink.close()
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()


def journal_schema(schema: pa.Schema) -> pa.Schema:
    """The journal's columns: the recorded features, ``frame_index``, ``timestamp`` and the task text."""
    fields = [field for field in schema if field.name not in DEFAULT_FEATURES]
    fields += [pa.field("frame_index", pa.int64()), pa.field("timestamp", pa.float32())]
    return pa.schema([*fields, pa.field(TASK_COLUMN, pa.string())])


def journal_rows(schema: pa.Schema, features: dict[str, dict], buffer: dict, start: int, stop: int) -> pa.Table:
    """Rows ``start:stop`` of the buffer in the journal's ``schema``."""
    columns = []
    for field in schema:
        feature = features.get(field.name, {"dtype": "string" if field.name == TASK_COLUMN else ""})
        columns.append(arrow_column(feature, field.type, buffer[field.name][start:stop], stop - start))
    return pa.Table.from_arrays(columns, schema=schema)


class RowJournal:
    """The journal of whichever episode is being recorded: opened on its first row, appended to about once a
    second of recording (the first row at once), flushed whole before the episode is saved, then discarded."""

    def __init__(self, staging_dir: Path, data_schema: pa.Schema, features: dict[str, dict], fps: int):
        self._staging_dir = staging_dir
        self._schema = journal_schema(data_schema)
        self._features = features
        self._fps = fps
        self._journal: EpisodeJournal | None = None
        #: Why this episode's journal stopped (a write failed), or None.
        self.stopped: str | None = None

    @property
    def open(self) -> bool:
        return self._journal is not None

    def update(self, buffer: dict, flush: bool = False) -> None:
        """Append the buffer's rows added since the last append, if a second's worth has gathered (all of them
        now with ``flush``).

        Never raises for the disk: the journal is a safety net, and a frame must not fail because the net
        could not be written. A write that fails (a full disk) stops the episode's journal with one warning;
        what it holds so far stays salvageable (complete batches only), the episode records and saves as usual.
        """
        if self.stopped is not None:
            return
        try:
            if self._journal is None:
                episode_index = int(np.asarray(buffer["episode_index"]).reshape(-1)[0])
                path = self._staging_dir / JOURNAL_PATTERN.format(episode_index=episode_index)
                self._journal = EpisodeJournal(path, self._schema)
            start, stop = self._journal.rows, buffer["size"]
            if stop == start or (not flush and start > 0 and stop - start < max(1, self._fps)):
                return
            self._journal.append(journal_rows(self._schema, self._features, buffer, start, stop))
        except OSError as exc:
            self.stopped = f"{type(exc).__name__}: {exc}"
            logger.warning(
                "The row journal of episode %s stopped at %d row(s) (%s): the episode records and saves as usual, "
                "but if the recorder died before save_episode only those rows could be salvaged",
                buffer["episode_index"],
                self._journal.rows if self._journal is not None else 0,
                self.stopped,
            )

    def discard(self) -> None:
        if self._journal is not None:
            self._journal.discard()
            self._journal = None
        self.stopped = None


def read_journal(path: Path) -> pa.Table | None:
    """Every complete record batch of a journal (a batch cut short by a kill is left out); None if not
    even the header is readable."""
    batches = []
    try:
        reader = pa.ipc.open_stream(pa.memory_map(str(path)))
    except (pa.ArrowInvalid, OSError):
        return None
    with contextlib.suppress(pa.ArrowInvalid, OSError, StopIteration):
        while True:
            batches.append(reader.read_next_batch())
    return pa.Table.from_batches(batches, schema=reader.schema)
