"""One error family: everything lerobot_stream raises on purpose derives from `LeRobotStreamError` and from the
standard exception LeRobot's callers catch; the PNG and streaming paths report a failed camera the same way."""

from __future__ import annotations

import importlib
import inspect
import os
import pkgutil
import signal
import time

import pytest
from helpers import features, frame

import lerobot_stream
import shm
import workers
from lerobot_stream import LeRobotStreamError
from lerobot_stream.datasets.lerobot_dataset import LeRobotDataset
from lerobot_stream.errors import EpisodeSaveError
from workers.errors import CameraEncoderError, EncodingFailed

#: Exceptions used for control flow inside one module, never seen by a caller.
_INTERNAL = {"_Stopped", "_RecorderGone"}


def _exception_classes() -> dict[str, type[BaseException]]:
    found = {}
    for package in (shm, workers, lerobot_stream):
        for info in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
            if info.name.endswith("__main__"):
                continue
            module = importlib.import_module(info.name)
            for name, cls in inspect.getmembers(module, inspect.isclass):
                if issubclass(cls, BaseException) and cls.__module__ == module.__name__ and name not in _INTERNAL:
                    found[f"{module.__name__}.{name}"] = cls
    return found


def test_every_error_of_the_project_has_the_common_base_and_a_standard_one():
    classes = _exception_classes()
    assert len(classes) >= 20, sorted(classes)
    wrong = [
        name
        for name, cls in classes.items()
        if cls is not LeRobotStreamError
        and not (issubclass(cls, LeRobotStreamError) and issubclass(cls, (ValueError, RuntimeError, OSError)))
    ]
    assert not wrong, wrong
    homes = {cls.__module__ for cls in classes.values()}
    assert homes == {"shm.errors", "workers.errors", "lerobot_stream.errors"}, homes


def _save_with_a_camera_that_cannot_encode(tmp_path, streaming: bool) -> EpisodeSaveError:
    dataset = LeRobotDataset.create(
        "test/errors", fps=30, features=features(2), root=tmp_path / "ds", streaming_encoding=streaming
    )
    try:
        for g in range(5):
            dataset.add_frame(frame(g, 2, "task"))
        if streaming:  # its encoder process dies; the next frame reports it
            os.kill(dataset.writer._streaming_encoder.worker_pids()["observation.images.cam1"], signal.SIGKILL)
            time.sleep(0.5)
            with pytest.raises(CameraEncoderError):
                dataset.add_frame(frame(5, 2, "task"))
        else:  # its staged frames are damaged before they are encoded
            dataset.writer._staging.wait()
            for png in dataset.writer._staging.episode_dir("observation.images.cam1", 0).iterdir():
                png.write_bytes(b"not a picture")
        with pytest.raises(EpisodeSaveError) as caught:
            dataset.save_episode()
        return caught.value
    finally:
        dataset.finalize()


def _failed_cameras(error: BaseException) -> list[str]:
    """The cameras named by the `CameraEncoderError`s behind ``error`` (in its chain, or inside `EncodingFailed`)."""
    cameras = []
    while error is not None:
        if isinstance(error, CameraEncoderError):
            cameras.append(error.camera)
        if isinstance(error, EncodingFailed):
            cameras.extend(e.camera for e in error.errors.values())
        error = error.__cause__
    return cameras


@pytest.mark.parametrize("streaming", [False, True], ids=["png", "streaming"])
def test_a_camera_that_cannot_be_encoded_is_the_same_error_on_both_paths(tmp_path, streaming):
    """The PNG path raised a bare ``RuntimeError`` where the streaming path raised `EncodingFailed`."""
    error = _save_with_a_camera_that_cannot_encode(tmp_path, streaming)
    assert isinstance(error, LeRobotStreamError) and isinstance(error, RuntimeError)
    assert _failed_cameras(error) == ["observation.images.cam1"], repr(error.__cause__)
    assert "observation.images.cam1" in str(error)
    assert LeRobotDataset("test/errors", root=tmp_path / "ds").meta.total_episodes == 0
