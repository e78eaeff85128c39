"""``python -m lerobot_stream.cli``."""

import sys

from lerobot_stream.cli.main import main

sys.exit(main())
