"""LeRobot's ``lerobot.datasets.dataset_metadata``: the dataset's metadata (`LeRobotDatasetMetadata`):
implemented in `lerobot_stream.storage.metadata`.

This module *is* that one (an alias in ``sys.modules``, not a copy of its names), so that what a caller patches
here - as LeRobot's tests patch module globals - is what the engine uses.
"""

import sys

from lerobot_stream.storage import metadata as _implementation

sys.modules[__name__] = _implementation
