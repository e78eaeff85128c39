"""``meta/info.json`` through `DatasetInfo`: LeRobot v0.5's dict access and v0.6's attributes on one object, keys
of other LeRobot versions kept, and v0.6's ``tools`` declaration persisted."""

from __future__ import annotations

import json

import pytest

from lerobot_stream.datasets.io_utils import load_info
from lerobot_stream.storage.language import DEFAULT_TOOLS
from lerobot_stream.storage.layout import INFO_PATH, DatasetInfo
from lerobot_stream.storage.metadata import LeRobotDatasetMetadata

FEATURES = {"action": {"dtype": "float32", "shape": (2,), "names": ["a", "b"]}}
TOOL = {"type": "function", "function": {"name": "wave", "parameters": {"type": "object", "properties": {}}}}


def _create(root) -> LeRobotDatasetMetadata:
    return LeRobotDatasetMetadata.create("t/info", fps=30, features=FEATURES, root=root, use_videos=False)


def test_info_answers_dict_and_attribute_access_alike(tmp_path):
    meta = _create(tmp_path / "ds")
    info = meta.info
    assert info["fps"] == info.fps == 30 and info.get("robot_type") is None
    info["robot_type"] = "so100"
    assert info.robot_type == "so100" and "robot_type" in info and "tools" not in info
    assert info["features"]["action"]["shape"] == (2,)
    assert dict(info)["total_episodes"] == 0 and info == json.loads((tmp_path / "ds" / INFO_PATH).read_text()) | {
        "robot_type": "so100"
    }
    with pytest.raises(KeyError):
        info["no_such_key"]


def test_keys_of_other_lerobot_versions_survive_a_rewrite(tmp_path):
    root = tmp_path / "ds"
    _create(root)
    raw = json.loads((root / INFO_PATH).read_text())
    raw["total_videos"] = 4  # a v2.x key this version has no field for
    (root / INFO_PATH).write_text(json.dumps(raw))
    meta = LeRobotDatasetMetadata("t/info", root=root)
    assert meta.info["total_videos"] == 4
    meta.update_chunk_settings(chunks_size=10)  # rewrites info.json
    on_disk = json.loads((root / INFO_PATH).read_text())
    assert on_disk["total_videos"] == 4 and on_disk["chunks_size"] == 10
    assert on_disk["features"]["action"]["shape"] == [2]


def test_tools_default_until_declared_then_persist_and_clear(tmp_path):
    root = tmp_path / "ds"
    meta = _create(root)
    assert meta.tools == DEFAULT_TOOLS and "tools" not in json.loads((root / INFO_PATH).read_text())
    meta.tools[0]["function"]["name"] = "changed"  # a copy: nothing changes
    assert meta.tools == DEFAULT_TOOLS
    meta.tools = [TOOL]
    assert load_info(root).tools == [TOOL] and LeRobotDatasetMetadata("t/info", root=root).tools == [TOOL]
    meta.tools = None
    assert "tools" not in json.loads((root / INFO_PATH).read_text()) and meta.tools == DEFAULT_TOOLS


def test_a_bad_info_json_is_a_clear_error():
    with pytest.raises(ValueError, match="fps must be a positive number, got 0"):
        DatasetInfo.from_dict({"codebase_version": "v3.0", "fps": 0, "features": {}})
