"""All-or-nothing replacement of the several files one ``save_episode`` changes.

A save writes each new file aside and renames it over the old one (`lerobot_stream.storage.layout.
atomic_write`), which protects every single file. But a save changes up to six files (each camera's MP4, the
data parquet, the episodes table, tasks, info.json, stats.json), and a full disk can stop it between any two:
the earlier files would then hold an episode the later ones do not know about. Inside a `FileTransaction`,
every rename over a dataset file first keeps the old version under a hidden hard link
(``.<name>.<random>.bak``: no data is copied and no space is needed); if the save fails, `rollback` puts
every old version back, newest change first, and deletes files the save created. On success the links are
dropped.

Order matters for a crash in the middle: changes are undone in reverse, so the episodes table (the commit
point, changed after the videos and data) is always back before the data it describes. A recorder killed
mid-save or mid-rollback leaves ``*.bak`` links; `restore_or_drop_backups` (run by recovery) puts back a
backup whose file is missing and deletes the others - what remains is then what recovery already handles:
rows and frames beyond the last episode in the episodes table.

Filesystems without hard links (FAT/exFAT sticks, some FUSE mounts) get the same guarantees by renaming the
old file aside instead; in that case a crash between the two renames leaves the file missing and its backup
there, which `restore_or_drop_backups` repairs.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import secrets
from collections.abc import Iterator
from contextvars import ContextVar
from pathlib import Path

from lerobot_stream.errors import RollbackFailed
from lerobot_stream.storage.dataset_walk import walk_dataset_files

logger = logging.getLogger(__name__)

BACKUP_SUFFIX = ".bak"
_active: ContextVar[FileTransaction | None] = ContextVar("lerobot_stream_file_transaction", default=None)


def _backup_name(target: Path) -> Path:
    return target.with_name(f".{target.name}.{secrets.token_hex(4)}{BACKUP_SUFFIX}")


class FileTransaction:
    """Records the old version of every file replaced while it is active (see the module docstring)."""

    def __init__(self) -> None:
        #: (file, its backup, or None when the file did not exist before), in the order of the changes.
        self._changes: list[tuple[Path, Path | None]] = []
        self._seen: set[Path] = set()

    def before_replace(self, target: Path) -> None:
        """Keep ``target``'s current version (once per transaction: the first version is the one to restore)."""
        target = Path(target)
        if target in self._seen:
            return
        backup: Path | None = None
        if os.path.lexists(target):
            backup = _backup_name(target)
            try:
                os.link(target, backup, follow_symlinks=False)
            except OSError as exc:
                if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV, errno.EMLINK):
                    raise
                os.rename(target, backup)  # no hard links here: move it aside (see the module docstring)
        self._changes.append((target, backup))
        self._seen.add(target)

    def rollback(self) -> None:
        """Put every old version back, newest change first; raise `RollbackFailed` if any could not be."""
        failures: list[str] = []
        for target, backup in reversed(self._changes):
            try:
                if backup is None:
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(target)
                else:
                    os.replace(backup, target)
                _fsync_directory(target.parent)
            except OSError as exc:
                failures.append(f"{target}: {exc}")
        self._changes.clear()
        self._seen.clear()
        if failures:
            raise RollbackFailed(errno.EIO, "could not restore " + "; ".join(failures))

    def release(self) -> None:
        """The changes stand: drop the backups."""
        for _, backup in self._changes:
            if backup is not None:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(backup)
        self._changes.clear()
        self._seen.clear()


@contextlib.contextmanager
def file_transaction() -> Iterator[FileTransaction]:
    """Every dataset file replaced inside the block is restored if the block raises (then re-raised; a
    failed restore raises `RollbackFailed` from the original error)."""
    if _active.get() is not None:
        raise RuntimeError("file transactions do not nest")
    transaction = FileTransaction()
    token = _active.set(transaction)
    try:
        yield transaction
    except BaseException as exc:
        _active.reset(token)
        try:
            transaction.rollback()
        except RollbackFailed as failure:
            raise failure from exc
        raise
    _active.reset(token)
    transaction.release()


def note_replace(target: Path) -> None:
    """Called just before a file of the dataset is renamed into place (by `replace_durably`)."""
    transaction = _active.get()
    if transaction is not None:
        transaction.before_replace(target)


def restore_or_drop_backups(root: Path) -> list[str]:
    """After a crash: put back each backup whose file is missing, delete the rest; returns what was done."""
    actions: list[str] = []
    for backup in walk_dataset_files(Path(root), f".*{BACKUP_SUFFIX}"):
        if not backup.is_file() or backup.is_symlink():
            continue
        stem = backup.name[1 : -len(BACKUP_SUFFIX)]
        original_name, _, token = stem.rpartition(".")
        if not original_name or len(token) != 8:
            continue
        target = backup.with_name(original_name)
        relative = backup.relative_to(root)
        if os.path.lexists(target):
            backup.unlink()
            actions.append(f"removed {relative}, the old version of a file an interrupted save had replaced")
        else:
            os.replace(backup, target)
            actions.append(f"restored {target.relative_to(root)} from {relative} (an interrupted save had moved it)")
    return actions


def _fsync_directory(path: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
