"""Hardware encoders, where this machine has one (skipped elsewhere: they are detected, never required)."""

from __future__ import annotations

import pytest
from helpers import decode_identities, identity_frame

from lerobot_stream.datasets.video_utils import StreamingVideoEncoder, detect_available_hw_encoders, resolve_vcodec

AVAILABLE = detect_available_hw_encoders()


@pytest.mark.skipif(not AVAILABLE, reason="no working hardware encoder on this machine")
@pytest.mark.parametrize("backend", ["process", "thread"])
def test_auto_picks_a_working_hardware_encoder_and_records_with_it(tmp_path, backend):
    vcodec = resolve_vcodec("auto")
    assert vcodec == AVAILABLE[0]
    with StreamingVideoEncoder(fps=30, vcodec="auto", backend=backend, encoder_threads=4) as encoder:
        assert encoder.vcodec == vcodec
        assert encoder.encoder_settings.threads is None  # never passed to hardware encoders
        keys = ["cam_a", "cam_b"]
        encoder.start_episode(keys, tmp_path)
        for i in range(40):
            for c, key in enumerate(keys):
                encoder.feed_frame(key, identity_frame(i, 256, 320, camera=c))
        results = encoder.finish_episode()
    for path, stats in results.values():
        assert decode_identities(path) == list(range(40))
        assert stats["count"].tolist() == [40]
