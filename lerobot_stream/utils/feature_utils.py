"""LeRobot v0.6's ``lerobot.utils.feature_utils`` names (v0.5 has them in ``datasets.feature_utils``)."""

from lerobot_stream.storage.features import build_dataset_frame, combine_feature_dicts, hw_to_dataset_features

__all__ = ["build_dataset_frame", "combine_feature_dicts", "hw_to_dataset_features"]
