"""LeRobot's ``lerobot.datasets.compute_stats``: per-episode statistics and their aggregation:
implemented in `lerobot_stream.storage.stats`.

This module *is* that one (an alias in ``sys.modules``, not a copy of its names), so that what a caller patches
here - as LeRobot's tests patch module globals - is what the engine uses.
"""

import sys

from lerobot_stream.storage import stats as _implementation

sys.modules[__name__] = _implementation
