"""The encode core: one camera's episode into one MP4, with frame alignment and running statistics.

Both hosts run this same code: the encoder subprocess (`workers.process_main`) and the in-process
`workers.thread_host.CameraEncoderThread`.

Alignment: every frame carries its index in the episode. A frame that never arrived (the recorder
dropped it because the ring was full) is filled by repeating the previous frame, so the MP4 holds exactly
one frame per recorded timestep; ``pts`` is the frame index in a ``1/fps`` time base.

Crash safety: with ``fragmented=True`` the MP4 is written as fragments (one per keyframe) and flushed
packet by packet, so if the process dies the file still plays up to the last fragment on disk.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np
from av.video.reformatter import VideoReformatter

from workers.codecs import EncoderSettings, quiet_codec_log
from workers.depth import code_frame, quantize_depth
from workers.errors import EncodeError
from workers.health import HealthMonitor
from workers.media_paths import ffmpeg_path
from workers.scheduling import calling_thread_policy_kept
from workers.stats import DepthStatsAccumulator, ImageStatsAccumulator

logger = logging.getLogger(__name__)

FRAGMENTED_MOVFLAGS = "frag_keyframe+empty_moov+default_base_moof"

_reformat_takes_threads: bool | None = None
#: The most frames a codec may hold back for reordering (B-frames); x264/x265 stay far below.
_MAX_REORDER = 32


def reformat_thread_kwargs(threads: int) -> dict[str, int]:
    """``reformat()`` keyword arguments that run swscale on ``threads`` threads, on every PyAV we support.

    PyAV >= 17 takes ``threads`` and otherwise converts on every core (which oversubscribes the CPU with
    one encoder process per camera); PyAV 15/16 have no such argument and always convert on one thread.
    Feature-detected once per process; the converted pixels are the same either way.
    """
    global _reformat_takes_threads
    if _reformat_takes_threads is None:
        probe = av.VideoFrame(16, 16, "rgb24")
        try:
            probe.reformat(format="yuv420p", threads=1)
            _reformat_takes_threads = True
        except TypeError:
            _reformat_takes_threads = False
    return {"threads": threads} if _reformat_takes_threads else {}


@dataclass
class EpisodeResult:
    """What one camera's finished episode produced."""

    path: Path
    #: Frames in the MP4, repeated ones included (= the number of timesteps recorded).
    frames: int
    #: Frames that are copies of the previous one because their own pixels never reached the encoder.
    repeated: int
    #: Per-channel statistics (RGB: 0-255 scale; depth: the recorded unit; see `workers.stats`), None if no
    #: frame was encoded.
    stats: dict[str, np.ndarray] | None
    #: What looked wrong with the camera at some time of the episode (`workers.health.FLAGS`).
    health: tuple[str, ...] = ()


class EpisodeEncoder:
    """Encodes the frames of one camera's episode, in index order, into ``path``.

    ``on_codec_open`` runs right after the codec has opened (on the first encoded frame) - the moment the
    codec library has created its worker threads, which the process host must demote.
    """

    def __init__(
        self,
        path: str | Path,
        settings: EncoderSettings,
        *,
        fragmented: bool = False,
        on_codec_open: Callable[[], None] | None = None,
        reformat_threads: int = 1,
    ):
        self.path = Path(path)
        self.settings = settings
        self.fragmented = fragmented
        self.stats = DepthStatsAccumulator() if settings.is_depth else ImageStatsAccumulator()
        #: Is the camera broken (frozen, black, saturated, exposure jump)? See `workers.health`.
        self.health = HealthMonitor(int(settings.fps), depth=settings.is_depth)
        self.frames_written = 0
        self.frames_repeated = 0
        #: Packets the codec has returned: frames that came *out* of it. Codecs with lookahead (SVT-AV1 holds ~40
        #: frames) return the first packets long after the first frames went in, so throughput is measured here.
        self.packets_written = 0
        self._on_codec_open = on_codec_open
        self._reformat_threads = reformat_threads
        #: One converter for the episode: its swscale context is set up once, not per frame (~10 % of a conversion).
        self._reformatter = VideoReformatter()
        self._container: av.container.OutputContainer | None = None
        self._stream: av.VideoStream | None = None
        self._size: tuple[int, int] | None = None
        self._previous: av.VideoFrame | None = None
        self._last_dts: int | None = None
        self._closed = False
        #: The index the next prepared frame must have at least.
        self._next_index = 0

    @property
    def size(self) -> tuple[int, int] | None:
        """(height, width) once the first frame arrived."""
        return self._size

    def _open(self, height: int, width: int) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        container_options = {"movflags": FRAGMENTED_MOVFLAGS, "flush_packets": "1"} if self.fragmented else {}
        options = quiet_codec_log(self.settings.vcodec, self.settings.stream_options(), "error")
        try:
            container = av.open(ffmpeg_path(self.path), "w", format="mp4", options=container_options)
        except Exception as exc:
            raise EncodeError(f"cannot create {self.path}: {exc}") from exc
        try:
            stream = container.add_stream(self.settings.vcodec, rate=int(self.settings.fps), options=options)
            stream.width, stream.height = width, height
            stream.pix_fmt = self.settings.pix_fmt
            stream.time_base = self.settings.time_base
        except Exception as exc:
            container.close()
            raise EncodeError(f"cannot set up encoder {self.settings.vcodec!r}: {exc}") from exc
        self._container, self._stream, self._size = container, stream, (height, width)

    def add(self, index: int, pixels: np.ndarray, release: Callable[[], None] | None = None) -> None:
        """Encode the frame recorded at position ``index`` of the episode (`prepare`, then `encode_prepared`).

        ``pixels`` is uint8 HWC (RGB) or a 2-D uint16/float32 map (depth) and may be a view into shared
        memory: it is counted into the statistics and converted to the codec's pixel format (quantized, for
        depth) first, then ``release`` is called so the slot is free again before the slow part (encoding).
        """
        self.encode_prepared(index, self.prepare(index, pixels, release))

    def prepare(self, index: int, pixels: np.ndarray, release: Callable[[], None] | None = None) -> av.VideoFrame:
        """The fast half of `add`: count the frame into the statistics and health checks, convert it to the
        codec's format and call ``release``; the returned frame no longer refers to ``pixels``. Frames are
        prepared in index order; `encode_prepared` takes them in the same order, possibly much later (the
        encoder process's backlog, `workers.backlog`)."""
        try:
            if self._closed:
                raise EncodeError(f"{self.path.name}: encoder already finished")
            if index < self._next_index:
                raise EncodeError(f"{self.path.name}: frame index {index} arrived after frame {self._next_index - 1}")
            self._next_index = index + 1
            height, width = pixels.shape[:2]
            if self._size is None:
                self._open(height, width)
            elif (height, width) != self._size:
                raise EncodeError(
                    f"{self.path.name}: frame size changed from {self._size[0]}x{self._size[1]} to {height}x{width}"
                )
            self.stats.update(pixels)
            self.health.update(pixels)
            return self._convert(pixels)
        finally:
            if release is not None:
                release()

    def encode_prepared(self, index: int, frame: av.VideoFrame) -> None:
        """Encode a frame from `prepare` (or one already in the codec's pixel format, e.g. read back from a
        spill file by recovery), first repeating the previous frame for any index that never came."""
        if self._closed:
            raise EncodeError(f"{self.path.name}: encoder already finished")
        if self._size is None:
            self._open(frame.height, frame.width)
        filler = self._previous if self._previous is not None else frame
        for _ in range(index - self.frames_written):
            self._encode(filler)
            self.frames_repeated += 1
        self._encode(frame)
        self._previous = frame

    def _convert(self, pixels: np.ndarray) -> av.VideoFrame:
        """The codec's pixel format, converted straight from ``pixels`` (no intermediate copy).

        The result never references ``pixels``: the caller may release the memory right after.
        """
        if self.settings.depth is not None:
            return code_frame(quantize_depth(pixels, self.settings.depth), self.settings.pix_fmt)
        if self.settings.pix_fmt == "rgb24" or not pixels.flags.c_contiguous:
            rgb = av.VideoFrame.from_ndarray(np.ascontiguousarray(pixels), format="rgb24")  # a copy
        else:
            rgb = av.VideoFrame.from_numpy_buffer(pixels, format="rgb24")  # wraps the memory
        return self._reformatter.reformat(
            rgb, format=self.settings.pix_fmt, **reformat_thread_kwargs(self._reformat_threads)
        )

    def _encode(self, frame: av.VideoFrame) -> None:
        assert self._stream is not None and self._container is not None
        frame.pts = self.frames_written
        frame.time_base = self.settings.time_base
        first = self.frames_written == 0
        try:
            if first:  # the codec opens now
                with calling_thread_policy_kept():
                    self._mux(self._stream.encode(frame))
            else:
                self._mux(self._stream.encode(frame))
        except Exception as exc:
            raise EncodeError(f"{self.settings.vcodec} failed on frame {self.frames_written}: {exc}") from exc
        self.frames_written += 1
        if first and self._on_codec_open is not None:
            self._on_codec_open()

    def _mux(self, packets: list[av.Packet]) -> None:
        """Write packets, repairing decode timestamps that the codec got wrong.

        FFmpeg's x265 wrapper returns garbage decode timestamps (e.g. -6e13) for streams shorter than its
        reordering delay - one- and two-frame depth episodes - which the MP4 muxer rejects ("pts/dts pair
        unsupported"). A decode timestamp is kept when it lies within ``_MAX_REORDER`` frames before the
        presentation timestamp and after the previous one; otherwise it becomes the earliest valid value.
        """
        for packet in packets:
            pts, dts = packet.pts, packet.dts
            previous = self._last_dts
            plausible = dts is not None and pts - _MAX_REORDER <= dts <= pts and (previous is None or dts > previous)
            if pts is not None and not plausible:
                packet.dts = pts if previous is None else min(pts, previous + 1)
            if packet.dts is not None:
                self._last_dts = packet.dts
            self._container.mux(packet)
            self.packets_written += 1

    def finish(self, total_frames: int | None = None) -> EpisodeResult:
        """Pad with repeats up to ``total_frames``, flush the codec and close the file."""
        if self._closed:
            raise EncodeError(f"{self.path.name}: encoder already finished")
        if total_frames is not None and self._previous is not None:
            while self.frames_written < total_frames:
                self._encode(self._previous)
                self.frames_repeated += 1
        self._previous = None
        self._closed = True
        if self._container is not None:
            try:
                self._mux(self._stream.encode(None))
                self._container.close()
            except Exception as exc:
                self._close_quietly()
                raise EncodeError(f"{self.settings.vcodec} failed to finish {self.path.name}: {exc}") from exc
            self._container = self._stream = None
        return EpisodeResult(
            self.path, self.frames_written, self.frames_repeated, self.stats.statistics(), self.health.episode_flags()
        )

    def _close_quietly(self) -> None:
        if self._container is not None:
            with contextlib.suppress(Exception):
                self._container.close()
        self._container = self._stream = None
        self._previous = None
        self._closed = True

    def abort(self, delete: bool = True) -> None:
        """Stop without flushing; delete the partial file unless ``delete`` is False. Idempotent."""
        self._close_quietly()
        if delete:
            with contextlib.suppress(FileNotFoundError):
                self.path.unlink()
