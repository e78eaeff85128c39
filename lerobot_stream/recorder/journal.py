"""The rows of the episode being recorded, journaled to disk so a killed recorder loses seconds, not the
episode.

While an episode is recorded with streaming encoding, its data rows (every feature but the cameras, plus
``frame_index``, ``timestamp`` and the task text) are appended about once a second to an Arrow IPC stream
in the dataset's staging folder (``.staging/journal-<episode>.arrow``), next to the cameras' fragmented
MP4s. Each append is one record batch, flushed to the file, so a recorder killed at any moment leaves a
journal whose complete batches are readable. `lerobot_stream.recovery.recover` turns it back into a
saved episode, cut to the frames that both the journal and every camera's MP4 hold.

The journal is removed when the episode is discarded, or once it is in the dataset: with streaming encoding
that may be a while after ``save_episode`` returned (`lerobot_stream.recorder.pending_episodes`), so journals of
several episodes can be on disk at once. They are named by the episode's *recording number* (its index when it
was recorded; `RowJournal.number`), which orders them; recovery gives each the next free index.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.ipc

from lerobot_stream.storage.episode_table import arrow_column
from lerobot_stream.storage.layout import DEFAULT_FEATURES
from workers.codecs import EncoderSettings

logger = logging.getLogger(__name__)

JOURNAL_PATTERN = "journal-{episode_index:06d}.arrow"
JOURNAL_GLOB = "journal-*.arrow"
#: Appended to a journal's name just before its episode is committed, with the index it is committed as.
COMMITTING_MARK = ".committing-as-"
TASK_COLUMN = "task"
SETTINGS_KEY = b"lerobot_stream.encoder_settings"
FIRST_ROW_KEY = b"first_row"
DIGEST_KEY = b"digest"


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
        """Write ``table`` as record batches and push them to the file (a killed process keeps them). Each
        batch carries its first row's ``frame_index`` and a digest of its values, so that salvage can prove a
        batch whole (`read_journal`)."""
        for batch in table.to_batches():
            metadata = {FIRST_ROW_KEY: str(self.rows).encode(), DIGEST_KEY: batch_digest(batch).encode()}
            self._writer.write_batch(batch, custom_metadata=metadata)
            self.rows += batch.num_rows
        self._sink.flush()

    def close(self) -> None:
        """Close the file, keeping it. Idempotent."""
        with contextlib.suppress(Exception):
            self._writer.close()
        with contextlib.suppress(Exception):
            self._sink.close()

    def discard(self) -> None:
        """Close and delete the journal. Idempotent."""
        self.close()
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
    second of recording (the first row at once), flushed whole when the episode is saved, then detached (the
    saved episode's journal stays until its commit) or discarded."""

    def __init__(self, staging_dir: Path, data_schema: pa.Schema, features: dict[str, dict], fps: int):
        self._staging_dir = staging_dir
        self._schema = journal_schema(data_schema)
        self._features = features
        self._fps = fps
        self._journal: EpisodeJournal | None = None
        #: Why this episode's journal stopped (a write failed), or None.
        self.stopped: str | None = None
        #: How each camera of the episode is encoded: written into the journal, so an episode salvaged after a
        #: crash is described in info.json by the settings it was recorded with, not by the defaults.
        self.camera_settings: dict[str, EncoderSettings] = {}
        #: The episode's recording number, which names the journal (None: its index in the buffer).
        self.number: int | None = None

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
                number = self.number
                if number is None:
                    number = int(np.asarray(buffer["episode_index"]).reshape(-1)[0])
                path = self._staging_dir / JOURNAL_PATTERN.format(episode_index=number)
                metadata = {SETTINGS_KEY: encode_settings(self.camera_settings)}
                self._journal = EpisodeJournal(path, self._schema.with_metadata(metadata))
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

    def detach(self) -> Path | None:
        """Close the episode's journal and keep it (its episode is saved but not committed yet); the next row
        starts a new journal. Returns its path (None if there was none)."""
        journal, self._journal = self._journal, None
        self.stopped = None
        if journal is None:
            return None
        journal.close()
        return journal.path


def journal_number(path: Path) -> int:
    """The recording number in a journal's name (``journal-000003.arrow[...]`` -> 3)."""
    return int(path.name.split(".", 1)[0].rsplit("-", 1)[-1])


def mark_committing(path: Path | None, episode_index: int) -> Path | None:
    """Rename a journal to say which episode index its episode is being committed as, just before the commit.
    Without it a recorder killed after the commit point and before the journal was deleted would leave an
    episode that is both in the dataset and salvageable; with it recovery knows from the episodes table which
    (`committing_index`)."""
    if path is None:
        return None
    target = path.with_name(f"{path.name}{COMMITTING_MARK}{episode_index:06d}")
    path.replace(target)
    return target


def committing_index(path: Path) -> int | None:
    """The index a journal's episode was being committed as (`mark_committing`), or None."""
    _, mark, index = path.name.partition(COMMITTING_MARK)
    return int(index) if mark else None


def find_journals(staging: Path) -> list[Path]:
    """The journals in a staging folder, oldest recording first."""
    pattern = JOURNAL_GLOB
    found = [*staging.glob(pattern), *staging.glob(f"{pattern}{COMMITTING_MARK}*")]
    return sorted(found, key=journal_number)


def encode_settings(settings: dict[str, EncoderSettings]) -> bytes:
    return json.dumps({camera: value.to_dict() for camera, value in settings.items()}).encode()


def journal_settings(table: pa.Table) -> dict[str, EncoderSettings]:
    """The cameras' encoder settings a journal was written with (empty for a journal of an older version)."""
    raw = (table.schema.metadata or {}).get(SETTINGS_KEY)
    if not raw:
        return {}
    return {camera: EncoderSettings.from_dict(values) for camera, values in json.loads(raw).items()}


def batch_digest(batch: pa.RecordBatch) -> str:
    """A digest of a batch's values (not of its buffers, which a reader may lay out differently)."""
    digest = hashlib.sha256()
    for column in batch.columns:
        digest.update(json.dumps(column.to_pylist(), default=str).encode())
    return digest.hexdigest()[:32]


@dataclass
class JournalContents:
    #: The rows proved whole: every batch up to the first that is cut short or damaged.
    rows: pa.Table
    #: What was wrong with the batch where reading stopped (None: the journal ended cleanly or was cut short).
    damage: str | None = None


def read_journal(path: Path) -> JournalContents | None:
    """The rows of a journal that are proved whole; None if not even its header is readable.

    Each batch must be readable, valid Arrow (well-formed UTF-8 included), carry the next ``frame_index``
    values in order, and match the digest it was written with. Reading stops at the first batch that does not:
    a batch cut short by a kill is simply the end; one that is damaged (zeroed or overwritten bytes after a
    power cut, say) is reported in ``damage``, and nothing after it is trusted.
    """
    batches: list[pa.RecordBatch] = []
    try:
        reader = pa.ipc.open_stream(pa.memory_map(str(path)))
    except (pa.ArrowInvalid, OSError):
        return None
    expected_row, damage = 0, None
    while True:
        try:
            batch, metadata = reader.read_next_batch_with_custom_metadata()
        except StopIteration:
            break
        except (pa.ArrowInvalid, OSError):
            break  # cut short: the last batch was being written when the recorder died
        damage = _batch_damage(batch, metadata, expected_row)
        if damage is not None:
            damage = f"rows from {expected_row} on: {damage}"
            break
        batches.append(batch)
        expected_row += batch.num_rows
    return JournalContents(pa.Table.from_batches(batches, schema=reader.schema), damage)


def _batch_damage(batch: pa.RecordBatch, metadata: Any, expected_row: int) -> str | None:
    """Why ``batch`` cannot be trusted, or None."""
    try:
        batch.validate(full=True)
    except pa.ArrowInvalid as exc:
        return f"invalid data ({exc})"
    frames = batch.column("frame_index").to_pylist()
    if frames != list(range(expected_row, expected_row + batch.num_rows)):
        return f"frame_index {frames[:3]}... where {expected_row}... was expected"
    if metadata is None or DIGEST_KEY not in metadata:
        return None  # a journal of an older version: structure checked, values cannot be
    if int(metadata[FIRST_ROW_KEY]) != expected_row or metadata[DIGEST_KEY].decode() != batch_digest(batch):
        return "its values do not match the digest they were written with"
    return None
