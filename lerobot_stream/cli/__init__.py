"""The ``lerobot-stream`` command line: ``record`` (a real multi-camera recording with a live display),
``info``, ``recover`` and ``bench`` (found through an entry point, `main`)."""

from lerobot_stream.cli.main import main

__all__ = ["main"]
