"""Messages between the recorder and one camera's encoder process.

Commands travel recorder -> worker on the command pipe; events worker -> recorder on the event pipe.
Frames do not travel here: they go through the camera's shared-memory ring (`shm.ring`), whose messages
carry the episode number (ring *batch*) and frame index (ring *seq*).

Ordering: the recorder writes a command before publishing any frame that depends on it, and the worker
always reads pending commands before frames. A finish or cancel command carries the number of frames
published in the episode, so the worker knows how many ring messages still belong to the episode.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from shm import RingSpec
from workers.backlog import NO_BACKLOG, BacklogBudget
from workers.codecs import EncoderSettings
from workers.encode import EpisodeResult

# ---- recorder -> worker ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Configure:
    """First message: who the worker is and how it should behave."""

    camera: str
    priority: str = "idle"
    log_level: int = 30


@dataclass(frozen=True)
class AttachRing:
    """Map this ring; ``reserve``: the recorder did not pre-fault it (it may already be recording), so the
    worker allocates its memory first, at its own low priority."""

    spec: RingSpec
    reserve: bool = False


@dataclass(frozen=True)
class StartEpisode:
    episode: int
    path: str
    settings: EncoderSettings
    fragmented: bool = True
    #: What the process may hold back while its encoder is behind (`workers.backlog`); none by default.
    backlog: BacklogBudget = NO_BACKLOG


@dataclass(frozen=True)
class FinishEpisode:
    episode: int
    #: Timesteps recorded for this camera: the MP4 gets exactly this many frames.
    frames_fed: int
    #: Frames that went through the ring (the rest were dropped and are filled by repeats).
    frames_published: int


@dataclass(frozen=True)
class CancelEpisode:
    episode: int
    frames_published: int


@dataclass(frozen=True)
class Shutdown:
    pass


# ---- worker -> recorder ------------------------------------------------------------------------------


@dataclass(frozen=True)
class WorkerReady:
    pid: int


@dataclass(frozen=True)
class Progress:
    """Sent about twice a second while encoding: counts and the running statistics so far."""

    episode: int
    frames_encoded: int
    frames_repeated: int
    histograms: np.ndarray
    #: What looks wrong with the camera right now (`workers.health.FLAGS`); empty when it looks healthy.
    health: tuple[str, ...] = ()
    #: Frames taken from the ring and not encoded yet, their bytes, and how many of those bytes are on disk.
    backlog_frames: int = 0
    backlog_bytes: int = 0
    backlog_disk_bytes: int = 0


@dataclass(frozen=True)
class EpisodeFinished:
    episode: int
    result: EpisodeResult


@dataclass(frozen=True)
class EpisodeCancelled:
    episode: int


@dataclass(frozen=True)
class EpisodeFailed:
    """The episode's encoding failed; the worker lives on and takes the next episode."""

    episode: int
    message: str
    traceback: str = ""
