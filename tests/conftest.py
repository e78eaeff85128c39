"""Test-wide fixtures. Every test is checked for leaks: no encoder process and no shared-memory segment
of this test process may outlive the test."""

from __future__ import annotations

import gc
import os
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from helpers import encoder_children, own_segments

os.environ.setdefault("SVT_LOG", "0")


@pytest.fixture(autouse=True)
def no_leaks():
    yield
    gc.collect()
    deadline = time.monotonic() + 5
    while (encoder_children() or own_segments()) and time.monotonic() < deadline:
        time.sleep(0.05)
        gc.collect()
    children = encoder_children()
    segments = own_segments()
    for child in children:  # do not let one leak cascade into every later test
        child.kill()
    assert not children, f"encoder processes outlived the test: {[c.pid for c in children]}"
    assert not segments, f"shared memory segments outlived the test: {segments}"
