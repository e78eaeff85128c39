"""The background image writer of the non-streaming path: LeRobot's behaviour (failures logged, not raised) and
ours on top (failures remembered, so an episode with a frame missing is never encoded), in threads and in
processes."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import psutil
import pytest
from helpers import FPS, features, frame, identity_frame, read_identity, record

from lerobot_stream.datasets.dataset_reader import decode_png_bytes
from lerobot_stream.datasets.lerobot_dataset import LeRobotDataset
from lerobot_stream.errors import EpisodeSaveError
from lerobot_stream.recorder.image_writer import AsyncImageWriter, write_image, write_image_or_raise

REPO_ROOT = Path(__file__).resolve().parent.parent


def test_write_image_logs_what_write_image_or_raise_raises(tmp_path, caplog):
    with pytest.raises(ValueError, match="Camera 'wrist'"):
        write_image_or_raise(np.zeros((8, 8, 4), np.uint8), tmp_path / "a.png", name="wrist")
    write_image(np.zeros((8, 8, 4), np.uint8), tmp_path / "a.png")  # LeRobot's: logged, not raised
    assert "Error writing image" in caplog.text and not (tmp_path / "a.png").exists()


@pytest.mark.parametrize("processes", [0, 2])
def test_failed_writes_are_reported_once_and_good_ones_land(tmp_path, processes):
    writer = AsyncImageWriter(num_processes=processes, num_threads=2)
    try:
        for index in range(4):
            writer.save_image(identity_frame(index), tmp_path / f"frame-{index}.png")
        writer.save_image("not an image", tmp_path / "broken.png")
        writer.wait_until_done()  # LeRobot's call: waits, does not raise
        with pytest.raises(OSError, match=r"1 image\(s\) could not be written.*broken\.png"):
            writer.check_errors()
        writer.check_errors()  # reported once
        for index in range(4):
            assert read_identity(decode_png_bytes((tmp_path / f"frame-{index}.png").read_bytes())) == index
        assert not (tmp_path / "broken.png").exists()
    finally:
        writer.stop()
    assert not any(p.is_alive() for p in writer.processes) and not any(t.is_alive() for t in writer.threads)
    assert not [c for c in psutil.Process().children(recursive=True) if "image_writer" in " ".join(c.cmdline())]


def test_an_episode_whose_staged_frame_was_lost_is_not_encoded(tmp_path):
    """A frame file that could not be written (here: its folder replaced by a file) fails save_episode with the
    cause, instead of encoding a video one frame short; the dataset keeps its earlier episodes."""
    root = tmp_path / "ds"
    dataset = LeRobotDataset.create("test/lost", fps=FPS, features=features(1), root=root)
    record(dataset, [3], cameras=1)
    dataset.add_frame(frame(3, 1, "t"))
    dataset.writer.image_writer.wait_until_done()
    folder = next((root / "images").rglob("episode-000001"))
    shutil.rmtree(folder)
    folder.write_text("not a folder")  # the next frames of this episode cannot be written
    for index in range(4, 6):
        dataset.add_frame(frame(index, 1, "t"))
    with pytest.raises(EpisodeSaveError, match="could not be written"):
        dataset.save_episode()
    folder.unlink(missing_ok=True)  # (the failed save cleared the staging area already)
    assert dataset.meta.total_episodes == 1
    record(dataset, [2], cameras=1, start=3)  # the same episode index records again
    dataset.finalize()
    assert LeRobotDataset("test/lost", root=root).meta.total_frames == 5


def test_writer_processes_of_a_script_without_a_main_guard_fail_clearly_instead_of_hanging(tmp_path):
    """Python's spawn imports the recording script again in each writer process; without an ``if __name__ ==
    "__main__":`` guard that import fails and the process exits. The recorder must say so, not wait forever."""
    script = tmp_path / "record_without_guard.py"
    script.write_text(
        "import sys\n"
        f"sys.path.insert(0, {str(REPO_ROOT)!r})\n"
        "import numpy as np\n"
        "from lerobot_stream.recorder.image_writer import AsyncImageWriter\n"
        "writer = AsyncImageWriter(num_processes=1, num_threads=1)\n"
        "for index in range(3):\n"
        f"    writer.save_image(np.zeros((8, 8, 3), np.uint8), {str(tmp_path)!r} + f'/frame-{{index}}.png')\n"
        "writer.wait_until_done()\n"
    )
    result = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120)
    assert result.returncode != 0
    assert "image writer process(es) exited" in result.stderr and '__name__ == "__main__"' in result.stderr


@pytest.mark.parametrize(("processes", "threads"), [(0, 0), (-1, 2), (2, -1)])
def test_a_writer_that_could_never_write_is_refused(processes, threads):
    with pytest.raises(ValueError, match=r"threads and (num_)?processes"):
        AsyncImageWriter(num_processes=processes, num_threads=threads)
