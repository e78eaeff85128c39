"""The encoder process's backlog (`workers.backlog`): frames it has taken from its ring but not encoded yet, in
memory and then on disk, so a camera past the machine's real-time capacity loses nothing while the budgets hold."""

from __future__ import annotations

import time
from pathlib import Path

import av
import numpy as np
import pytest
from helpers import decode_identities, identity_frame

from lerobot_stream.datasets.video_utils import StreamingVideoEncoder
from lerobot_stream.recorder.video_prefix import append_spilled_frames
from workers.backlog import BacklogBudget, FrameBacklog, SpillFile, frame_bytes, spill_path_for
from workers.codecs import EncoderSettings
from workers.encode import EpisodeEncoder


def _frame(value: int, fmt: str = "yuv420p") -> av.VideoFrame:
    frame = av.VideoFrame(64, 48, fmt)
    for plane in frame.planes:
        plane.update(bytes([value % 256]) * plane.buffer_size)
    return frame


def _value(frame: av.VideoFrame) -> int:
    return bytes(frame.planes[0])[0]


@pytest.mark.parametrize("fmt", ["yuv420p", "gray12le"])
def test_a_backlog_spills_past_its_memory_budget_and_gives_frames_back_in_order(tmp_path, fmt):
    size = frame_bytes(_frame(0, fmt))
    backlog = FrameBacklog(BacklogBudget(memory_bytes=3 * size, disk_reserve_bytes=0), tmp_path / "cam.backlog")
    order = []
    for index in range(10):
        assert backlog.has_room(size)
        backlog.push(index, _frame(index, fmt))
    assert backlog.memory_bytes == 3 * size and backlog.spilled == 7 and backlog.disk_bytes > 7 * size
    for _ in range(5):  # half of it back, then more frames: they queue behind the spilled ones
        index, frame = backlog.pop()
        order.append((index, _value(frame)))
    for index in range(10, 14):
        backlog.push(index, _frame(index, fmt))
    while backlog:
        index, frame = backlog.pop()
        order.append((index, _value(frame)))
    assert order == [(i, i) for i in range(14)]
    spill = SpillFile.open(tmp_path / "cam.backlog")
    assert (tmp_path / "cam.backlog").stat().st_size == spill.data_start  # read back whole: only its header left
    backlog.discard()
    assert not (tmp_path / "cam.backlog").exists()


def test_a_spill_file_left_by_a_dead_process_describes_itself_and_its_frames_read_back(tmp_path):
    """What recovery reads when an encoder process was killed with frames on disk: the layout and encoder
    settings from the header, then every complete record - also those already read back but maybe still in the
    codec (the file is only emptied once all of it was read) - and nothing of a torn last record."""
    settings = EncoderSettings(fps=30, vcodec="h264", crf=23, extra_options={"tune": "zerolatency"})
    size = frame_bytes(_frame(0))
    path = tmp_path / "cam.backlog"
    backlog = FrameBacklog(BacklogBudget(memory_bytes=size, disk_reserve_bytes=0), path, settings=settings)
    for index in (0, 1, 2, 4, 5):  # 3 was dropped on the way in
        backlog.push(index, _frame(index))
    assert [backlog.pop()[0] for _ in range(3)] == [0, 1, 2]  # 0 came from memory, 1 and 2 from disk
    with open(path, "ab") as file:  # killed while writing a record
        file.write(b"\x07" * (size // 2))
    spill = SpillFile.open(path)
    assert spill.settings == settings and (spill.layout.width, spill.layout.height) == (64, 48)
    assert [(i, _value(f)) for i, f in spill.frames()] == [(1, 1), (2, 2), (4, 4), (5, 5)]
    assert [i for i, _ in spill.frames(after=2)] == [4, 5]
    header = path.read_bytes()[: spill.data_start]
    path.write_bytes(header.replace(b'"width": 64', b'"width": -9'))  # damaged: no absurd frames made
    with pytest.raises(ValueError, match="is damaged: frame size"):
        SpillFile.open(path)
    path.write_bytes(b"not a spill file")
    with pytest.raises(ValueError, match="is not a backlog spill file"):
        SpillFile.open(path)


@pytest.mark.parametrize("encoded", [10, 0], ids=["after-encoded-frames", "nothing-encoded"])
def test_recovery_encodes_a_dead_processs_spilled_frames_and_repeats_those_it_held_in_memory(tmp_path, encoded):
    """The encoder process wrote ``encoded`` frames to its fragmented MP4, held frame 10 in memory, spilled
    11..19 and had read 11..13 back into its codec, then was killed: the recovered video has all 20 timesteps -
    11..13 too, still in the spill file - and 10 repeats frame 9 (with nothing encoded, 0..10 repeat the first
    frame that survived); the gap is reported, for the episode's repeated-frame count."""
    settings = EncoderSettings(fps=30, vcodec="h264", g=2, crf=18)
    video = tmp_path / "cam_streaming.mp4"
    encoder = EpisodeEncoder(video, settings, fragmented=True)
    for index in range(encoded):
        encoder.add(index, identity_frame(index, 64, 96))
    encoder.finish()  # a killed process's fragments up to frame 9 are the same, without the index at the end

    def converted(index: int) -> av.VideoFrame:
        return av.VideoFrame.from_ndarray(identity_frame(index, 64, 96), format="rgb24").reformat(format="yuv420p")

    backlog = FrameBacklog(BacklogBudget(memory_bytes=0, disk_reserve_bytes=0), spill_path_for(video), None, settings)
    for index in range(10, 20):
        backlog.push(index, converted(index))  # 10 in memory (always one), the rest on disk
    for _ in range(4):
        backlog.pop()  # 10..13 taken by the encoding thread: 10 dies with the process, 11.. stay in the file
    del backlog  # killed: nothing is cleaned up

    missing = append_spilled_frames(video, 30)
    assert missing == list(range(encoded, 11))
    expected = list(range(encoded)) + [encoded - 1 if encoded else 11] * (11 - encoded) + list(range(11, 20))
    assert decode_identities(video) == expected
    assert not list(tmp_path.glob("*.spilled.mp4"))  # the temporary tail is gone
    assert append_spilled_frames(video, 30) == [] and decode_identities(video) == expected  # run twice: no change


def test_a_backlog_without_room_says_so(tmp_path):
    size = frame_bytes(_frame(0))
    no_disk = FrameBacklog(BacklogBudget(memory_bytes=2 * size, disk_reserve_bytes=2**62), tmp_path / "a.backlog")
    no_disk.push(0, _frame(0))
    no_disk.push(1, _frame(1))
    assert not no_disk.has_room(size)  # memory full, and the disk may not be used
    empty_budget = FrameBacklog(BacklogBudget(memory_bytes=0, disk_reserve_bytes=2**62), tmp_path / "b.backlog")
    empty_budget.push(0, _frame(0))  # the frame in hand is always held: it is encoded next
    assert len(empty_budget) == 1 and not empty_budget.has_room(size)


H, W, FRAMES = 240, 320, 60


def _record_faster_than_the_encoder(tmp_path: Path, **budget) -> tuple[StreamingVideoEncoder, list[int], list[str]]:
    """60 frames at 100 fps into an encoder that manages far fewer (x264 veryslow, one thread, 320x240, noise), through
    a two-slot ring: without a backlog most frames find the ring full."""
    rng = np.random.default_rng(0)
    frames = [identity_frame(i, H, W) for i in range(FRAMES)]
    for frame in frames:  # noise below the identity band: as costly to encode as sensor noise
        frame[H // 2 :] = rng.integers(0, 256, frame[H // 2 :].shape, dtype=np.uint8)
    spills: list[str] = []
    with StreamingVideoEncoder(
        fps=30, vcodec="h264", preset="veryslow", encoder_threads=1, queue_maxsize=2, **budget
    ) as encoder:
        encoder.warm_up(["cam"], frame_shapes={"cam": (H, W, 3)})
        encoder.start_episode(["cam"], tmp_path, frame_shapes={"cam": (H, W, 3)})
        for frame in frames:
            encoder.feed_frame("cam", frame)
            spills += [p.name for p in tmp_path.glob("*/*.backlog")]
            time.sleep(0.01)
        path, _ = encoder.finish_episode()["cam"]
        left = list(tmp_path.glob("*/*.backlog"))
    assert not left, "the spill file goes with the episode"
    return encoder, decode_identities(path), spills


def test_an_encoder_behind_real_time_loses_nothing_while_its_backlog_holds(tmp_path):
    encoder, shown, spills = _record_faster_than_the_encoder(
        tmp_path / "with", backlog_memory_mb=1, backlog_disk_reserve_mb=0
    )
    assert encoder.dropped_frames["cam"] == 0 and encoder.last_results["cam"].repeated == 0
    assert shown == list(range(FRAMES))  # every frame, exact and in order
    assert spills, "past 1 MB (about 9 frames) the backlog spills to disk"
    baseline, shown, _ = _record_faster_than_the_encoder(
        tmp_path / "without", backlog_memory_mb=0, backlog_disk_reserve_mb=float("inf")
    )
    dropped = baseline.dropped_frames["cam"]
    assert dropped > 0, "with no budget the ring is all there is, and a two-slot ring overflows"
    assert baseline.last_results["cam"].repeated == dropped and len(shown) == FRAMES  # repeat-fill, counted
    assert np.all(np.diff(shown) >= 0)


def test_the_budgets_reach_the_encoder_from_the_dataset_api_and_bad_ones_are_refused(tmp_path):
    from helpers import features

    from lerobot_stream.datasets.lerobot_dataset import LeRobotDataset

    dataset = LeRobotDataset.create(
        "t/budget",
        fps=30,
        features=features(1),
        root=tmp_path / "ds",
        streaming_encoding=True,
        backlog_memory_mb=64,
        backlog_disk_reserve_mb=float("inf"),
    )
    try:
        encoder = dataset.writer._streaming_encoder
        assert (encoder.backlog_memory_mb, encoder.backlog_disk_reserve_mb) == (64, float("inf"))
    finally:
        dataset.finalize()
    for bad in (-1, "lots", True):
        with pytest.raises(ValueError, match="backlog_memory_mb must be a number of MB"):
            StreamingVideoEncoder(fps=30, backlog_memory_mb=bad)


def _noisy_frames(count: int, offset: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(offset)
    frames = [identity_frame(offset + i, H, W) for i in range(count)]
    for frame in frames:
        frame[H // 2 :] = rng.integers(0, 256, frame[H // 2 :].shape, dtype=np.uint8)
    return frames


def test_the_next_episode_starts_while_the_last_one_is_still_encoding_and_both_come_out_whole(tmp_path):
    """`end_episode` does not wait: episode 2 is recorded while episode 1's backlog is encoded, and each video
    holds exactly its own frames, in order."""
    first, second = _noisy_frames(40), _noisy_frames(30, offset=100)
    with StreamingVideoEncoder(
        fps=30, vcodec="h264", preset="veryslow", encoder_threads=1, queue_maxsize=2, backlog_memory_mb=64
    ) as encoder:
        encoder.warm_up(["cam"], frame_shapes={"cam": (H, W, 3)})
        encoder.start_episode(["cam"], tmp_path / "one")
        for frame in first:
            encoder.feed_frame("cam", frame)
            time.sleep(0.005)
        started = time.monotonic()
        ending = encoder.end_episode()
        encoder.start_episode(["cam"], tmp_path / "two")
        assert time.monotonic() - started < 0.5, "ending an episode and starting the next do not wait"
        assert not ending.collected
        behind = 0
        for frame in second:
            encoder.feed_frame("cam", frame)
            behind = max(behind, encoder.status()["cam"].backlog_frames)
            time.sleep(0.02)
        following = encoder.end_episode()
        one, two = ending.results()["cam"], following.results()["cam"]
        assert (one.frames, one.repeated, two.frames, two.repeated) == (40, 0, 30, 0)
        assert decode_identities(one.path) == list(range(40))
        assert decode_identities(two.path) == list(range(100, 130))
        assert encoder.dropped_frames["cam"] == 0
        ending.remove_files()
        following.remove_files()
        assert not one.path.exists() and not two.path.exists()
    assert behind > 0, "episode 1 was still being encoded when episode 2 started"
