"""LeRobot v0.6's ``datasets.io_utils`` names for the metadata files whose form is the same in both libraries.

(`lerobot_stream.storage.metadata_files` has the rest; its tasks and episodes helpers use plain dicts and
lists, not pandas or Hugging Face ``datasets`` objects, so they are not offered under LeRobot's names.)
"""

from __future__ import annotations

from lerobot_stream.storage.metadata_files import load_info, load_stats, write_info, write_stats

__all__ = ["load_info", "load_stats", "write_info", "write_stats"]
