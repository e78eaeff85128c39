"""The benchmark harness runs end to end and reports every design side by side (tiny sizes: this checks
that the harness works, not how fast anything is)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from benchmarks.record_bench import parse_counts

REPO_ROOT = Path(__file__).resolve().parent.parent


def test_parse_counts():
    assert parse_counts("3") == [3]
    assert parse_counts("1-3,6") == [1, 2, 3, 6]


def test_harness_compares_all_designs_and_writes_json(tmp_path):
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks.record_bench",
            "--cameras",
            "1,2",
            "--seconds",
            "0.5",
            "--resolution",
            "96x64",
            "--limit-seconds",
            "0.5",
            "--out",
            str(tmp_path),
            "--no-plot",
            "--workloads",
            "rgb,rgbd",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env=dict(os.environ, PYTHONPATH=str(REPO_ROOT)),
    )
    assert result.returncode == 0, result.stderr
    assert "Capacity" in result.stdout and "process capacity / encode limit" in result.stdout
    report = json.loads(next(tmp_path.glob("record_bench-*.json")).read_text())
    runs = {(r["design"], r["cameras"]): r for r in report["runs"]}
    labels = ("process", "thread", "png", "process-rgbd", "thread-rgbd", "png-rgbd")
    assert set(runs) == {(d, n) for d in labels for n in (1, 2)}
    for run in runs.values():
        assert run["error"] is None
        streams = 2 if run["design"].endswith("-rgbd") else 1  # an RGB-D camera records RGB and depth
        assert run["frames_fed"] == 15 * run["cameras"] * streams
        assert run["frames_encoded_own"] + run["frames_dropped"] == run["frames_fed"]
        assert run["feed_us"]["p99"] > 0 and run["lateness_ms"]["max"] >= run["lateness_ms"]["p50"]
    assert report["limit"]["limit_cameras"] > 0 and report["limit"]["parallel_limit_cameras"] > 0
    floor = report["limit"]["floor_lateness_ms"]  # a bare paced loop beside idle-priority encoders
    assert 0 <= floor["p50"] <= floor["p99"] <= floor["max"] and "environment floor" in result.stdout
    assert set(report["capacity"]) == set(labels)
    assert "RGB-D capacity process" in result.stdout
    assert report["machine"]["cores"] >= 1
