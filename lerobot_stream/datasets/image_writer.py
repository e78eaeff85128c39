"""LeRobot's ``lerobot.datasets.image_writer``: the background image writer of the PNG path:
implemented in `lerobot_stream.recorder.image_writer`.

This module *is* that one (an alias in ``sys.modules``, not a copy of its names), so that what a caller patches
here - as LeRobot's tests patch module globals - is what the engine uses.
"""

import sys

from lerobot_stream.recorder import image_writer as _implementation

sys.modules[__name__] = _implementation
