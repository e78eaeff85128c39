"""The encoder process and its protocol on their own, below the LeRobot facade: one `CameraWorker` handle,
its ring and its pipes, a real process, a real MP4."""

from __future__ import annotations

from helpers import decode_identities, encoder_children, identity_frame, own_segments

from workers.codecs import EncoderSettings
from workers.process_handle import CameraWorker

SLOT = ((64, 96, 3), "uint8")


def test_a_worker_encodes_its_ring_into_an_episode_and_repeats_a_frame_that_never_came(tmp_path):
    worker = CameraWorker("cam", capacity=4)
    try:
        worker.ensure_ring(SLOT, in_loop=True)  # created without pre-faulting: the worker reserves it
        worker.start_episode(1, tmp_path / "cam.mp4", EncoderSettings(10, preset=13, threads=1))
        published = 0
        for index in range(10):
            if index == 5:
                continue  # "dropped" by the recorder: the worker must fill its place
            while not worker.offer(1, index, identity_frame(index), "hwc"):
                worker.poll_events()  # ring full while the worker starts: wait for a slot
            published += 1
        result = worker.collect(worker.finish(frames_fed=10, frames_published=published), timeout=60)
        assert worker.alive
        assert (result.frames, result.repeated) == (10, 1)
        assert decode_identities(result.path) == [0, 1, 2, 3, 4, 4, 6, 7, 8, 9]
        assert result.stats is not None and int(result.stats["count"][0]) == 9  # repeats are not observations

        # The same process takes the next episode; a frame size change reallocates the ring between episodes.
        worker.ensure_ring(((32, 48, 3), "uint8"))
        worker.start_episode(2, tmp_path / "second.mp4", EncoderSettings(10, preset=13, threads=1))
        for index in range(3):
            while not worker.offer(2, index, identity_frame(index, 32, 48), "hwc"):
                worker.poll_events()
        episode = worker.finish(frames_fed=3, frames_published=3)
        assert decode_identities(worker.collect(episode, timeout=60).path) == [0, 1, 2]
    finally:
        worker.close()
    assert not encoder_children() and not own_segments()


def test_a_cancelled_episode_returns_every_slot_and_leaves_no_file(tmp_path):
    worker = CameraWorker("cam", capacity=3)
    try:
        worker.ensure_ring(SLOT)
        worker.start_episode(1, tmp_path / "cancelled.mp4", EncoderSettings(10, preset=13, threads=1))
        offered = sum(worker.offer(1, index, identity_frame(index), "hwc") for index in range(3))
        worker.cancel(frames_published=offered)
        assert worker.ring.fill_level() == 0, "every published slot is back with the recorder"
        assert not (tmp_path / "cancelled.mp4").exists()
    finally:
        worker.close()


def test_the_ring_notices_a_dead_worker(tmp_path):
    """Only the worker holds the consumer's ends of its ring's pipes: its death is an end-of-file there."""
    worker = CameraWorker("cam", capacity=2)
    try:
        worker.ensure_ring(SLOT)
        worker.kill()
        worker.ring.fill_level()  # collects releases; reads end-of-file from a dead consumer
        assert worker.ring.consumer_lost and not worker.alive
    finally:
        worker.close()
