"""Paths, defaults and small helpers of the LeRobot v3.0 on-disk format (names kept from LeRobot)."""

from __future__ import annotations

import contextlib
import copy
import errno
import json
import logging
import os
import secrets
import stat
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np

from lerobot_stream.errors import PrivateFolderError
from lerobot_stream.storage.file_transaction import note_replace

logger = logging.getLogger(__name__)


CODEBASE_VERSION = "v3.0"

DEFAULT_CHUNK_SIZE = 1000  # files per chunk directory
DEFAULT_DATA_FILE_SIZE_IN_MB = 100
DEFAULT_VIDEO_FILE_SIZE_IN_MB = 200

INFO_PATH = "meta/info.json"
STATS_PATH = "meta/stats.json"
EPISODES_DIR = "meta/episodes"
DATA_DIR = "data"
VIDEO_DIR = "videos"
IMAGES_DIR = "images"
#: The columns every frame of a dataset has, computed by the writer (LeRobot's names and shapes; v0.5 imports
#: them from ``datasets.utils``, v0.6 from ``utils.constants``).
DEFAULT_FEATURES: dict[str, dict] = {
    "timestamp": {"dtype": "float32", "shape": (1,), "names": None},
    "frame_index": {"dtype": "int64", "shape": (1,), "names": None},
    "episode_index": {"dtype": "int64", "shape": (1,), "names": None},
    "index": {"dtype": "int64", "shape": (1,), "names": None},
    "task_index": {"dtype": "int64", "shape": (1,), "names": None},
}

#: Temporary per-episode MP4s live here until they are appended to the dataset's files.
STAGING_DIR = ".staging"

CHUNK_FILE_PATTERN = "chunk-{chunk_index:03d}/file-{file_index:03d}"
DEFAULT_TASKS_PATH = "meta/tasks.parquet"
DEFAULT_SUBTASKS_PATH = "meta/subtasks.parquet"
DEFAULT_EPISODES_PATH = EPISODES_DIR + "/" + CHUNK_FILE_PATTERN + ".parquet"
DEFAULT_DATA_PATH = DATA_DIR + "/" + CHUNK_FILE_PATTERN + ".parquet"
DEFAULT_VIDEO_PATH = VIDEO_DIR + "/{video_key}/" + CHUNK_FILE_PATTERN + ".mp4"
DEFAULT_IMAGE_PATH = IMAGES_DIR + "/{image_key}/episode-{episode_index:06d}/frame-{frame_index:06d}.png"
#: Depth frames of the image path are TIFF (uint16 millimetres or float32 metres), as in LeRobot v0.6.
DEFAULT_DEPTH_PATH = IMAGES_DIR + "/{image_key}/episode-{episode_index:06d}/frame-{frame_index:06d}.tiff"


def chunk_files(folder: Path, suffix: str) -> list[Path]:
    """The files of a v3.0 chunked folder (``data/``, ``meta/episodes/``, ``videos/<key>/``) ending in ``suffix``,
    in chunk and file order: ``chunk-XXX/file-YYY<suffix>``."""
    return sorted(Path(folder).glob(f"chunk-*/file-*{suffix}"))


def hf_lerobot_home() -> Path:
    """Where datasets go when no ``root`` is given: ``$HF_LEROBOT_HOME`` or ``$HF_HOME/lerobot``."""
    if "HF_LEROBOT_HOME" in os.environ:
        return Path(os.environ["HF_LEROBOT_HOME"]).expanduser()
    hf_home = os.environ.get("HF_HOME", str(Path("~/.cache/huggingface").expanduser()))
    return Path(hf_home).expanduser() / "lerobot"


def update_chunk_file_indices(chunk_index: int, file_index: int, chunks_size: int) -> tuple[int, int]:
    """The (chunk, file) after the given one: a chunk directory holds ``chunks_size`` files."""
    if file_index == chunks_size - 1:
        return chunk_index + 1, 0
    return chunk_index, file_index + 1


def file_is_full(current_bytes: float, adding_bytes: float, limit_mb: float) -> bool:
    """Whether a file of ``current_bytes`` must roll over to the next file rather than take ``adding_bytes``
    more: LeRobot's rule, a file stays below ``limit_mb`` (``data_files_size_in_mb``/``video_files_size_in_mb``).
    The one place the data, video and episodes-metadata files decide it."""
    return current_bytes + adding_bytes >= limit_mb * 1024**2


def flatten_dict(d: dict, parent_key: str = "", sep: str = "/") -> dict:
    items: dict = {}
    for key, value in d.items():
        new_key = f"{parent_key}{sep}{key}" if parent_key else key
        if isinstance(value, dict):
            items.update(flatten_dict(value, new_key, sep))
        else:
            items[new_key] = value
    return items


def unflatten_dict(d: dict, sep: str = "/") -> dict:
    out: dict = {}
    for key, value in d.items():
        parts = key.split(sep)
        node = out
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    return out


def serialize_dict(stats: dict) -> dict:
    """Nested dict of arrays/scalars -> nested dict of JSON-able lists and numbers."""
    out: dict = {}
    for key, value in stats.items():
        if isinstance(value, dict):
            out[key] = serialize_dict(value)
        elif isinstance(value, np.ndarray):
            out[key] = value.tolist()
        elif isinstance(value, (np.generic,)):
            out[key] = value.item()
        elif isinstance(value, (int, float, str, bool)) or value is None:
            out[key] = value
        elif isinstance(value, (list, tuple)):  # stats written by hand or by LeRobot's tools
            out[key] = np.asarray(value).tolist()
        elif hasattr(value, "tolist"):  # torch tensors
            out[key] = value.tolist()
        else:
            raise NotImplementedError(f"The value '{value}' of type '{type(value)}' is not supported.")
    return out


def fsync_path(path: Path) -> None:
    """Flush a file - or a directory, after entries in it changed - from the page cache to the disk."""
    flags = os.O_RDONLY | (getattr(os, "O_DIRECTORY", 0) if Path(path).is_dir() else 0)
    fd = os.open(path, flags)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def replace_durably(source: Path, target: Path) -> None:
    """``os.replace`` and make the rename itself survive a power cut (fsync of the directory). Inside a
    save's `lerobot_stream.storage.file_transaction` the old ``target`` is kept until the save succeeds."""
    note_replace(Path(target))
    os.replace(source, target)
    fsync_path(Path(target).parent)


def create_temporary_file(directory: Path, name: str) -> Path:
    """An empty new file ``.<name>.<random>.tmp`` in ``directory``, with the mode the process's umask gives
    (``tempfile.mkstemp`` makes 0600 files, and renamed into place they would lock other users - a
    training container, a web server - out of the dataset)."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    for _ in range(100):
        candidate = Path(directory) / f".{name}.{secrets.token_hex(4)}.tmp"
        try:
            os.close(os.open(candidate, flags, 0o666))
        except FileExistsError:
            continue
        return candidate
    raise FileExistsError(f"no free temporary file name in {directory}")


def atomic_write(path: Path, write: Callable[[Path], None], durable: bool = True) -> None:
    """Write ``path`` through a temporary file in the same directory and rename it into place.

    A reader - or a recorder killed mid-write - sees the old file or the new one, never half of one. With
    ``durable`` (the default for everything a dataset keeps) the file is flushed to disk before the rename
    and the directory after it: a rename alone protects against a crashed process, not against a power
    cut, and robots lose power. Staging files that are thrown away anyway pass ``durable=False``.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    temp_name = create_temporary_file(path.parent, path.name)
    try:
        write(Path(temp_name))
        if durable:
            fsync_path(Path(temp_name))
            replace_durably(Path(temp_name), path)
        else:
            os.replace(temp_name, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp_name)
        raise


def write_json(data: dict, path: Path) -> None:
    def dump(temp: Path) -> None:
        with open(temp, "w", encoding="utf-8") as f:
            json.dump(data, f, indent=4, ensure_ascii=False)

    atomic_write(Path(path), dump)


def check_path_template(name: str, template: Any, optional: bool = False) -> None:
    """A file-name template of ``info.json`` (``data_path``, ``video_path``) must name a file inside the
    dataset: a relative path without ``..``. Metadata comes from wherever the dataset came from; a template of
    ``/dev/stdin`` made ``info`` hang, ``../..`` made the reader read files outside the dataset."""
    if template is None and optional:
        return
    parts = PurePosixPath(str(template)).parts
    if (
        not isinstance(template, str)
        or not template
        or template.startswith("/")
        or "\\" in template
        or "\0" in template
        or ".." in parts
        or ":" in (parts[0] if parts else "")
    ):
        raise ValueError(
            f"info.json: {name} must be a file name relative to the dataset, without '..'; got {template!r}"
        )


def dataset_file(root: Path, relative: str | Path) -> Path:
    """``root / relative``, checked to name a regular file: a ``FileNotFoundError`` if it is missing, a
    ``ValueError`` if it is anything else (a FIFO or a device would hang or flood its reader). Symbolic links are
    followed - users keep ``videos/`` on another disk that way; the path itself is kept inside the dataset by
    `check_path_template` (relative, no ``..``)."""
    path = Path(root) / relative
    mode = path.stat().st_mode  # FileNotFoundError when missing
    if not stat.S_ISREG(mode):
        raise ValueError(f"{path} is not a regular file; not reading it")
    return path


def check_private_folder(path: Path) -> None:
    """Refuse to keep temporary files in ``path`` if it is a symbolic link: they would be written - and later
    deleted - wherever the link points, outside the dataset."""
    if path.is_symlink():
        raise PrivateFolderError(
            errno.ELOOP,
            f"{path} is a symbolic link (to {os.readlink(path)}); lerobot_stream keeps an episode's temporary files "
            "in a folder of its own there. Remove the link (`lerobot-stream recover` does) and try again.",
        )


def load_json(path: Path) -> Any:
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def check_batch_encoding_size(batch_encoding_size: int) -> None:
    """``batch_encoding_size`` must be a positive integer. Values above 1 are accepted and change nothing:
    LeRobot batches the encoding of several episodes' PNGs, while here each episode's videos are encoded
    while it is recorded (streaming) or when it is saved, so there is nothing left to batch."""
    if isinstance(batch_encoding_size, bool) or not isinstance(batch_encoding_size, int) or batch_encoding_size < 1:
        raise ValueError(f"batch_encoding_size must be a positive integer, got {batch_encoding_size!r}")
    if batch_encoding_size > 1:
        logger.info(
            "batch_encoding_size=%d: episodes are still encoded one at a time (while recorded or at save_episode)",
            batch_encoding_size,
        )


# ---- meta/info.json -------------------------------------------------------------------------------------------
# LeRobot v0.5 handed out ``meta.info`` as a plain dict (``info["fps"]``); v0.6 made it a typed dataclass
# (``info.fps``) that still answers dict-style access. `DatasetInfo` does both, without deprecation warnings -
# dict-style is how every v0.5 user's code reads it. Keys of ``info.json`` it has no field for (a newer or older
# LeRobot's) are kept in ``extra`` and written back, rather than dropped.

#: The order ``info.json`` is written in (the order LeRobot's writers use).
_JSON_ORDER = (
    "codebase_version",
    "robot_type",
    "total_episodes",
    "total_frames",
    "total_tasks",
    "chunks_size",
    "data_files_size_in_mb",
    "video_files_size_in_mb",
    "fps",
    "splits",
    "data_path",
    "video_path",
    "features",
    "tools",
)


@dataclass(eq=False)
class DatasetInfo:
    """``meta/info.json`` as an object; ``info.fps`` and ``info["fps"]`` are the same value."""

    codebase_version: str
    fps: int
    features: dict[str, dict]
    total_episodes: int = 0
    total_frames: int = 0
    total_tasks: int = 0
    chunks_size: int = DEFAULT_CHUNK_SIZE
    data_files_size_in_mb: int = DEFAULT_DATA_FILE_SIZE_IN_MB
    video_files_size_in_mb: int = DEFAULT_VIDEO_FILE_SIZE_IN_MB
    data_path: str = DEFAULT_DATA_PATH
    video_path: str | None = DEFAULT_VIDEO_PATH
    robot_type: str | None = None
    splits: dict[str, str] = field(default_factory=dict)
    #: Tool schemas the dataset declares (LeRobot v0.6); None: none declared (and no ``tools`` key on disk).
    tools: list[dict] | None = None
    #: Keys of info.json this class has no field for, kept as they were.
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in ("data_path", "video_path"):
            check_path_template(name, getattr(self, name), optional=name == "video_path")
        for feature in self.features.values():
            if isinstance(feature.get("shape"), list):
                feature["shape"] = tuple(feature["shape"])
        for name in ("fps", "chunks_size", "data_files_size_in_mb", "video_files_size_in_mb"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
                raise ValueError(f"info.json: {name} must be a positive number, got {value!r}")

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DatasetInfo:
        """From a parsed ``info.json`` (a missing ``codebase_version``, ``fps`` or ``features`` is a ``KeyError``)."""
        known = {f.name for f in fields(cls)} - {"extra"}
        values = {key: value for key, value in data.items() if key in known}
        extra = {key: value for key, value in data.items() if key not in known}
        return cls(**values, extra=extra)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready copy: shapes as lists, no ``tools`` key when none are declared, ``extra`` keys last."""
        out = {name: copy.deepcopy(getattr(self, name)) for name in _JSON_ORDER}
        if out["tools"] is None:
            del out["tools"]
        for feature in out["features"].values():
            feature["shape"] = list(feature.get("shape") or ())
        out.update(copy.deepcopy(self.extra))
        return out

    # -- dict-style access (LeRobot v0.5's ``meta.info`` was a dict) -----------------------------------------
    def _is_field(self, key: str) -> bool:
        return key != "extra" and key in self.__dataclass_fields__

    def __getitem__(self, key: str) -> Any:
        if self._is_field(key):
            return getattr(self, key)
        return self.extra[key]

    def __setitem__(self, key: str, value: Any) -> None:
        if self._is_field(key):
            setattr(self, key, value)
        else:
            self.extra[key] = value

    def __delitem__(self, key: str) -> None:
        if key == "tools":
            self.tools = None
        elif self._is_field(key):
            raise KeyError(f"{key!r} is required in info.json and cannot be removed")
        else:
            del self.extra[key]

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and key in self.keys()

    def get(self, key: str, default: Any = None) -> Any:
        if key not in self:
            return default
        return self[key]

    def keys(self) -> list[str]:
        names = [name for name in _JSON_ORDER if name != "tools" or self.tools is not None]
        return names + list(self.extra)

    def values(self) -> list[Any]:
        return [self[key] for key in self.keys()]

    def items(self) -> list[tuple[str, Any]]:
        return [(key, self[key]) for key in self.keys()]

    def __iter__(self) -> Iterator[str]:
        return iter(self.keys())

    def __len__(self) -> int:
        return len(self.keys())

    def __eq__(self, other: object) -> bool:
        if isinstance(other, DatasetInfo):
            return self.to_dict() == other.to_dict()
        if isinstance(other, Mapping):
            try:
                return self.to_dict() == DatasetInfo.from_dict(other).to_dict()
            except (KeyError, TypeError, ValueError):
                return False
        return NotImplemented

    __hash__ = None  # mutable, like the dict it stands for
