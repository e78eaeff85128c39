"""lerobot_stream: record many robot cameras to LeRobot v3.0 datasets in real time.

Import paths mirror LeRobot's (``lerobot.datasets.video_utils`` -> ``lerobot_stream.datasets.video_utils``).

The library ships two top-level packages beside this one, ``shm`` (the frame bus) and ``workers`` (the
encoder processes). Common names: a ``shm/`` or ``workers/`` of the user's, in the script's directory or
the working directory, would be imported in their place. That is checked here, once, with an error that
names the path in the way (the encoder processes are started isolated and cannot be shadowed).
"""

from __future__ import annotations

import importlib
from pathlib import Path

__version__ = "0.1.0"


def _check_own_packages() -> None:
    home = Path(__file__).resolve().parent.parent
    for name in ("shm", "workers"):
        module = importlib.import_module(name)
        where = Path(getattr(module, "__file__", None) or "<namespace package>").resolve()
        if where.parent.parent != home:
            raise ImportError(
                f"lerobot_stream needs its own '{name}' package ({home / name}), but '{name}' was imported from "
                f"{where}: a package of that name in your script's directory, the working directory or "
                f"PYTHONPATH shadows it. Rename that package or start Python from another directory."
            )


_check_own_packages()

# After the check: the errors module imports shm and workers.
from lerobot_stream.errors import LeRobotStreamError  # noqa: E402

__all__ = ["LeRobotStreamError", "__version__"]
