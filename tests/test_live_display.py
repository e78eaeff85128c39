"""The live display as a person sees it: commands run in a real pseudo-terminal, the screen rendered from what
they wrote (`terminal.run_in_terminal`); and without a terminal, what a log file gets."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

from terminal import run_in_terminal

REPO_ROOT = Path(__file__).resolve().parent.parent
ENV = dict(os.environ, PYTHONPATH=str(REPO_ROOT))
CLI = [sys.executable, "-m", "lerobot_stream.cli"]

BLOCK_WITH_LOGS = textwrap.dedent("""
    import logging, sys, threading, time
    from lerobot_stream.cli.live_display import LiveBlock, capture_logging
    logging.basicConfig(format="%(levelname)s %(message)s")  # stderr: the same terminal
    block = LiveBlock(sys.stdout)
    log = logging.getLogger("demo")
    with capture_logging(block):
        for i in range(30):
            block.draw([f"episode 1/2  tick {i}", "  cam0: " + "x" * 150, "  cam1: ok"], "compact")
            if i == 5:
                log.warning("camera cam0: falling behind")
            if i == 12:
                thread = threading.Thread(target=log.warning, args=("from another thread",))
                thread.start()
                thread.join()
            time.sleep(0.01)
        block.release()
    print("after the block")
""")


def test_log_records_go_above_the_block_and_long_lines_are_cut_to_the_terminal(tmp_path):
    run = run_in_terminal([sys.executable, "-c", BLOCK_WITH_LOGS], ENV, columns=80)
    assert run.returncode == 0, run.raw[-2000:]
    rows = run.all_rows
    assert rows == [
        "WARNING camera cam0: falling behind",
        "WARNING from another thread",
        "episode 1/2  tick 29",  # the block was redrawn below them, and left no stale copy
        "  cam0: " + "x" * 70 + "~",  # cut to 79 columns, marked: no wrapped second row
        "  cam1: ok",
        "after the block",
    ], rows


def test_a_block_taller_than_the_window_is_shortened_not_scrolled(tmp_path):
    script = textwrap.dedent("""
        import sys
        from lerobot_stream.cli.live_display import LiveBlock
        block = LiveBlock(sys.stdout)
        for i in range(5):
            block.draw([f"header {i}"] + [f"  cam{c}" for c in range(20)], "compact")
    """)
    run = run_in_terminal([sys.executable, "-c", script], ENV, columns=60, rows=10)
    assert run.returncode == 0
    assert run.all_rows[0] == "header 4" and len(run.all_rows) == 8, run.all_rows
    assert "14 more line(s)" in run.all_rows[-1]  # 21 lines, 7 shown


def test_record_in_a_narrow_terminal_keeps_one_status_block_and_one_line_per_saved_episode(tmp_path):
    root = tmp_path / "ds"
    args = ["record", "--root", str(root), "--cameras", "3", "--episodes", "2", "--episode-seconds", "1.5"]
    args += ["--resolution", "160x120", "--content", "synthetic", "--reset-seconds", "0.5"]
    run = run_in_terminal([*CLI, *args], ENV, columns=80)
    assert run.returncode == 0, run.raw[-3000:]
    drawn = re.findall(r"\x1b\[2K(   cam\d: [^\r\n]*)", run.raw)
    assert len(drawn) >= 6 and all(len(line) < 80 for line in drawn), drawn  # cut to the window: nothing wrapped
    rows = run.all_rows
    status = re.compile(r"(   cam\d|episode \d/2 |reset after|finishing:)")
    leftovers = [row for row in rows if status.match(row)]
    assert leftovers == [], leftovers  # redrawn in place, never repeated, and gone once the summary comes
    saved = [row for row in rows if re.match(r"episode \d/2: \d+ frames saved", row)]
    assert [row.split(":")[0] for row in saved] == ["episode 1/2", "episode 2/2"], rows
    assert any(row.startswith("Summary") for row in rows)


def test_record_without_a_terminal_writes_a_few_compact_lines(tmp_path):
    root = tmp_path / "ds"
    args = ["record", "--root", str(root), "--cameras", "3", "--episodes", "2", "--episode-seconds", "2"]
    args += ["--resolution", "160x120", "--content", "synthetic"]
    result = subprocess.run(
        [*CLI, *args],
        capture_output=True,
        text=True,
        timeout=180,
        env=ENV,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    lines = result.stdout.splitlines()
    assert "\x1b" not in result.stdout  # no escape sequences in a log file
    assert "cameras ready: 3/3" in lines  # the preparation shows its progress
    status = [line for line in lines if "video stream(s):" in line]
    assert 2 <= len(status) <= 4, lines  # each episode's end, not one line every 2 s
    assert all(len(line) < 160 for line in status), status


def test_preparing_the_cameras_shows_how_many_are_ready_and_the_time_left(tmp_path):
    script = textwrap.dedent("""
        import sys
        from lerobot_stream.cli.record_status import StatusDisplay
        from lerobot_stream.sources.cameras import make_cameras
        display = StatusDisplay(sys.stdout)
        make_cameras(3, 240, 320, progress=display.progress)
    """)
    run = run_in_terminal([sys.executable, "-c", script], ENV, columns=80)
    assert run.returncode == 0, run.raw[-2000:]
    assert re.search(r"cameras ready: 0/3", run.raw)
    assert re.search(r"cameras ready: 1/3 \(about \d+ s left\)", run.raw), run.raw
    assert run.all_rows[-1].strip() == "cameras ready: 3/3", run.all_rows  # redrawn in place; no estimate at the end
