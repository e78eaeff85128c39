"""Bring a dataset left by a killed recorder back to a consistent state.

The episodes table (``meta/episodes``) is the source of truth: an episode is saved once its row is
there (the writer commits videos and data first, see `lerobot_stream.recorder.writer`). A
recorder killed in the middle of ``save_episode`` can therefore leave *more* on disk than the episodes
table says - video frames appended, data rows written - never less. Recovery:

* removes data rows and video frames beyond the last saved episode, and files no episode refers to;
* rewrites ``info.json`` totals (and ``stats.json``, from the episodes' own stats) to match the table;
* deletes staging leftovers: temporary episode MP4s (``.staging/``), PNG folders (``images/``) and
  half-written temporary files.

The episode that was being *recorded* when the recorder died is salvaged when it can be: a streaming
recorder journals its rows about once a second, and the episode is saved cut to the frames that both the
journal and every camera's fragmented MP4 hold (`lerobot_stream.recovery.salvage`, which also says when it
cannot). Otherwise its leftovers are removed and the report says so.
"""

from __future__ import annotations

import logging
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from lerobot_stream.errors import RecoveryRefused
from lerobot_stream.recovery.integrity import inspect_dataset
from lerobot_stream.recovery.salvage import salvage_episodes
from lerobot_stream.storage.dataset_walk import walk_dataset_files
from lerobot_stream.storage.features import validate_feature_names
from lerobot_stream.storage.file_transaction import BACKUP_SUFFIX, restore_or_drop_backups
from lerobot_stream.storage.layout import (
    DATA_DIR,
    DEFAULT_DATA_PATH,
    DEFAULT_VIDEO_PATH,
    IMAGES_DIR,
    INFO_PATH,
    STAGING_DIR,
    VIDEO_DIR,
    atomic_write,
    chunk_files,
    load_json,
    unflatten_dict,
    write_json,
)
from lerobot_stream.storage.metadata_files import load_episode_rows, load_tasks, write_stats
from lerobot_stream.storage.stats import aggregate_stats
from lerobot_stream.storage.video_files import get_video_duration_in_s, trim_video_file
from lerobot_stream.storage.writer_lock import LockUnavailable, WriterLock

logger = logging.getLogger(__name__)


@dataclass
class RecoveryReport:
    root: Path
    actions: list[str] = field(default_factory=list)
    episodes: int = 0
    frames: int = 0
    #: The dataset could not be written (a read-only mount) and did not need to be.
    read_only: bool = False

    @property
    def changed(self) -> bool:
        return bool(self.actions)

    def summary(self) -> str:
        if not self.actions:
            written = " (read-only: nothing needed writing)" if self.read_only else ""
            return f"{self.root}: consistent ({self.episodes} episodes, {self.frames} frames); nothing to do{written}"
        lines = [f"{self.root}: {self.episodes} saved episodes, {self.frames} frames kept"]
        lines += [f"  - {a}" for a in self.actions]
        return "\n".join(lines)


#: Half-written files an interrupted save leaves (`atomic_write` temporaries, videos being concatenated).
TEMPORARY_FILES = (".*.tmp", ".*.pending.mp4", ".concat-*.mp4")


def _episode_rows(root: Path) -> list[dict]:
    try:
        return load_episode_rows(root, with_stats=True)
    except Exception as exc:  # a file without footer can only come from an older writer
        raise RecoveryRefused(
            f"{root}: the episodes table (meta/episodes) is unreadable ({exc}); nothing was changed. Restore it "
            "from a backup: without it no file of the dataset can be proved to belong to a saved episode."
        ) from exc


def _load_info(root: Path) -> dict:
    """info.json, which must be readable (else ``ValueError``: nothing to recover from) and name only
    features whose keys stay inside the dataset (else `RecoveryRefused`)."""
    try:
        info = load_json(root / INFO_PATH)
        if not isinstance(info.get("features"), dict) or "fps" not in info:
            raise ValueError("no 'features' or 'fps'")
    except (ValueError, TypeError, AttributeError) as exc:
        raise ValueError(f"{root}: {INFO_PATH} is unreadable or incomplete ({exc}); nothing was changed.") from exc
    try:
        validate_feature_names(info["features"])
    except ValueError as exc:
        raise RecoveryRefused(f"{root}: {INFO_PATH}: {exc}; nothing was changed.") from exc
    return info


def _video_ends(rows: list[dict], key: str) -> dict[tuple[int, int], float]:
    """Per (chunk, file) of camera ``key``: where the last saved episode in that file ends (seconds)."""
    ends: dict[tuple[int, int], float] = {}
    for r in rows:
        location = (r[f"videos/{key}/chunk_index"], r[f"videos/{key}/file_index"])
        ends[location] = max(ends.get(location, 0.0), r[f"videos/{key}/to_timestamp"])
    return ends


def _chunk_file(path: Path) -> tuple[int, int]:
    return int(path.parent.name.split("-")[1]), int(path.stem.split("-")[1])


def _check_saved_files_are_whole(root: Path, info: dict, rows: list[dict], video_keys: list[str]) -> None:
    """Every file a saved episode refers to is there and holds at least what the episodes table says:
    what is missing cannot be recovered, only reported (``lerobot-stream info`` lists the same problems)."""
    rows_in_file: dict[tuple[int, int], int] = {}
    for r in rows:
        location = (r["data/chunk_index"], r["data/file_index"])
        rows_in_file[location] = rows_in_file.get(location, 0) + r["length"]
    for (chunk, file), needed in sorted(rows_in_file.items()):
        path = root / DEFAULT_DATA_PATH.format(chunk_index=chunk, file_index=file)
        try:
            held = pq.ParquetFile(path).metadata.num_rows
        except Exception as exc:
            raise RecoveryRefused(
                f"{root}: data file {path.relative_to(root)} of saved episodes is missing or unreadable ({exc}); "
                "nothing was changed."
            ) from exc
        if held < needed:
            raise RecoveryRefused(
                f"{root}: {path.relative_to(root)} holds {held} rows, saved episodes need {needed}; "
                "nothing was changed."
            )
    fps = info["fps"]
    for key in video_keys:
        for (chunk, file), end in sorted(_video_ends(rows, key).items()):
            path = root / DEFAULT_VIDEO_PATH.format(video_key=key, chunk_index=chunk, file_index=file)
            try:
                duration = get_video_duration_in_s(path)
            except Exception as exc:
                raise RecoveryRefused(
                    f"{root}: video {path.relative_to(root)} of saved episodes is missing or unreadable ({exc}); "
                    "nothing was changed."
                ) from exc
            if duration < end - 0.5 / fps:
                raise RecoveryRefused(
                    f"{root}: {path.relative_to(root)} lasts {duration:.3f} s, saved episodes need {end:.3f} s "
                    "(truncated); nothing was changed."
                )


def _check_provable(root: Path, info: dict, rows: list[dict], video_keys: list[str]) -> None:
    """Refuse, before touching anything, what recovery could not undo: metadata that lost saved episodes,
    and files no saved episode refers to that are not *after* the last saved episode's file (an unsaved
    episode only ever adds to the end)."""
    indices = [r["episode_index"] for r in rows]
    if indices != list(range(len(rows))):
        raise RecoveryRefused(
            f"{root}: meta/episodes lists episodes {indices[:10]}..., not 0..{len(rows) - 1}; nothing was changed."
        )
    claimed = int(info.get("total_episodes") or 0)
    if claimed > len(rows):
        raise RecoveryRefused(
            f"{root}: {INFO_PATH} says {claimed} saved episode(s) but meta/episodes lists {len(rows)} (missing or "
            "damaged); nothing was changed. Restore meta/episodes from a backup."
        )
    locations = {"data": [(r["data/chunk_index"], r["data/file_index"]) for r in rows]}
    for key in video_keys:
        locations[key] = [(r[f"videos/{key}/chunk_index"], r[f"videos/{key}/file_index"]) for r in rows]
    files = {"data": chunk_files(root / DATA_DIR, ".parquet")}
    for key in video_keys:
        files[key] = chunk_files(root / VIDEO_DIR / key, ".mp4")
    _check_saved_files_are_whole(root, info, rows, video_keys)
    for what, paths in files.items():
        referenced = set(locations[what])
        last = max(referenced, default=(-1, -1))
        stray = [p for p in paths if _chunk_file(p) not in referenced and _chunk_file(p) < last]
        if stray:
            raise RecoveryRefused(
                f"{root}: {stray[0].relative_to(root)} belongs to no saved episode but lies before the last saved "
                "one's file, so it is not an unsaved episode's; nothing was changed."
            )


def _remove_leftovers(root: Path, report: RecoveryReport) -> None:
    for private in (STAGING_DIR, IMAGES_DIR):
        link = root / private
        if link.is_symlink():
            target = os.readlink(link)
            link.unlink()
            report.actions.append(
                f"removed {private}, a symbolic link (to {target}) where lerobot_stream keeps its temporary files; "
                "what it pointed to was not touched"
            )
    staging = root / STAGING_DIR
    if staging.exists():
        count = sum(1 for p in staging.rglob("*.mp4"))
        shutil.rmtree(staging)
        if count:
            report.actions.append(
                f"removed {count} temporary video file(s) of an unsaved episode ({STAGING_DIR}/) that could not be "
                "salvaged (no row journal for it - PNG path, image features or depth streams - or nothing complete "
                "in it), so it was not kept"
            )
    images = root / IMAGES_DIR
    if images.exists():
        count = sum(1 for _ in images.rglob("*.png"))
        shutil.rmtree(images)
        report.actions.append(f"removed {count} staged PNG file(s) of an unsaved episode ({IMAGES_DIR}/)")
    for pattern in TEMPORARY_FILES:
        for path in walk_dataset_files(root, pattern):
            path.unlink()
            report.actions.append(f"removed half-written temporary file {path.relative_to(root)}")


def _trim_data(root: Path, rows: list[dict], report: RecoveryReport) -> None:
    """Drop data rows of episodes the table does not list; drop data files no episode refers to."""
    saved = {r["episode_index"] for r in rows}
    referenced = {(r["data/chunk_index"], r["data/file_index"]) for r in rows}
    for path in chunk_files(root / DATA_DIR, ".parquet"):
        chunk, file = _chunk_file(path)
        if (chunk, file) not in referenced:
            path.unlink()
            report.actions.append(f"removed data file {path.relative_to(root)} (no saved episode in it)")
            continue
        parquet = pq.ParquetFile(path)
        groups = [parquet.read_row_group(i) for i in range(parquet.num_row_groups)]
        kept = [g.filter(pc.is_in(g.column("episode_index"), pa.array(sorted(saved), pa.int64()))) for g in groups]
        dropped = sum(g.num_rows for g in groups) - sum(g.num_rows for g in kept)
        if dropped:
            schema = parquet.schema_arrow

            def write(temp: Path, kept=kept, schema=schema) -> None:
                with pq.ParquetWriter(temp, schema, compression="snappy", use_dictionary=True) as writer:
                    for group in kept:
                        if group.num_rows:
                            writer.write_table(group)

            atomic_write(path, write)
            report.actions.append(f"removed {dropped} data row(s) of an unsaved episode from {path.relative_to(root)}")


def _trim_videos(root: Path, rows: list[dict], video_keys: list[str], fps: int, report: RecoveryReport) -> None:
    for key in video_keys:
        ends = _video_ends(rows, key)
        for path in chunk_files(root / VIDEO_DIR / key, ".mp4"):
            chunk, file = _chunk_file(path)
            if (chunk, file) not in ends:
                path.unlink()
                report.actions.append(f"removed video file {path.relative_to(root)} (no saved episode in it)")
                continue
            if get_video_duration_in_s(path) > ends[(chunk, file)] + 0.5 / fps:
                removed = trim_video_file(path, ends[(chunk, file)])
                report.actions.append(f"removed {removed} frame(s) of an unsaved episode from {path.relative_to(root)}")


def _fix_info_and_stats(root: Path, rows: list[dict], report: RecoveryReport) -> None:
    info = load_json(root / INFO_PATH)
    frames = sum(r["length"] for r in rows)
    tasks = load_tasks(root)
    expected = {
        "total_episodes": len(rows),
        "total_frames": frames,
        "total_tasks": len(tasks),
        "splits": {"train": f"0:{len(rows)}"} if rows else {},
    }
    if any(info.get(k) != v for k, v in expected.items()):
        report.actions.append(
            f"info.json said {info.get('total_episodes')} episodes / {info.get('total_frames')} frames; "
            f"corrected to {len(rows)} / {frames}"
        )
        info.update(expected)
        write_json(info, root / INFO_PATH)
        if rows:
            per_episode = []
            for r in rows:
                flat = {
                    k[len("stats/") :]: np.asarray(v) for k, v in r.items() if k.startswith("stats/") and v is not None
                }
                per_episode.append(unflatten_dict(flat))
            write_stats(aggregate_stats(per_episode, order=list(info["features"])), root)


def _check_read_only(root: Path, report: RecoveryReport, cause: OSError) -> RecoveryReport:
    """A dataset recovery cannot write to (a read-only mount, another user's files): consistent is fine -
    nothing needed writing - and anything to repair is refused, saying what and why. The integrity check
    (`lerobot_stream.recovery.integrity`, what ``info`` reports) decides what counts as consistent."""
    inspection = inspect_dataset(root)
    leftovers = [
        path for pattern in (f".*{BACKUP_SUFFIX}", *TEMPORARY_FILES) for path in walk_dataset_files(root, pattern)
    ]
    if not inspection.healthy or inspection.notes or leftovers:
        found = [*inspection.problems, *inspection.notes, *(f"{p.relative_to(root)} is left over" for p in leftovers)]
        raise RecoveryRefused(
            f"{root} needs recovery but cannot be written ({cause}): {'; '.join(found[:5])}. Nothing was "
            "changed; make it writable and run recover again."
        )
    report.read_only = True
    report.episodes = len(inspection.episodes)
    report.frames = sum(e["length"] for e in inspection.episodes)
    return report


def recover_dataset(root: str | Path, decode_videos: bool = True) -> RecoveryReport:
    """Make the dataset at ``root`` consistent with its episodes table; see the module docstring.

    Raises `RecoveryRefused`, having changed nothing, when the metadata is missing, unreadable or out of
    step with the files in a way an interrupted save cannot explain, and
    `lerobot_stream.storage.writer_lock.DatasetLocked` while a live recorder holds the dataset. Finally the
    dataset must pass the integrity check ``info`` runs (`lerobot_stream.recovery.integrity`; every video decoded unless
    ``decode_videos`` is False): damage that check sees and recovery does not repair is a `RecoveryRefused`
    too, listing it after whatever recovery did - so ``recover`` never calls consistent what ``info`` does not.
    """
    root = Path(root).absolute()  # FFmpeg and pyarrow read a relative "name:" as a protocol
    if not (root / INFO_PATH).exists():
        raise FileNotFoundError(f"{root} is not a LeRobot dataset ({INFO_PATH} is missing)")
    report = RecoveryReport(root)
    info = _load_info(root)
    lock = WriterLock(root)
    video_keys = [k for k, f in info["features"].items() if f.get("dtype") == "video"]
    try:
        lock.acquire("recovering it")  # a live recorder's episode is not an unsaved one's remains
    except LockUnavailable as exc:  # a read-only mount: fine, if there is nothing to write
        return _check_read_only(root, report, exc)
    try:
        report.actions += restore_or_drop_backups(root)  # an interrupted save's old file versions
        rows = _episode_rows(root)
        _check_provable(root, info, rows, video_keys)
        # What an interrupted save appended goes first, so a salvaged episode is never added twice.
        _trim_data(root, rows, report)
        _trim_videos(root, rows, video_keys, info["fps"], report)
        if rows and int(info.get("total_episodes") or 0) != len(rows):
            _fix_info_and_stats(root, rows, report)  # the salvaged episode's metadata builds on these
    finally:
        lock.release()
    salvaged = salvage_episodes(root, len(rows))  # takes the lock itself
    lock.acquire("recovering it")
    try:
        if salvaged:
            report.actions += salvaged
            rows = _episode_rows(root)
        _remove_leftovers(root, report)
        _fix_info_and_stats(root, rows, report)
    finally:
        lock.release()
    report.episodes = len(rows)
    report.frames = sum(r["length"] for r in rows)
    if report.changed:
        logger.info("%s", report.summary())
    inspection = inspect_dataset(root, decode_videos=decode_videos)
    if not inspection.healthy:
        done = f" (after: {'; '.join(report.actions)})" if report.actions else ""
        raise RecoveryRefused(
            f"{root}: damaged in a way recovery does not repair{done}: {'; '.join(inspection.problems[:5])}. "
            "`lerobot-stream info` lists every problem."
        )
    return report
