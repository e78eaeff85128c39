"""Benchmark harness: size a rig and compare designs side by side in one run."""
