"""The live status of a recording (``lerobot-stream record``): what a person watching it sees."""

from __future__ import annotations

import contextlib
import time
from typing import TextIO

from lerobot_stream.cli.live_display import LiveBlock
from lerobot_stream.datasets.lerobot_dataset import LeRobotDataset
from workers.channel import CameraStatus


class TolerantWriter:
    """``out`` that survives its terminal going away (SIGHUP from a closed ssh session): the recording is
    finished and saved whether or not anyone is still reading the progress."""

    def __init__(self, out: TextIO):
        self._out = out

    def write(self, text: str) -> int:
        with contextlib.suppress(OSError, ValueError):
            return self._out.write(text)
        return len(text)

    def flush(self) -> None:
        with contextlib.suppress(OSError, ValueError):
            self._out.flush()

    def isatty(self) -> bool:
        with contextlib.suppress(OSError, ValueError, AttributeError):
            return self._out.isatty()
        return False


class StatusDisplay:
    """The recording's live status: a header and one line per camera, redrawn in place on a terminal, a compact
    line every ten seconds without one (`lerobot_stream.cli.live_display`). Messages (`say`) and log records go above
    it. Episodes are numbered from 1 here, as a person counts them; the dataset's ``episode_index`` from 0."""

    def __init__(self, out: TextIO, interval_s: float = 0.5, compact_interval_s: float = 10.0):
        self.block = LiveBlock(out, interval_s=compact_interval_s)
        self.interval_s = interval_s
        self._last = -float("inf")
        #: Frames each camera had repeated at the last draw: a camera repeating frames *now* says so.
        self._dropped: dict[str, int] = {}
        #: The largest backlog (MB, all cameras together) any update saw.
        self.peak_backlog_mb = 0.0
        #: When the preparation `progress` reports on started.
        self._preparation_started: float | None = None

    def update(self, dataset: LeRobotDataset, header: str, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last < self.interval_s:
            return
        self._last = now
        statuses = dataset.writer.camera_status()
        self.peak_backlog_mb = max(self.peak_backlog_mb, sum(status.backlog_mb for status in statuses.values()))
        lines = [header]
        for key in video_keys(dataset):
            name = key.rsplit(".", 1)[-1]
            status = statuses.get(key)
            if status is None:
                lines.append(f"  {name}: PNG staging, encoded at save")
                continue
            lines.append(f"  {name:>5}: " + self._camera_line(key, status))
        self.block.draw(lines, f"{header} | {_cameras_in_one_line(statuses)}", force=force)

    def _camera_line(self, key: str, status: CameraStatus) -> str:
        """What matters first (is it in trouble?), then the numbers: a narrow terminal cuts the end."""
        losing = status.frames_dropped > self._dropped.get(key, status.frames_dropped)
        self._dropped[key] = status.frames_dropped
        state = "REPEATING FRAMES" if losing else (", ".join(status.health).upper() or "ok")
        rate = f"{status.encode_fps:4.1f} fps" if status.encode_fps is not None else "   - fps"
        backlog = f"backlog {status.backlog_frames}"
        if status.backlog_frames:
            backlog += f" ({status.backlog_mb:.0f} MB"
            backlog += f", {status.backlog_seconds:.0f} s)" if status.backlog_seconds is not None else ")"
        return (
            f"{state}  {status.frames_encoded} encoded  {rate}  ring {status.buffered}/{status.capacity}  "
            f"{backlog}  repeated {status.frames_dropped}"
        )

    def say(self, text: str) -> None:
        """A line above the status block (it stays on screen)."""
        self.block.write_above(text)

    def progress(self, done: int, total: int, what: str) -> None:
        """A step of a long preparation (``done`` of ``total`` ``what``; 0 at its start), as the status block,
        with the time left at the pace so far (a 4K scene takes seconds per camera, more on a small board)."""
        now = time.monotonic()
        if done == 0:
            self._preparation_started = now
        line = f"  {what}: {done}/{total}"
        if 0 < done < total and self._preparation_started is not None:
            left = (now - self._preparation_started) / done * (total - done)
            line += f" (about {left:.0f} s left)"
        self.block.draw([line], line.strip(), force=done == total)
        if done == total:
            self.release()

    def clear(self) -> None:
        """Take the status off the screen: the summary that follows says how it ended."""
        self.block.clear()

    def release(self) -> None:
        """Leave the last status on screen; what is written next goes below it."""
        self.block.release()


def _cameras_in_one_line(statuses: dict[str, CameraStatus]) -> str:
    """All cameras in a few words, for a log file."""
    if not statuses:
        return "PNG staging"
    rates = [s.encode_fps for s in statuses.values() if s.encode_fps is not None]
    speed = f"{min(rates):.1f}-{max(rates):.1f} fps" if rates else "encode rate not measured yet"
    backlog = sum(s.backlog_frames for s in statuses.values())
    megabytes = sum(s.backlog_mb for s in statuses.values())
    repeated = sum(s.frames_dropped for s in statuses.values())
    unhealthy = sorted({flag for s in statuses.values() for flag in s.health})
    return (
        f"{len(statuses)} video stream(s): {speed}, backlog {backlog} frame(s) ({megabytes:.0f} MB), "
        f"repeated {repeated}" + (f", {', '.join(unhealthy).upper()}" if unhealthy else "")
    )


def video_keys(dataset: LeRobotDataset) -> list[str]:
    """The camera features, from the dataset's feature list: ``dataset.meta`` would wait for the episodes still
    being committed in the background, and the loop must not."""
    return [key for key, feature in dataset.features.items() if feature["dtype"] == "video"]
