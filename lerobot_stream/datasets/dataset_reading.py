"""The reading half of `lerobot_stream.datasets.lerobot_dataset.LeRobotDataset`: what a user sees of the files.

A base class of ``LeRobotDataset`` only, split off to keep that module readable: it uses the attributes
``LeRobotDataset._set_attributes`` defines (``_meta``, ``_root``, ``writer``, ``reader``, ``_is_finalized``,
``episodes``, ``tolerance_s``, ``delta_timestamps``, ``image_transforms``, ``_video_backend``,
``_depth_output_unit``). While episodes are recording, counts come from the writer; anything that shows the files
(``meta``, ``root``, reading) first waits for the saved episodes still being committed
(`lerobot_stream.recorder.pending_episodes`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lerobot_stream.datasets.dataset_reader import DatasetReader
from lerobot_stream.storage.metadata import LeRobotDatasetMetadata


class DatasetReading:
    """Metadata, counts and items of a `LeRobotDataset` (see the module docstring)."""

    _meta: LeRobotDatasetMetadata
    _root: Path
    writer: Any
    reader: DatasetReader | None
    _is_finalized: bool

    # -- what a user sees of the files ------------------------------------------------------------------------
    @property
    def meta(self) -> LeRobotDatasetMetadata:
        """The dataset's metadata - after every saved episode is in it: with streaming encoding ``save_episode``
        may return while the encoders still work on an episode's videos, and the episode is committed in the
        background (`lerobot_stream.recorder.pending_episodes`); reading ``meta`` waits for that."""
        self._wait_for_saved_episodes()
        return self._meta

    @meta.setter
    def meta(self, value: LeRobotDatasetMetadata) -> None:
        self._meta = value

    @property
    def root(self) -> Path:
        """The dataset's folder - its files complete with every saved episode (waits, as `meta` does)."""
        self._wait_for_saved_episodes()
        return self._root

    @root.setter
    def root(self, value: str | Path) -> None:
        self._root = Path(value)

    def _wait_for_saved_episodes(self) -> None:
        writer = getattr(self, "writer", None)
        if writer is not None and writer.pending_episodes:
            writer.wait_for_saved_episodes()

    # -- reading --------------------------------------------------------------------------------------------
    @property
    def depth_output_unit(self) -> str:
        """``"mm"`` or ``"m"``: the unit depth maps (and their statistics) are returned in when reading."""
        return self._depth_output_unit

    @property
    def fps(self) -> int:
        return self._meta.fps

    @property
    def features(self) -> dict[str, dict]:
        return self._meta.features

    @property
    def num_frames(self) -> int:
        """Frames saved (those of episodes still being committed included: they count as soon as saved)."""
        if self._recording:
            return self.writer.saved_frames
        return self._meta.total_frames if self.reader is None else self.reader.num_frames

    @property
    def num_episodes(self) -> int:
        """Episodes saved (those still being committed included)."""
        return self.writer.saved_episodes if self._recording else self._meta.total_episodes

    @property
    def _recording(self) -> bool:
        return self.writer is not None and not self._is_finalized

    def __len__(self) -> int:
        return self.num_frames

    def _new_reader(self) -> DatasetReader:
        return DatasetReader(
            meta=self.meta,
            root=self.root,
            episodes=self.episodes,
            tolerance_s=self.tolerance_s,
            video_backend=self._video_backend,
            delta_timestamps=self.delta_timestamps,
            image_transforms=self.image_transforms,
            depth_output_unit=self._depth_output_unit,
        )

    def _ensure_reader(self) -> DatasetReader:
        if self.writer is not None and not self._is_finalized:
            raise RuntimeError(
                "Cannot read from a dataset that is being recorded. Call finalize() first, then access items."
            )
        if self.reader is None:
            self.reader = self._new_reader()
        return self.reader

    @property
    def hf_dataset(self) -> Any:
        """The data rows (LeRobot's attribute): a pyarrow Table here, not a Hugging Face ``Dataset`` - ``len()``,
        column access and ``to_pandas()`` work on both. Read on first use (after pending saves are committed)."""
        return self._ensure_reader().hf_dataset

    def set_image_transforms(self, image_transforms: Any) -> None:
        """Apply ``image_transforms`` (any callable on a (C, H, W) tensor: torchvision's, LeRobot's
        ``ImageTransforms``) to the colour cameras of every read from now on (LeRobot v0.6)."""
        self.image_transforms = image_transforms

    def clear_image_transforms(self) -> None:
        """Read the cameras as recorded again."""
        self.image_transforms = None

    def __getitem__(self, index: int | slice) -> dict[str, Any] | list[dict[str, Any]]:
        """Frame ``index`` as recorded (cameras decoded at their timestamps), with ``image_transforms`` applied to
        the colour cameras. With ``delta_timestamps`` each named key holds a window of timesteps and
        ``<key>_is_pad`` marks those outside the episode (`lerobot_stream.storage.delta_timestamps`). Both
        attributes may be changed between reads. A slice gives the list of its frames (LeRobot v0.6)."""
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        reader = self._ensure_reader()
        if reader.delta_timestamps != self.delta_timestamps:
            reader.set_delta_timestamps(self.delta_timestamps)
        reader.set_image_transforms(self.image_transforms)
        return reader[index]
