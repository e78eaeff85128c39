"""lerobot_stream: record many robot cameras to LeRobot v3.0 datasets in real time.

Import paths mirror LeRobot's (``lerobot.datasets.video_utils`` -> ``lerobot_stream.datasets.video_utils``).
"""

__version__ = "0.1.0"
