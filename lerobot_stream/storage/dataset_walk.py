"""Finding files in a dataset whose folders may be symbolic links."""

from __future__ import annotations

import fnmatch
import os
from pathlib import Path


def walk_dataset_files(root: Path, pattern: str) -> list[Path]:
    """Files under ``root`` whose name matches ``pattern`` (``fnmatch``), following symbolic links to folders -
    users put ``videos/`` on a bigger disk that way, and a killed recorder's temporary files behind such a link
    must be found too (``Path.rglob`` does not follow them) - and visiting each folder once (no link loops)."""
    found: list[Path] = []
    seen: set[tuple[int, int]] = set()
    for directory, folders, files in os.walk(root, followlinks=True):
        st = os.stat(directory)
        if (st.st_dev, st.st_ino) in seen:
            folders[:] = []
            continue
        seen.add((st.st_dev, st.st_ino))
        found += [Path(directory) / name for name in files if fnmatch.fnmatch(name, pattern)]
    return sorted(found)
