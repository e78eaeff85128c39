"""The recording engine behind `LeRobotDataset`: the streaming encoder service (one encoder process per
camera, `streaming_encoder`), the row journal that survives a crash, episodes whose videos are still being
encoded (`pending_episodes`), and the crash-safe order in which an episode is committed (`episode_commit`)."""
