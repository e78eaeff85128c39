"""The frame bus on its own: slot handoff between real processes, and the shared-memory lifecycle."""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
import shm_children

from shm import (
    SHM_DIR,
    RingProducer,
    SharedMemorySpaceError,
    SharedSegment,
    check_shm_space,
    list_segments,
    ring_pipes,
    shm_free_bytes,
    sweep_stale_segments,
)

REPO_ROOT = Path(__file__).resolve().parent.parent
linux_only = pytest.mark.skipif(not SHM_DIR.is_dir(), reason="needs /dev/shm (Linux)")


def _segment_exists(name: str) -> bool:
    return (SHM_DIR / name.lstrip("/")).exists()


def test_ring_hands_every_published_item_to_another_process_intact():
    ctx = mp.get_context("spawn")
    producer_pipes, consumer_pipes = ring_pipes()
    producer = RingProducer(producer_pipes, "test ring")
    spec = producer.allocate(4, (32, 48, 3))
    results = ctx.Queue()
    child = ctx.Process(target=shm_children.checksum_consumer, args=(consumer_pipes, spec, 60, results))
    child.start()
    consumer_pipes.ready.close()
    consumer_pipes.freed.close()
    sent = []
    dropped = 0
    seq = 0
    while len(sent) < 60:
        slot = producer.try_acquire()
        if slot is None:  # never blocks: the caller decides (here: retry shortly)
            dropped += 1
            time.sleep(0.001)
            continue
        item = np.random.default_rng(seq).integers(0, 256, (32, 48, 3), dtype=np.uint8)
        producer.slot(slot)[:] = item
        producer.publish(slot, 7, seq)
        sent.append((7, seq, int(item.astype(np.int64).sum())))
        seq += 1
    seen = results.get(timeout=30)
    child.join(10)
    producer.close()
    assert child.exitcode == 0
    assert [s[:3] for s in seen] == sent
    assert not any(writeable for *_, writeable in seen), "consumer views must be read-only"


def test_try_acquire_returns_none_when_every_slot_is_in_flight():
    producer_pipes, consumer_pipes = ring_pipes()
    producer = RingProducer(producer_pipes, "test ring")
    producer.allocate(2, (4, 4, 3))
    first, second = producer.try_acquire(), producer.try_acquire()
    assert {first, second} == {0, 1}
    assert producer.try_acquire() is None
    producer.give_back(first)
    assert producer.try_acquire() == first
    producer.close()
    consumer_pipes.ready.close()
    consumer_pipes.freed.close()


def test_producer_notices_a_consumer_that_went_away():
    producer_pipes, consumer_pipes = ring_pipes()
    producer = RingProducer(producer_pipes, "test ring")
    producer.allocate(1, (4, 4, 3))
    slot = producer.try_acquire()
    producer.publish(slot, 0, 0)
    consumer_pipes.ready.close()
    consumer_pipes.freed.close()
    assert producer.try_acquire() is None
    assert producer.consumer_lost
    producer.close()


def test_reallocating_with_slots_in_flight_is_refused():
    producer_pipes, consumer_pipes = ring_pipes()
    producer = RingProducer(producer_pipes, "test ring")
    producer.allocate(2, (4, 4, 3))
    producer.publish(producer.try_acquire(), 0, 0)
    with pytest.raises(RuntimeError, match="in flight"):
        producer.allocate(2, (8, 8, 3))
    producer.close()
    consumer_pipes.ready.close()
    consumer_pipes.freed.close()


@linux_only
def test_close_and_garbage_collection_unlink_segments():
    closed = SharedSegment.create(4096)
    collected = SharedSegment.create(4096)
    names = closed.name, collected.name
    assert all(_segment_exists(n) for n in names)
    closed.close()
    closed.close()  # idempotent
    del collected
    import gc

    gc.collect()
    assert not any(_segment_exists(n) for n in names)


def _run_python(code: str, **kwargs) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT))
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], env=env, capture_output=True, text=True, timeout=60, **kwargs
    )


@linux_only
def test_interpreter_exit_unlinks_segments_left_open():
    result = _run_python("""
        from shm import SharedSegment
        segment = SharedSegment.create(4096)
        print(segment.name)
        import builtins; builtins.keep = segment  # still referenced at exit
    """)
    assert result.returncode == 0, result.stderr
    assert not _segment_exists(result.stdout.strip())


@linux_only
def test_attaching_process_neither_unlinks_nor_warns():
    owner = SharedSegment.create(4096)
    result = _run_python(f"""
        from shm import SharedSegment
        s = SharedSegment.attach({owner.name!r})
        assert len(s.buffer) == 4096
        s.close()
    """)
    assert result.returncode == 0, result.stderr
    assert "resource_tracker" not in result.stderr and "leaked" not in result.stderr
    assert _segment_exists(owner.name)
    owner.close()


@linux_only
def test_sweep_removes_segments_of_a_killed_owner_but_not_of_live_ones():
    mine = SharedSegment.create(4096)
    # The child and its resource tracker are killed together (as a whole process group dies), so only
    # the sweep can clean up after it.
    child = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from shm import SharedSegment; import time; s = SharedSegment.create(4096); "
            "print(s.name, flush=True); time.sleep(60)",
        ],
        env=dict(os.environ, PYTHONPATH=str(REPO_ROOT)),
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    name = child.stdout.readline().strip()
    assert _segment_exists(name)
    assert name not in sweep_stale_segments(), "a live owner's segment must survive a sweep"
    os.killpg(child.pid, signal.SIGKILL)
    child.wait(10)
    child.stdout.close()
    time.sleep(0.2)
    if _segment_exists(name):
        assert name in sweep_stale_segments()
    assert not _segment_exists(name)
    assert _segment_exists(mine.name)
    mine.close()


@linux_only
def test_space_check_says_how_much_is_needed_and_how_to_fix_it():
    free = shm_free_bytes()
    with pytest.raises(SharedMemorySpaceError) as info:
        check_shm_space(free + 2**30, "3 camera rings")
    message = str(info.value)
    assert "3 camera rings" in message and "MiB" in message and "--shm-size" in message
    with pytest.raises(SharedMemorySpaceError):
        SharedSegment.create(free + 2**30)
    assert not [n for n in list_segments() if n.startswith(f"/lrs_{os.getpid()}_")]


def test_readiness_probe_sees_data_and_end_of_file_without_blocking():
    from multiprocessing import Pipe

    from shm.readiness import ReadinessProbe

    reader, writer = Pipe(duplex=False)
    ready = ReadinessProbe(reader)
    assert not ready()
    writer.send_bytes(b"x")
    assert ready() and reader.recv_bytes() == b"x" and not ready()
    writer.close()
    assert ready()  # end-of-file is readable: the next read says EOFError
    with pytest.raises(EOFError):
        reader.recv_bytes()
    reader.close()
