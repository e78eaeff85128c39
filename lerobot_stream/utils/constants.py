"""Feature-key constants with LeRobot's names and values."""

# The columns every frame of a dataset has: LeRobot v0.6 keeps them here, v0.5 in ``datasets.utils``.
from lerobot_stream.storage.layout import DEFAULT_FEATURES

__all__ = [
    "ACTION",
    "DEFAULT_FEATURES",
    "DONE",
    "OBS_ENV_STATE",
    "OBS_IMAGE",
    "OBS_IMAGES",
    "OBS_LANGUAGE",
    "OBS_PREFIX",
    "OBS_STATE",
    "OBS_STR",
    "REWARD",
    "TRUNCATED",
]

OBS_STR = "observation"
OBS_PREFIX = OBS_STR + "."
OBS_ENV_STATE = "observation.environment_state"
OBS_STATE = "observation.state"
OBS_IMAGE = "observation.image"
OBS_IMAGES = "observation.images"
OBS_LANGUAGE = "observation.language"
ACTION = "action"
REWARD = "next.reward"
TRUNCATED = "next.truncated"
DONE = "next.done"
