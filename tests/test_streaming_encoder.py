"""StreamingVideoEncoder against real encoder processes (and the thread backend): real MP4s, decoded."""

from __future__ import annotations

import gc
import logging
import os
import queue
import re
import signal
import threading
import time
from pathlib import Path

import numpy as np
import psutil
import pytest
from helpers import (
    count_frames,
    decode_identities,
    encoder_children,
    identity_frame,
    numpy_stats,
    own_segments,
    video_duration,
)

from lerobot_stream.datasets.video_utils import EncodingFailed, StreamingVideoEncoder, _CameraEncoderThread
from lerobot_stream.utils.constants import OBS_IMAGES
from workers.errors import WorkerDied

BACKENDS = ["process", "thread"]
CAM = f"{OBS_IMAGES}.laptop"
CAMS = [f"{OBS_IMAGES}.left", f"{OBS_IMAGES}.right"]


def record(encoder: StreamingVideoEncoder, keys: list[str], n: int, tmp_path, start: bool = True):
    if start:
        encoder.start_episode(keys, tmp_path)
    for i in range(n):
        for c, key in enumerate(keys):
            encoder.feed_frame(key, identity_frame(i, camera=c))
    return encoder.finish_episode()


@pytest.fixture(params=BACKENDS)
def encoder(request):
    enc = StreamingVideoEncoder(fps=30, preset=13, backend=request.param)
    yield enc
    enc.close()


def test_single_camera_exact_frames_duration_and_content(encoder, tmp_path):
    results = record(encoder, [CAM], 20, tmp_path)
    path, stats = results[CAM]
    assert path.exists() and path.parent.parent == tmp_path
    assert decode_identities(path) == list(range(20))
    assert video_duration(path) == pytest.approx(20 / 30, abs=1e-6)
    assert stats is not None and stats["count"].tolist() == [20]
    assert encoder.last_results[CAM].repeated == 0


def test_multi_camera_episode(encoder, tmp_path):
    results = record(encoder, CAMS, 15, tmp_path)
    assert set(results) == set(CAMS)
    for _key, (path, stats) in results.items():
        assert count_frames(path) == 15
        assert stats["count"].tolist() == [15]
    assert results[CAMS[0]][0] != results[CAMS[1]][0]


def test_streamed_stats_equal_numpy_over_the_same_frames(encoder, tmp_path):
    frames = [identity_frame(i, 480, 640) for i in range(12)]
    encoder.start_episode([CAM], tmp_path)
    for frame in frames:
        encoder.feed_frame(CAM, frame)
    _, stats = encoder.finish_episode()[CAM]
    for key, value in numpy_stats(frames).items():
        np.testing.assert_allclose(stats[key], value, atol=1e-9, err_msg=key)


def test_sequential_episodes_reuse_the_same_worker_processes(tmp_path):
    with StreamingVideoEncoder(fps=30, preset=13) as encoder:
        pids = []
        for episode, n in enumerate([10, 15, 20]):
            results = record(encoder, CAMS, n, tmp_path)
            assert all(count_frames(p) == n for p, _ in results.values()), episode
            pids.append(encoder.worker_pids())
        assert pids[0] == pids[1] == pids[2]
        started = time.perf_counter()
        encoder.start_episode(CAMS, tmp_path)
        assert time.perf_counter() - started < 0.5  # no spawn, no probing (typically ~1 ms)
        encoder.cancel_episode()


def test_cancel_deletes_partial_files_then_record_again(encoder, tmp_path):
    encoder.start_episode([CAM], tmp_path)
    for i in range(5):
        encoder.feed_frame(CAM, identity_frame(i))
    partial_dir = encoder._video_paths[CAM].parent
    encoder.cancel_episode()
    assert not partial_dir.exists()
    encoder.cancel_episode()  # no-op
    results = record(encoder, [CAM], 7, tmp_path)
    assert decode_identities(results[CAM][0]) == list(range(7))
    assert list(tmp_path.iterdir()) == [results[CAM][0].parent]


def test_start_episode_while_active_cancels_the_previous_one(encoder, tmp_path):
    encoder.start_episode([CAM], tmp_path)
    encoder.feed_frame(CAM, identity_frame(0))
    first_dir = encoder._video_paths[CAM].parent
    results = record(encoder, [CAM], 4, tmp_path)
    assert not first_dir.exists()
    assert count_frames(results[CAM][0]) == 4


def test_calls_out_of_order(tmp_path):
    encoder = StreamingVideoEncoder(fps=30)
    with pytest.raises(RuntimeError, match="No active episode"):
        encoder.feed_frame(CAM, identity_frame(0))
    with pytest.raises(RuntimeError, match="No active episode"):
        encoder.finish_episode()
    encoder.close()
    encoder.close()
    with pytest.raises(RuntimeError, match="closed"):
        encoder.start_episode([CAM], tmp_path)


def test_finish_twice_and_finish_without_frames(tmp_path):
    with StreamingVideoEncoder(fps=30, preset=13) as encoder:
        record(encoder, [CAM], 3, tmp_path)
        with pytest.raises(RuntimeError, match="No active episode"):
            encoder.finish_episode()
        encoder.start_episode(CAMS, tmp_path)
        encoder.feed_frame(CAMS[0], identity_frame(0))
        with pytest.raises(RuntimeError, match=r"No frames were fed.*right"):
            encoder.finish_episode()
        assert [p.name for p in tmp_path.iterdir()] == [p.name for p in tmp_path.iterdir() if any(p.iterdir())]
        record(encoder, [CAM], 2, tmp_path)  # still usable


def test_encoder_threads_is_kept_as_given(tmp_path):
    with StreamingVideoEncoder(fps=30, encoder_threads=2) as encoder:
        assert encoder.encoder_threads == 2
        encoder.start_episode([CAM], tmp_path)
        assert encoder._threads[CAM].encoder_threads == 2
        assert encoder.encoder_settings.threads == 2
        encoder.cancel_episode()
    with StreamingVideoEncoder(fps=30) as encoder:
        assert encoder.encoder_threads is None
        encoder.start_episode(CAMS, tmp_path)
        assert encoder._threads[CAMS[0]].encoder_threads is None
        assert encoder.encoder_settings.threads >= 1  # bounded even though the caller said None
        encoder.cancel_episode()


@pytest.mark.parametrize(
    ("frame", "message"),
    [
        (np.zeros((64, 96, 3), np.int16), r"expected dtype uint8.*received dtype int16"),
        (np.zeros((64, 96), np.uint8), r"expected an RGB frame.*received shape \(64, 96\)"),
        (np.zeros((64, 96, 4), np.uint8), r"expected an RGB frame.*received shape \(64, 96, 4\)"),
        (np.zeros((32, 48, 3), np.uint8), r"expected 64x96.*received 32x48"),
        (np.full((64, 96, 3), 1.5, np.float32), r"values in \[0, 1\].*received values in \[1.5, 1.5\]"),
        (np.full((64, 96, 3), np.nan, np.float32), r"values in \[0, 1\]"),
        ("not a frame", r"expected a numpy array.*received str"),
    ],
)
def test_bad_frames_raise_in_the_caller_and_the_episode_survives(encoder, tmp_path, frame, message):
    encoder.start_episode([CAM], tmp_path)
    encoder.feed_frame(CAM, identity_frame(0))
    with pytest.raises(ValueError, match=message) as info:
        encoder.feed_frame(CAM, frame)
    assert CAM in str(info.value)
    encoder.feed_frame(CAM, identity_frame(1))
    results = encoder.finish_episode()
    assert decode_identities(results[CAM][0]) == [0, 1]


def test_unknown_camera_key_raises_key_error(encoder, tmp_path):
    encoder.start_episode([CAM], tmp_path)
    with pytest.raises(KeyError, match="nope"):
        encoder.feed_frame("nope", identity_frame(0))
    encoder.cancel_episode()


def test_pil_chw_and_float_frames_are_accepted(encoder, tmp_path):
    from PIL import Image

    encoder.start_episode([CAM], tmp_path)
    encoder.feed_frame(CAM, Image.fromarray(identity_frame(0)))
    encoder.feed_frame(CAM, identity_frame(1).transpose(2, 0, 1).copy())
    encoder.feed_frame(CAM, identity_frame(2).astype(np.float32) / 255.0)
    encoder.feed_frame(CAM, identity_frame(3).astype(np.float64).transpose(2, 0, 1) / 255.0)
    results = encoder.finish_episode()
    assert decode_identities(results[CAM][0]) == [0, 1, 2, 3]


def test_frames_dropped_under_overload_are_filled_so_the_video_stays_aligned(tmp_path):
    """Freeze the encoder process, overfill its 2-slot ring, resume it: one frame per feed_frame."""
    with StreamingVideoEncoder(fps=30, preset=13, queue_maxsize=2) as encoder:
        encoder.start_episode([CAM], tmp_path, frame_shapes={CAM: (64, 96, 3)})
        worker = psutil.Process(encoder.worker_pids()[CAM])
        encoder.feed_frame(CAM, identity_frame(0))
        time.sleep(0.3)  # frame 0 encoded: the codec is open
        worker.suspend()
        try:
            for i in range(1, 9):
                encoder.feed_frame(CAM, identity_frame(i))
        finally:
            worker.resume()
        for i in range(9, 12):
            time.sleep(0.1)
            encoder.feed_frame(CAM, identity_frame(i))
        results = encoder.finish_episode()
    dropped = encoder.dropped_frames[CAM]
    assert dropped == 6  # frames 1 and 2 fit in the ring, 3..8 did not
    assert encoder.last_results[CAM].repeated == dropped
    identities = decode_identities(results[CAM][0])
    assert identities == [0, 1, 2, 2, 2, 2, 2, 2, 2, 9, 10, 11]
    assert results[CAM][1]["count"].tolist() == [12 - dropped]


def test_a_camera_losing_frames_is_one_warning_per_episode_naming_it(tmp_path, caplog):
    """Not one line every second per camera: the warning says when it starts, the count goes on in status()."""
    with StreamingVideoEncoder(fps=30, preset=13, queue_maxsize=1) as encoder:
        for episode in range(2):
            encoder.start_episode([CAM], tmp_path / str(episode), frame_shapes={CAM: (64, 96, 3)})
            worker = psutil.Process(encoder.worker_pids()[CAM])
            worker.suspend()
            try:
                with caplog.at_level(logging.WARNING):
                    for i in range(8):
                        encoder.feed_frame(CAM, identity_frame(i))
                        time.sleep(0.2)  # over a second of drops
            finally:
                worker.resume()
            results = encoder.finish_episode()
            assert count_frames(results[CAM][0]) == 8
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 2 and all(CAM in w and "ring of 1 frames is full" in w for w in warnings), warnings


def test_killed_worker_is_reported_by_name_and_replaced(tmp_path):
    with StreamingVideoEncoder(fps=30, preset=13) as encoder:
        encoder.start_episode(CAMS, tmp_path)
        for i in range(3):
            for key in CAMS:
                encoder.feed_frame(key, identity_frame(i))
        victim = encoder.worker_pids()[CAMS[0]]
        os.kill(victim, signal.SIGKILL)
        time.sleep(0.5)
        with pytest.raises(RuntimeError, match=rf"{CAMS[0]}.*pid {victim}.*SIGKILL"):
            encoder.feed_frame(CAMS[0], identity_frame(3))
        encoder.feed_frame(CAMS[1], identity_frame(3))  # the other camera is unaffected
        with pytest.raises(EncodingFailed) as info:
            encoder.finish_episode()
        assert list(info.value.failures) == [CAMS[0]]
        error = info.value.errors[CAMS[0]]  # the cause, raised once, with who and where
        assert isinstance(error, WorkerDied) and (error.camera, error.pid) == (CAMS[0], victim)
        assert "SIGKILL" in error.cause and error.cause in info.value.failures[CAMS[0]]
        survivor_path = info.value.results[CAMS[1]][0]
        assert decode_identities(survivor_path) == [0, 1, 2, 3]
        # The next episode gets a fresh worker for the dead camera and the same one for the other.
        results = record(encoder, CAMS, 4, tmp_path)
        assert all(count_frames(p) == 4 for p, _ in results.values())
        pids = encoder.worker_pids()
        assert pids[CAMS[0]] != victim and psutil.pid_exists(pids[CAMS[0]])


def test_worker_ignores_sigint(tmp_path):
    with StreamingVideoEncoder(fps=30, preset=13) as encoder:
        encoder.warm_up([CAM])  # returns once the worker runs (start_episode does not wait for it)
        encoder.start_episode([CAM], tmp_path)
        encoder.feed_frame(CAM, identity_frame(0))
        os.kill(encoder.worker_pids()[CAM], signal.SIGINT)
        time.sleep(0.3)
        encoder.feed_frame(CAM, identity_frame(1))
        results = encoder.finish_episode()
        assert decode_identities(results[CAM][0]) == [0, 1]


@pytest.mark.skipif(not hasattr(os, "SCHED_IDLE"), reason="Linux scheduling policies")
def test_every_worker_thread_runs_below_the_recorder(tmp_path):
    with StreamingVideoEncoder(fps=30, preset=13) as encoder:
        encoder.start_episode([CAM], tmp_path)
        pid = encoder.worker_pids()[CAM]
        at_start = os.sched_getscheduler(pid)  # before the worker's own code ran: inherited from its spawn
        for i in range(5):
            encoder.feed_frame(CAM, identity_frame(i, 480, 640))
        deadline = time.monotonic() + 20
        while encoder.status()[CAM].frames_encoded < 1 and time.monotonic() < deadline:
            time.sleep(0.05)  # until the codec is open and has created its threads
        capabilities = int(re.search(r"CapEff:\s*([0-9a-f]+)", Path(f"/proc/{pid}/status").read_text())[1], 16)
        # Linux's autogroup schedules each session as one group: in a session of its own the encoder would get as
        # much CPU as the whole recorder, SCHED_IDLE or not. Its own process group keeps a terminal's Ctrl-C off it.
        same_session = os.getsid(pid) == os.getsid(0)
        own_group = os.getpgid(pid) == pid != os.getpgid(0)
        ignored = int(re.search(r"SigIgn:\s*([0-9a-f]+)", Path(f"/proc/{pid}/status").read_text())[1], 16)
        autogroup = Path(f"/proc/{pid}/autogroup")
        same_autogroup = not autogroup.exists() or autogroup.read_text() == Path("/proc/self/autogroup").read_text()
        tids = [int(t) for t in os.listdir(f"/proc/{pid}/task")]
        assert len(tids) > 1
        policies = {os.sched_getscheduler(tid) for tid in tids}
        encoder.finish_episode()
    assert at_start == os.SCHED_IDLE
    assert policies == {os.SCHED_IDLE}
    assert os.sched_getscheduler(0) == os.SCHED_OTHER
    assert not capabilities & (1 << 23), "an encoder process keeps CAP_SYS_NICE (codecs could go real-time)"
    assert same_session and same_autogroup and own_group
    assert ignored & (1 << (signal.SIGINT - 1)) and ignored & (1 << (signal.SIGTTOU - 1)), "Ctrl-C, tostop"


def test_close_after_exception_in_with_block_leaves_nothing(tmp_path):
    with pytest.raises(ZeroDivisionError), StreamingVideoEncoder(fps=30, preset=13) as encoder:
        encoder.start_episode(CAMS, tmp_path, frame_shapes=dict.fromkeys(CAMS, (64, 96, 3)))
        encoder.feed_frame(CAMS[0], identity_frame(0))
        assert len(encoder.worker_pids()) == 2  # waits for the processes, started in the background
        assert len(encoder_children()) == 2 and len(own_segments()) == 2
        1 / 0  # noqa: B018
    assert not encoder_children() and not own_segments()
    assert not any(tmp_path.iterdir()), "the unfinished episode's files must be removed"


def test_del_and_gc_leave_nothing(tmp_path):
    encoder = StreamingVideoEncoder(fps=30, preset=13)
    encoder.start_episode([CAM], tmp_path)
    encoder.feed_frame(CAM, identity_frame(0))
    pid = encoder.worker_pids()[CAM]
    del encoder
    gc.collect()
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    assert not own_segments()


# ---- _CameraEncoderThread (LeRobot's in-process design, same encode core) ----------------------------------


def _thread(tmp_path, **kwargs):
    frames, results, stop = queue.Queue(maxsize=60), queue.Queue(maxsize=1), threading.Event()
    thread = _CameraEncoderThread(
        video_path=tmp_path / "out" / "test.mp4",
        fps=30,
        vcodec="libsvtav1",
        pix_fmt="yuv420p",
        g=2,
        crf=30,
        preset=13,
        frame_queue=frames,
        result_queue=results,
        stop_event=stop,
        **kwargs,
    )
    thread.start()
    return thread, frames, results, stop


def test_camera_encoder_thread_hwc_and_chw(tmp_path):
    thread, frames, results, _ = _thread(tmp_path)
    for i in range(30):
        frame = identity_frame(i)
        frames.put(frame if i % 2 else frame.transpose(2, 0, 1))
    frames.put(None)
    thread.join(60)
    status, stats = results.get(timeout=5)
    assert status == "ok"
    assert {"min", "max", "mean", "std", "count", "q01", "q10", "q50", "q90", "q99"} <= set(stats)
    assert decode_identities(tmp_path / "out" / "test.mp4") == list(range(30))
    assert thread.encoder_threads is None


def test_camera_encoder_thread_stops_promptly_on_stop_event(tmp_path):
    thread, frames, results, stop = _thread(tmp_path)
    for i in range(40):
        frames.put(identity_frame(i))
    started = time.perf_counter()
    stop.set()
    thread.join(10)
    assert not thread.is_alive()
    assert time.perf_counter() - started < 1.0
    assert results.get(timeout=1)[0] == "ok"


def test_camera_encoder_thread_reports_errors(tmp_path):
    thread, frames, results, _ = _thread(tmp_path)
    frames.put(np.zeros((64, 96, 5), np.uint8))
    thread.join(10)
    status, message = results.get(timeout=1)
    assert status == "error" and "(64, 96, 5)" in message
    assert not (tmp_path / "out" / "test.mp4").exists()


def test_finish_results_is_the_typed_form_of_finish_episode(tmp_path):
    with StreamingVideoEncoder(fps=30, preset=13) as encoder:
        encoder.start_episode([CAM], tmp_path)
        for index in range(4):
            encoder.feed_frame(CAM, identity_frame(index))
        results = encoder.finish_results()
        assert encoder.dropped_frames == {CAM: 0}
    result = results[CAM]
    assert (result.frames, result.repeated) == (4, 0) and decode_identities(result.path) == [0, 1, 2, 3]
    assert encoder.last_results == results


def test_the_encoder_removes_its_own_episode_files(tmp_path):
    with StreamingVideoEncoder(fps=30, preset=13) as encoder:
        encoder.start_episode([CAM], tmp_path)
        encoder.feed_frame(CAM, identity_frame(0))
        with pytest.raises(RuntimeError, match="during an episode"):
            encoder.remove_episode_files()
        path = encoder.finish_results()[CAM].path
        assert path.exists()
        encoder.remove_episode_files()
    assert not path.exists() and not any(tmp_path.iterdir())
