"""Paths as FFmpeg must be given them.

FFmpeg reads a leading ``word:`` of a file name as a protocol (``http:``, ``pipe:``...), where the word is
letters, digits, ``+``, ``-`` or ``.``: a dataset recorded under ``--root 2024-06-01T10:00`` or ``run:1``
makes ``av.open("2024-06-01T10:00/videos/...")`` fail with "Protocol not found". An absolute path starts
with ``/``, which no protocol name contains, so FFmpeg always takes it as a local file. Every path handed to
``av.open`` goes through `ffmpeg_path`.
"""

from __future__ import annotations

import os


def ffmpeg_path(path: str | os.PathLike[str]) -> str:
    """``path`` as an absolute file name FFmpeg cannot mistake for a URL."""
    return os.path.abspath(os.fspath(path))
