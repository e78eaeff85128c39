"""Argument types shared by ``lerobot-stream`` and its benchmarks: each refuses bad input in one line that says
what was expected and what arrived (argparse's own message for a failed conversion names the Python function)."""

from __future__ import annotations

import argparse
import math

#: The largest frame the built-in cameras record (9.4 MP: 4096x2304).
MAX_PIXELS = 4096 * 2304


class ArgumentParser(argparse.ArgumentParser):
    """argparse's parser whose refusals are one line - the error and where the options are listed - instead of
    the whole usage block with the error at its end (20 lines for ``bench``, the cause easy to miss)."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (options: {self.prog} --help)\n")


def _number(text: str, kind: type, expected: str) -> float:
    try:
        value = kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}") from None
    if isinstance(value, float) and not math.isfinite(value) and value != math.inf:
        raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}")
    return value


def positive_int(text: str) -> int:
    value = _number(text, int, "a whole number of 1 or more")
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, got {text}")
    return value


def non_negative_int(text: str) -> int:
    value = _number(text, int, "a whole number of 0 or more")
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {text}")
    return value


def positive_float(text: str) -> float:
    value = _number(text, float, "a number above 0")
    if not 0 < value < math.inf:
        raise argparse.ArgumentTypeError(f"must be a number above 0, got {text}")
    return value


def non_negative_float(text: str) -> float:
    """0 or more; ``inf`` allowed (e.g. a disk reserve that never lets the backlog spill)."""
    value = _number(text, float, "a number of seconds or MB, 0 or more")
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {text}")
    return value


def resolution(text: str) -> tuple[int, int]:
    """``WIDTHxHEIGHT``: even, at least 16, at most `MAX_PIXELS` (4K)."""
    try:
        width, height = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected WIDTHxHEIGHT such as 640x480, got {text!r}") from None
    if width < 16 or height < 16 or width % 2 or height % 2:
        raise argparse.ArgumentTypeError(f"width and height must be even and at least 16, got {text!r}")
    if width * height > MAX_PIXELS:
        raise argparse.ArgumentTypeError(
            f"at most 4096x2304 pixels (4K) per camera, got {text!r}: every camera's ring holds its queue of frames "
            "in shared memory and its built-in content pre-renders frames in memory"
        )
    return width, height


def camera_counts(text: str) -> list[int]:
    """``"3"``, ``"1,2,4"`` or ``"1-8"`` (and mixtures): sorted, each at least 1."""
    counts: list[int] = []
    for part in (p.strip() for p in text.split(",")):
        low, dash, high = part.partition("-")
        try:
            bounds = (int(low), int(high)) if dash else (int(part), int(part))
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected camera counts such as 3, 1,2,4 or 1-8, got {text!r}") from None
        if bounds[0] > bounds[1]:
            raise argparse.ArgumentTypeError(f"the range {part} is empty: its end is below its start")
        if bounds[0] < 1:
            raise argparse.ArgumentTypeError(f"camera counts must be 1 or more, got {part}")
        counts.extend(range(bounds[0], bounds[1] + 1))
    return sorted(set(counts))
