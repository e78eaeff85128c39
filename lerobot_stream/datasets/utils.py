"""LeRobot's ``lerobot.datasets.utils``: the dataset's layout (paths, chunked files, JSON, durable writes):
implemented in `lerobot_stream.storage.layout`.

This module *is* that one (an alias in ``sys.modules``, not a copy of its names), so that what a caller patches
here - as LeRobot's tests patch module globals - is what the engine uses.
"""

import sys

from lerobot_stream.storage import layout as _implementation

sys.modules[__name__] = _implementation
