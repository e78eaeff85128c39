"""What ``lerobot-stream record`` records, settled before anything is touched: the defaults for a new dataset, or
the dataset's own cameras, resolution and fps for ``--resume`` (refusing what contradicts them)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

from lerobot_stream.configs.video import is_depth_map
from lerobot_stream.errors import ResumeRefused
from lerobot_stream.storage.layout import INFO_PATH, load_json
from lerobot_stream.utils.constants import ACTION, OBS_IMAGES, OBS_STATE

DEFAULT_TASK = "pick up the synthetic cube"


@dataclass
class RecordConfig:
    """What ``lerobot-stream record`` records. ``cameras``, ``height``, ``width`` and ``fps`` left at None take
    the defaults (3 cameras, 640x480, 30 fps) - or, with ``resume``, the dataset's (a value given must match it)."""

    root: Path
    repo_id: str = "local/lerobot_stream_demo"
    cameras: int | None = None
    height: int | None = None
    width: int | None = None
    fps: int | None = None
    episodes: int = 3
    episode_seconds: float = 10.0
    vcodec: str = "libsvtav1"
    streaming: bool = True
    queue_size: int = 30
    encoder_threads: int | None = None
    #: The episodes' tasks, used in turn (episode i gets ``tasks[i % len(tasks)]``).
    tasks: list[str] = field(default_factory=lambda: [DEFAULT_TASK])
    #: RGB-D: every camera also records a depth stream (uint16 millimetres).
    depth: bool = False
    #: Append to the dataset at ``root`` (LeRobot's ``--resume``) instead of creating one.
    resume: bool = False
    overwrite: bool = False
    #: What the cameras film (`lerobot_stream.sources.cameras`): "scene" or "synthetic", or footage from ``source``.
    content: str = "scene"
    source: Path | None = None
    #: Seconds between episodes, as ``lerobot-record --dataset.reset_time_s`` (none after the last one): the
    #: episode is saved after its reset, as lerobot-record does, so its encoders work through their backlog
    #: meanwhile.
    reset_seconds: float = 0.0
    #: The encoders' backlog budgets (MB; None: the defaults, see `StreamingVideoEncoder.set_backlog_budget`).
    backlog_memory_mb: float | None = None
    backlog_disk_reserve_mb: float | None = None


def dataset_features(cameras: int, height: int, width: int, joints: int, depth: bool = False) -> dict:
    """The features of a dataset ``record`` makes: the colour cameras, then (``depth``) their depth streams."""
    features = {
        f"{OBS_IMAGES}.cam{c}": {
            "dtype": "video",
            "shape": (height, width, 3),
            "names": ["height", "width", "channels"],
        }
        for c in range(cameras)
    }
    for c in range(cameras if depth else 0):
        features[f"{OBS_IMAGES}.cam{c}_depth"] = {
            "dtype": "video",
            "shape": (height, width, 1),
            "names": ["height", "width", "channels"],
            "info": {"is_depth_map": True},
        }
    names = [f"joint_{i}" for i in range(joints)]
    features[OBS_STATE] = {"dtype": "float32", "shape": (joints,), "names": names}
    features[ACTION] = {"dtype": "float32", "shape": (joints,), "names": names}
    return features


def settle(config: RecordConfig, joints: int) -> RecordConfig:
    """``config`` with its camera count, resolution and fps decided: the defaults for a new dataset, the dataset's
    own with ``resume`` (refusing values that contradict them, or a dataset ``record`` did not make)."""
    if not config.resume:
        width, height = (config.width, config.height) if config.width else (640, 480)
        return replace(config, cameras=config.cameras or 3, width=width, height=height, fps=config.fps or 30)
    root = Path(config.root)
    try:
        info = load_json(root / INFO_PATH)
        features, fps = info["features"], int(info["fps"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ResumeRefused(f"--resume: {root} is not a dataset to append to ({type(exc).__name__}: {exc})") from None
    rgb = [key for key, f in features.items() if f.get("dtype") == "video" and len(f.get("shape", ())) == 3]
    rgb = [key for key in rgb if features[key]["shape"][2] == 3]
    depth = any(is_depth_map(f) for f in features.values())
    height, width = (features[rgb[0]]["shape"][:2]) if rgb else (0, 0)
    settled = replace(config, cameras=len(rgb), height=height, width=width, fps=fps, depth=depth)
    given = {"--cameras": (config.cameras, len(rgb)), "--fps": (config.fps, fps)}
    given["--resolution"] = (config.width and (config.width, config.height), (width, height))
    given["--depth"] = (config.depth and "on", "on" if depth else "off")
    for flag, (asked, found) in given.items():
        if asked and asked != found:
            raise ResumeRefused(f"--resume: {root} was recorded with {flag} {_shown(found)}, not {_shown(asked)}")
    expected = dataset_features(len(rgb), height, width, joints, depth)
    if not rgb or any(_kind(features.get(key)) != _kind(feature) for key, feature in expected.items()):
        raise ResumeRefused(
            f"--resume: {root} was not recorded by `lerobot-stream record` (its features are {sorted(features)}); "
            "append to it from your own recorder with LeRobotDataset.resume()"
        )
    return settled


def _shown(value: object) -> str:
    return f"{value[0]}x{value[1]}" if isinstance(value, tuple) else str(value)


def _kind(feature: dict | None) -> tuple | None:
    """What must match for ``record`` to add frames to a feature: its dtype and shape."""
    return None if not isinstance(feature, dict) else (feature.get("dtype"), tuple(feature.get("shape") or ()))
