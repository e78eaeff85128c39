"""The recorder process dies: its encoder processes must go, and so must its shared memory."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import psutil
import pytest

from shm import SEGMENT_PREFIX, SHM_DIR, sweep_stale_segments

REPO_ROOT = Path(__file__).resolve().parent.parent

RECORDER = textwrap.dedent("""
    import sys, time
    import numpy as np
    from lerobot_stream.datasets.video_utils import StreamingVideoEncoder
    keys = ["cam_a", "cam_b"]
    encoder = StreamingVideoEncoder(fps=30, preset=13)
    encoder.start_episode(keys, sys.argv[1], frame_shapes=dict.fromkeys(keys, (64, 96, 3)))
    for i in range(10):
        for key in keys:
            encoder.feed_frame(key, np.full((64, 96, 3), i, np.uint8))
    print(" ".join(str(p) for p in encoder.worker_pids().values()), flush=True)
    time.sleep(120)
""")


def _segments_of(pid: int) -> list[Path]:
    return list(SHM_DIR.glob(f"{SEGMENT_PREFIX}{pid}_*"))


@pytest.mark.skipif(not SHM_DIR.is_dir(), reason="needs /dev/shm (Linux)")
@pytest.mark.parametrize("whole_group", [False, True], ids=["recorder-only", "process-group"])
def test_workers_exit_and_segments_go_when_the_recorder_is_killed(tmp_path, whole_group):
    recorder = subprocess.Popen(
        [sys.executable, "-c", RECORDER, str(tmp_path)],
        stdout=subprocess.PIPE,
        text=True,
        env=dict(os.environ, PYTHONPATH=str(REPO_ROOT)),
        start_new_session=True,
    )
    try:
        pids = [int(p) for p in recorder.stdout.readline().split()]
        assert len(pids) == 2 and all(psutil.pid_exists(p) for p in pids)
        assert len(_segments_of(recorder.pid)) == 2
        if whole_group:  # the recorder and its resource-tracker helper die together
            os.killpg(recorder.pid, signal.SIGKILL)
        else:
            recorder.kill()
        recorder.wait(10)
        deadline = time.monotonic() + 3
        while any(psutil.pid_exists(p) for p in pids) and time.monotonic() < deadline:
            time.sleep(0.05)
        alive = [p for p in pids if psutil.pid_exists(p)]
        assert not alive, f"encoder processes outlived the recorder: {alive}"
        # Either the resource tracker already removed the segments, or the next start's sweep does.
        sweep_stale_segments()
        assert not _segments_of(recorder.pid)
    finally:
        if recorder.poll() is None:
            os.killpg(recorder.pid, signal.SIGKILL)
        recorder.stdout.close()


_HOLDER = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from workers.encoding_lock import hold_encoding_lock
    folder = Path(sys.argv[1])
    hold_encoding_lock(folder)
    print("held", flush=True)
    end = time.monotonic() + float(sys.argv[2])
    while time.monotonic() < end:
        if sys.argv[3] == "busy":
            sum(range(10000))  # a codec filling its look-ahead: CPU, no output
        else:
            time.sleep(0.05)  # stuck
""")


@pytest.mark.parametrize("holder", ["busy", "stuck"])
def test_salvage_waits_for_an_encoder_that_works_without_writing_and_gives_up_on_a_stuck_one(tmp_path, holder):
    """A dead recorder's encoder process still holds its episode folder: salvage waits while the process uses CPU,
    even if its MP4 does not grow (a look-ahead filling, on a slow board for tens of seconds), and gives up on
    one that makes no progress at all."""
    from workers.encoding_lock import wait_for_encoders

    folder = tmp_path / "staging" / "episode-000000" / "cam"
    folder.mkdir(parents=True)
    (folder / "cam_streaming.mp4").write_bytes(b"")
    process = subprocess.Popen(
        [sys.executable, "-c", _HOLDER, str(folder), "2.5", holder],
        stdout=subprocess.PIPE,
        text=True,
        env=dict(os.environ, PYTHONPATH=str(REPO_ROOT)),
    )
    try:
        assert process.stdout.readline().strip() == "held"
        start = time.monotonic()
        still_held = wait_for_encoders(tmp_path / "staging", stall_s=1.0)
        waited = time.monotonic() - start
    finally:
        process.kill()
        process.wait()
        process.stdout.close()
    if holder == "busy":
        assert still_held == [] and waited >= 2.0, (still_held, waited)  # waited until it let go
    else:
        assert still_held == [str(folder)] and waited < 2.4, (still_held, waited)


_LATE_ENCODER = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    print("started", flush=True)
    time.sleep(1.5)  # still importing PyAV on a busy machine when the recorder died
    from workers.encoding_lock import hold_encoding_lock
    folder = Path(sys.argv[1])
    hold_encoding_lock(folder)
    (folder / "cam_streaming.mp4").write_bytes(b"the whole episode")
""")


def test_salvage_waits_for_an_encoder_that_had_not_yet_started_its_episode(tmp_path):
    """The recorder names the process in the episode folder before telling it to start: a salvage run in the
    gap before the process takes the folder's lock (found in CI: a process still importing PyAV) waits for it
    instead of reading, and removing, a folder that process was about to write its whole episode into."""
    from workers.encoding_lock import claim_episode_folder, wait_for_encoders

    folder = tmp_path / "staging" / "episode-000000" / "cam"
    folder.mkdir(parents=True)
    process = subprocess.Popen(
        [sys.executable, "-c", _LATE_ENCODER, str(folder)],
        stdout=subprocess.PIPE,
        text=True,
        env=dict(os.environ, PYTHONPATH=str(REPO_ROOT)),
    )
    try:
        assert process.stdout.readline().strip() == "started"
        claim_episode_folder(folder, process.pid)
        assert wait_for_encoders(tmp_path / "staging", stall_s=10.0) == []
        assert (folder / "cam_streaming.mp4").read_bytes() == b"the whole episode"
    finally:
        process.kill()
        process.wait()
        process.stdout.close()


def test_salvage_does_not_wait_for_a_process_that_only_reuses_the_pid_named(tmp_path):
    """A lock file naming a PID that a process started later now has (the encoder died long ago, the PID was
    reused) does not hold the folder."""
    from workers.encoding_lock import ENCODING_LOCK, wait_for_encoders

    folder = tmp_path / "staging" / "episode-000000" / "cam"
    folder.mkdir(parents=True)
    lock = folder / ENCODING_LOCK
    lock.write_text(str(os.getpid()))  # this process: never waited for (a thread encoder of it is done)
    start = time.monotonic()
    assert wait_for_encoders(tmp_path / "staging", stall_s=5.0) == []
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        lock.write_text(str(process.pid))
        os.utime(lock, (time.time() - 60, time.time() - 60))  # written before the process existed
        assert wait_for_encoders(tmp_path / "staging", stall_s=5.0) == []
    finally:
        process.kill()
        process.wait()
    assert time.monotonic() - start < 3.0


def test_a_frame_taken_as_the_recorder_dies_is_kept_and_the_episode_finished_for_salvage(tmp_path):
    """The recorder dies between the encoder process seeing a frame ready and giving the frame's ring slot back
    (the process is at idle priority: on a busy machine that gap can be long). Giving the slot back then fails
    - the recorder's end of the pipe is closed - and that means the recorder is gone, not that the episode
    failed: the process keeps the frame and finishes the episode's MP4 for salvage (a failed episode's MP4 is
    deleted: a CI run lost a camera of the episode being recorded that way). The encoder process's own loop, in
    this process, with real pipes and a real ring."""
    from multiprocessing import Pipe

    from helpers import decode_identities, identity_frame

    from shm import RingConsumer, RingProducer, ring_pipes
    from workers.codecs import EncoderSettings
    from workers.encoder_loop import EncoderWorker, _RecorderGone
    from workers.protocol import Configure, StartEpisode

    recorder_ring, process_ring = ring_pipes()
    commands, recorder_commands = Pipe(duplex=False)
    recorder_events, events = Pipe(duplex=False)
    producer = RingProducer(recorder_ring)
    consumer = RingConsumer(process_ring)
    consumer.attach(producer.allocate(4, (48, 64, 3)))
    # "normal": the process's loop demotes every thread of its process when the codec opens - here, pytest's.
    worker = EncoderWorker(Configure(camera="cam", priority="normal"), commands, events, consumer)
    path = tmp_path / "episode-000000" / "tmpcam" / "cam_streaming.mp4"
    path.parent.mkdir(parents=True)
    worker._start_episode(StartEpisode(0, str(path), EncoderSettings(fps=30, vcodec="h264", g=2, crf=18)))
    try:
        for index in range(3):
            slot = producer.try_acquire()
            producer.slot(slot)[:] = identity_frame(index, 48, 64)
            producer.publish(slot, 0, index)
        worker._on_frame()  # frame 0, while the recorder lives
        for end in (recorder_ring.freed, recorder_ring.ready, recorder_commands, recorder_events):
            end.close()  # the recorder is killed: the kernel closes its ends of every pipe
        with pytest.raises(_RecorderGone):
            worker._on_frame()  # frame 1: its slot cannot be given back
        assert worker.episodes[0].error is None, "the episode is not at fault"
        worker._finish_for_salvage()  # what the process does next (frame 2 is still in the ring)
        assert decode_identities(path) == [0, 1, 2]
    finally:
        consumer.close()
        producer.close()
