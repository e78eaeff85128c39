"""Defects found by attacking the recorder (issue: hardening): concurrent feeding, forked children,
hostile files in /dev/shm, shadowing packages."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from helpers import decode_identities, identity_frame

from lerobot_stream.datasets.video_utils import StreamingVideoEncoder

REPO_ROOT = Path(__file__).resolve().parent.parent

FPS = 30


def test_several_threads_can_feed_the_same_camera(tmp_path):
    """LeRobot's queue design is thread-safe; ours must be too: 4 threads feed one camera at once (3
    episodes, a tiny ring so the threads also collect freed slots at once); every frame is accounted for
    and the MP4 holds each fed frame once, in the order the frames were numbered."""
    threads, per_thread, h, w = 4, 60, 240, 320  # large enough frames that copies release the GIL
    frames = [identity_frame(i, h, w) for i in range(threads * per_thread)]
    total = threads * per_thread
    with StreamingVideoEncoder(FPS, queue_maxsize=4) as encoder:
        for _ in range(3):
            encoder.start_episode(["cam", "other"], tmp_path, frame_shapes={"cam": (h, w, 3), "other": (h, w, 3)})
            barrier = threading.Barrier(threads)
            errors: list[BaseException] = []

            def feed(worker: int, barrier: threading.Barrier = barrier, errors: list = errors) -> None:
                try:
                    barrier.wait()
                    for i in range(per_thread):
                        encoder.feed_frame("cam", frames[worker * per_thread + i])
                        encoder.feed_frame("other", frames[i])
                except BaseException as exc:  # surfaced below
                    errors.append(exc)

            workers = [threading.Thread(target=feed, args=(w,)) for w in range(threads)]
            for t in workers:
                t.start()
            for t in workers:
                t.join(60)
            assert not errors and not any(t.is_alive() for t in workers)
            results = encoder.finish_episode()
            dropped = encoder.dropped_frames["cam"]
            shown = decode_identities(results["cam"][0])
            assert len(shown) == total and encoder.last_results["cam"].repeated == dropped
            assert len(set(shown)) == total - dropped, "each fed frame appears once (repeats only fill drops)"
            assert results["cam"][1]["count"].tolist() == [total - dropped]


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


@pytest.mark.skipif(not Path("/dev/shm").is_dir(), reason="needs Linux /dev/shm")
def test_sweep_opens_nothing_but_our_own_regular_files(tmp_path):
    """Another local user's FIFO named like a dead recorder's segment used to block every recorder forever
    (the sweep opened it without O_NONBLOCK); a file owned by someone else or a symlink must be left alone."""
    from shm import SEGMENT_PREFIX, sweep_stale_segments

    pid = _dead_pid()
    fifo = Path(f"/dev/shm/{SEGMENT_PREFIX}{pid}_0_000000")
    foreign = Path(f"/dev/shm/{SEGMENT_PREFIX}{pid}_1_000000")
    link = Path(f"/dev/shm/{SEGMENT_PREFIX}{pid}_2_000000")
    target = tmp_path / "precious"
    target.write_text("keep me")
    try:
        os.mkfifo(fifo)
        foreign.write_bytes(b"x")
        if os.geteuid() == 0:
            os.chown(foreign, 65534, 65534)  # nobody
        link.symlink_to(target)
        code = "from shm import sweep_stale_segments; print(sweep_stale_segments())"
        result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=20)
        assert result.returncode == 0, result.stderr
        assert fifo.exists() and link.is_symlink() and target.read_text() == "keep me"
        if os.geteuid() == 0:
            assert foreign.exists(), "a segment of another user is not ours to remove"
        assert str(fifo.name) not in result.stdout
        assert isinstance(sweep_stale_segments(), list)
    finally:
        for path in (fifo, foreign, link):
            path.unlink(missing_ok=True)


RECORD_SCRIPT = """
import numpy as np
from lerobot_stream.datasets.video_utils import StreamingVideoEncoder
with StreamingVideoEncoder(30) as encoder:
    encoder.start_episode(["cam"], {out!r})
    for i in range(5):
        encoder.feed_frame("cam", np.full((48, 64, 3), i * 40, np.uint8))
    path, stats = encoder.finish_episode()["cam"]
print("frames", int(stats["count"][0]))
"""


def _hostile_packages(directory: Path, marker: Path) -> None:
    """``workers/`` and ``shm/`` packages that leave a marker if anything ever imports them."""
    for name in ("workers", "shm"):
        (directory / name).mkdir(parents=True)
        (directory / name / "__init__.py").write_text(f"open({str(marker)!r}, 'a').write('{name} ran\\n')\n")


def test_encoder_processes_cannot_be_shadowed_from_the_working_directory(tmp_path):
    """Recording from a directory that holds someone's workers/ or shm/ (a project's own, or planted in
    /tmp): the encoder processes used to import - and run - them, and every encoder died."""
    shared, scripts, marker = tmp_path / "shared", tmp_path / "scripts", tmp_path / "ran"
    _hostile_packages(shared, marker)
    scripts.mkdir()
    script = scripts / "record.py"
    script.write_text(RECORD_SCRIPT.format(out=str(tmp_path / "out")))
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    result = subprocess.run(
        [sys.executable, str(script)], cwd=shared, capture_output=True, text=True, timeout=120, env=env
    )
    assert result.returncode == 0, result.stderr
    assert "frames 5" in result.stdout
    assert not marker.exists(), marker.read_text()


def test_encoder_processes_import_numpy_and_av_from_where_the_recorder_found_them(tmp_path):
    """A ROS 2 workspace, ``pip install --target`` or ``--user``: the dependencies are found through PYTHONPATH
    or the user site, which an isolated encoder process does not read - every encoder died of
    ModuleNotFoundError. Here: a bare virtual environment (no numpy, no av) whose PYTHONPATH holds them, with a
    hostile workers/ and shm/ in the working directory as well."""
    import site
    import sysconfig

    bare = tmp_path / "bare"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(bare)], check=True, timeout=120)
    python = bare / "bin" / "python"
    probe = subprocess.run([python, "-c", "import numpy"], capture_output=True, env={"PATH": os.environ["PATH"]})
    assert probe.returncode != 0, "the bare environment must not have numpy itself"
    shared, marker = tmp_path / "shared", tmp_path / "ran"
    _hostile_packages(shared, marker)
    script = tmp_path / "record.py"
    script.write_text(RECORD_SCRIPT.format(out=str(tmp_path / "out")))
    dependencies = [sysconfig.get_paths()["purelib"], *site.getsitepackages(), str(REPO_ROOT)]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(dependencies))
    result = subprocess.run([python, str(script)], cwd=shared, capture_output=True, text=True, timeout=120, env=env)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "frames 5" in result.stdout
    assert not marker.exists(), marker.read_text()


def test_a_shadowing_package_in_the_script_directory_is_a_clear_error(tmp_path):
    marker = tmp_path / "ran"
    _hostile_packages(tmp_path, marker)
    script = tmp_path / "record.py"
    script.write_text(RECORD_SCRIPT.format(out=str(tmp_path / "out")))
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    result = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120, env=env)
    assert result.returncode != 0
    assert "lerobot_stream needs its own 'shm' package" in result.stderr
    assert str(tmp_path / "shm") in result.stderr


def test_a_forked_child_neither_uses_nor_tears_down_the_parents_encoder(tmp_path):
    """A child forked mid-episode that exits normally used to run the atexit hook and the segment
    finalizers: the parent's encoder was shut down and its ring unlinked. One that fed a frame corrupted
    the parent's episode."""
    import atexit
    import gc

    from shm import ForeignProcessError

    h, w = 48, 64
    encoder = StreamingVideoEncoder(FPS)
    try:
        encoder.start_episode(["cam"], tmp_path, frame_shapes={"cam": (h, w, 3)})
        for i in range(5):
            encoder.feed_frame("cam", identity_frame(i, h, w))
        pid = os.fork()
        if pid == 0:  # the child: try to use the encoder, then exit the way a normal program does
            code = 0
            try:
                encoder.feed_frame("cam", identity_frame(99, h, w))
                code = 3
            except ForeignProcessError as exc:
                code = 0 if f"belongs to process {os.getppid()}" in str(exc) else 4
            except BaseException:
                code = 5
            encoder.close()
            gc.collect()
            atexit._run_exitfuncs()
            os._exit(code)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0, "the child gets a clear ForeignProcessError"
        for i in range(5, 10):
            encoder.feed_frame("cam", identity_frame(i, h, w))
        path, stats = encoder.finish_episode()["cam"]
        assert decode_identities(path) == list(range(10)) and stats["count"].tolist() == [10]
    finally:
        encoder.close()


def test_a_forked_child_leaves_the_parents_unsaved_episode_alone(tmp_path):
    """The PNG path keeps the episode's frames on disk until save_episode; a child's garbage collection of
    its copy of the dataset must not discard them."""
    import atexit
    import gc

    import numpy as np

    from lerobot_stream.datasets.lerobot_dataset import LeRobotDataset

    features = {"observation.images.cam": {"dtype": "video", "shape": (48, 64, 3), "names": ["h", "w", "c"]}}
    dataset = LeRobotDataset.create("t/fork", fps=FPS, features=features, root=tmp_path / "ds")
    for i in range(4):
        dataset.add_frame({"observation.images.cam": np.full((48, 64, 3), i * 50, np.uint8), "task": "t"})
    dataset.writer.image_writer.wait_until_done()
    pid = os.fork()
    if pid == 0:
        try:
            dataset.finalize()
            del dataset
            gc.collect()
            atexit._run_exitfuncs()
        finally:
            os._exit(0)
    os.waitpid(pid, 0)
    dataset.save_episode()
    dataset.finalize()
    assert dataset.meta.total_frames == 4


LIBRARY_USER = """
import sys, time
import numpy as np
from lerobot_stream.datasets.video_utils import StreamingVideoEncoder
encoder = StreamingVideoEncoder(30)
encoder.start_episode(["cam"], sys.argv[1], frame_shapes={"cam": (48, 64, 3)})
encoder.feed_frame("cam", np.zeros((48, 64, 3), np.uint8))
print("recording", flush=True)
time.sleep(60)
"""


@pytest.mark.skipif(not Path("/dev/shm").is_dir(), reason="needs Linux /dev/shm")
def test_shared_memory_does_not_outlive_a_recorder_killed_by_sighup(tmp_path):
    """A closed ssh session sends SIGHUP to the whole process group; a recorder that does not handle it
    dies, and the resource tracker (same group) used to die with it, leaving the rings in /dev/shm."""
    import signal
    import time

    from shm import SEGMENT_PREFIX

    script = tmp_path / "user.py"
    script.write_text(LIBRARY_USER)
    recorder = subprocess.Popen(
        [sys.executable, str(script), str(tmp_path / "out")],
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        assert recorder.stdout.readline().strip() == "recording"
        segments = list(Path("/dev/shm").glob(f"{SEGMENT_PREFIX}{recorder.pid}_*"))
        assert segments, "the recorder's ring is in /dev/shm"
        os.killpg(recorder.pid, signal.SIGHUP)
        recorder.wait(timeout=30)
        deadline = time.monotonic() + 15
        while any(p.exists() for p in segments) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not any(p.exists() for p in segments), "the resource tracker unlinks a dead recorder's rings"
    finally:
        if recorder.poll() is None:
            os.killpg(recorder.pid, signal.SIGKILL)
