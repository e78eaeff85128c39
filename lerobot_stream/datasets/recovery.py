"""Bring a dataset left by a killed recorder back to a consistent state.

The episodes table (``meta/episodes``) is the source of truth: an episode is saved once its row is
there (the writer commits videos and data first, see `lerobot_stream.datasets.dataset_writer`). A
recorder killed in the middle of ``save_episode`` can therefore leave *more* on disk than the episodes
table says - video frames appended, data rows written - never less. Recovery:

* removes data rows and video frames beyond the last saved episode, and files no episode refers to;
* rewrites ``info.json`` totals (and ``stats.json``, from the episodes' own stats) to match the table;
* deletes staging leftovers: temporary episode MP4s (``.staging/``), PNG folders (``images/``) and
  half-written temporary files.

The episode that was being *recorded* when the recorder died is not turned into a saved episode: its
data rows lived only in the recorder's memory, so there is nothing to match its video frames against
exactly. Its leftovers are removed and the report says so.
"""

from __future__ import annotations

import logging
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from lerobot_stream.datasets.compute_stats import aggregate_stats
from lerobot_stream.datasets.dataset_metadata import load_episode_rows, load_tasks, write_stats
from lerobot_stream.datasets.utils import (
    DATA_DIR,
    IMAGES_DIR,
    INFO_PATH,
    STAGING_DIR,
    VIDEO_DIR,
    atomic_write,
    load_json,
    unflatten_dict,
    write_json,
)
from lerobot_stream.datasets.video_utils import get_video_duration_in_s, trim_video_file

logger = logging.getLogger(__name__)


@dataclass
class RecoveryReport:
    root: Path
    actions: list[str] = field(default_factory=list)
    episodes: int = 0
    frames: int = 0

    @property
    def changed(self) -> bool:
        return bool(self.actions)

    def summary(self) -> str:
        if not self.actions:
            return f"{self.root}: consistent ({self.episodes} episodes, {self.frames} frames); nothing to do"
        lines = [f"{self.root}: {self.episodes} saved episodes, {self.frames} frames kept"]
        lines += [f"  - {a}" for a in self.actions]
        return "\n".join(lines)


def _episode_rows(root: Path) -> list[dict]:
    try:
        return load_episode_rows(root, with_stats=True)
    except Exception as exc:  # a file without footer can only come from an older writer
        raise RuntimeError(
            f"{root}: the episodes table is unreadable ({exc}); it cannot be recovered automatically"
        ) from exc


def _remove_leftovers(root: Path, report: RecoveryReport) -> None:
    staging = root / STAGING_DIR
    if staging.exists():
        count = sum(1 for p in staging.rglob("*.mp4"))
        shutil.rmtree(staging)
        report.actions.append(
            f"removed {count} temporary video file(s) of an unsaved episode ({STAGING_DIR}/): its data rows were "
            "only in the recorder's memory, so it cannot be matched frame by frame and was not kept"
        )
    images = root / IMAGES_DIR
    if images.exists():
        count = sum(1 for _ in images.rglob("*.png"))
        shutil.rmtree(images)
        report.actions.append(f"removed {count} staged PNG file(s) of an unsaved episode ({IMAGES_DIR}/)")
    for pattern in (".*.tmp", ".*.pending.mp4", ".concat-*.mp4"):
        for path in root.rglob(pattern):
            path.unlink()
            report.actions.append(f"removed half-written temporary file {path.relative_to(root)}")


def _trim_data(root: Path, rows: list[dict], report: RecoveryReport) -> None:
    """Drop data rows of episodes the table does not list; drop data files no episode refers to."""
    saved = {r["episode_index"] for r in rows}
    referenced = {(r["data/chunk_index"], r["data/file_index"]) for r in rows}
    for path in sorted((root / DATA_DIR).glob("chunk-*/file-*.parquet")):
        chunk, file = int(path.parent.name.split("-")[1]), int(path.stem.split("-")[1])
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
        ends: dict[tuple[int, int], float] = {}
        for r in rows:
            location = (r[f"videos/{key}/chunk_index"], r[f"videos/{key}/file_index"])
            ends[location] = max(ends.get(location, 0.0), r[f"videos/{key}/to_timestamp"])
        for path in sorted((root / VIDEO_DIR / key).glob("chunk-*/file-*.mp4")):
            chunk, file = int(path.parent.name.split("-")[1]), int(path.stem.split("-")[1])
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


def recover_dataset(root: str | Path) -> RecoveryReport:
    """Make the dataset at ``root`` consistent with its episodes table; see the module docstring."""
    root = Path(root)
    if not (root / INFO_PATH).exists():
        raise FileNotFoundError(f"{root} is not a LeRobot dataset ({INFO_PATH} is missing)")
    report = RecoveryReport(root)
    rows = _episode_rows(root)
    info = load_json(root / INFO_PATH)
    video_keys = [k for k, f in info["features"].items() if f["dtype"] == "video"]
    _remove_leftovers(root, report)
    _trim_data(root, rows, report)
    _trim_videos(root, rows, video_keys, info["fps"], report)
    _fix_info_and_stats(root, rows, report)
    report.episodes = len(rows)
    report.frames = sum(r["length"] for r in rows)
    if report.changed:
        logger.info("%s", report.summary())
    return report
