"""Frames for demo recordings and benchmarks: the built-in scene, the synthetic pattern and the user's own
footage (`cameras.make_cameras`). Not LeRobot's ``cameras`` package: these feed recordings, they drive no
hardware."""
