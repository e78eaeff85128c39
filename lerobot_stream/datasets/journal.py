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
from pathlib import Path

import pyarrow as pa
import pyarrow.ipc

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
