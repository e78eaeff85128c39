"""The benchmark's report: the table rows, each design's capacity, the comparisons between designs measured in
the same run, and the plot."""

from __future__ import annotations

from pathlib import Path

from .designs import DESIGNS, RunResult

HEADER = (
    f"{'design':<13}{'cams':>5}{'fed':>7}{'dropped':>8}{'feed µs p50/p99/max':>22}"
    f"{'late ms p50/p99/max':>22}{'floor':>6}{'first30':>8}{'start ms':>9}{'finish ms':>10}{'backlog':>8}"
    f"{'CPU %':>7}{'RSS MB':>8}{'shm MB':>8}{'MB/cam-min':>11}{'PSNR dB':>9}{'worst':>7}"
)


def format_row(r: RunResult) -> str:
    if r.error:
        return f"{r.design:<13}{r.cameras:>5}  ERROR {r.error}"
    f, late = r.feed_us, r.lateness_ms
    floor = f"{r.floor_late_ms['max']:>6.1f}" if r.floor_late_ms else f"{'n/a':>6}"  # see FLOOR_NOTE
    backlog = "-" if r.end_backlog is None else str(r.end_backlog)
    return (
        f"{r.design:<13}{r.cameras:>5}{r.frames_fed:>7}{r.frames_dropped:>8}"
        f"{f['p50']:>8.0f}/{f['p99']:>6.0f}/{f['max']:>6.0f}"
        f"{late['p50']:>8.2f}/{late['p99']:>6.1f}/{late['max']:>6.0f}"
        f"{floor}{r.first_ticks_late_ms:>8.1f}{r.start_ms:>9.0f}"
        f"{r.finish_ms:>10.0f}{backlog:>8}{r.cpu_percent:>7.0f}{r.peak_rss_mb:>8.0f}{r.shm_mb:>8.0f}"
        f"{r.mb_per_camera_minute:>11.2f}{r.psnr_db:>9.1f}{r.worst_psnr_db:>7.1f}"
    )


def capacities(results: list[RunResult], designs: list[str]) -> dict[str, dict[str, int]]:
    """Per design: the largest camera count with zero drops; with zero drops and no backlog building up at the end
    (sustained); and with zero drops and an on-time loop (real-time)."""
    out = {}
    for design in designs:
        runs = [r for r in results if r.design == design]
        out[design] = {
            "zero_drops": max((r.cameras for r in runs if r.zero_drops), default=0),
            "sustained": max((r.cameras for r in runs if r.sustained), default=0),
            "realtime": max((r.cameras for r in runs if r.realtime), default=0),
        }
    return out


def comparisons(results: list[RunResult], caps: dict, limit: dict) -> list[str]:
    lines = []
    if "process" in caps:
        for name, key in (("encode limit", "limit_cameras"), ("parallel encode limit", "parallel_limit_cameras")):
            if limit.get(key):
                lines.append(
                    f"process capacity / {name}: {caps['process']['zero_drops']} / {limit[key]:.1f} = "
                    f"{caps['process']['zero_drops'] / limit[key]:.0%}"
                )
        for other in ("thread", "png", "lerobot"):
            if other in caps and caps[other]["zero_drops"]:
                lines.append(
                    f"capacity process / {other}: {caps['process']['zero_drops']} / "
                    f"{caps[other]['zero_drops']} = {caps['process']['zero_drops'] / caps[other]['zero_drops']:.2f}x"
                    f"  (real-time: {caps['process']['realtime']} / {caps[other]['realtime']})"
                )
    for design in DESIGNS:
        rgbd = caps.get(f"{design}-rgbd")
        if rgbd is not None and design in caps:
            lines.append(
                f"RGB-D capacity {design}: {rgbd['zero_drops']} camera(s) recording RGB + depth, against "
                f"{caps[design]['zero_drops']} RGB-only (real-time: {rgbd['realtime']} / {caps[design]['realtime']})"
            )
    lines += floor_verdicts(results, caps)
    by_key = {(r.design, r.cameras): r for r in results if not r.error}
    for other in ("thread", "png", "lerobot"):
        common = sorted(n for d, n in by_key if d == other and ("process", n) in by_key)
        for n in common:
            p, o = by_key[("process", n)], by_key[(other, n)]
            lines.append(
                f"{n} camera(s): loop lateness p99 {other} {o.lateness_ms['p99']:.1f} ms vs process "
                f"{p.lateness_ms['p99']:.2f} ms ({ratio(o.lateness_ms['p99'], p.lateness_ms['p99'])});"
                f" feed p99 {o.feed_us['p99']:.0f} vs {p.feed_us['p99']:.0f} µs"
            )
    return lines


def ratio(value: float, baseline: float) -> str:
    """``value / baseline`` with two significant digits ("0.31x", "12x"), or "n/a" when the baseline is 0 (a
    ratio rounded to "0x" said nothing)."""
    if baseline <= 0:
        return "n/a: the baseline is 0"
    return f"{value / baseline:.2g}x"


#: Why a table cell of the floor can be "n/a".
FLOOR_NOTE = (
    "floor n/a: measured for RGB workloads with a software encoder and --limit-seconds above 0 only (an RGB-D "
    "floor would need depth encoders beside it; a hardware encoder runs off the CPU)"
)


def floor_verdicts(results: list[RunResult], caps: dict, margin_ms: float = 5.0) -> list[str]:
    """Per design, the camera counts (with zero drops) whose latest tick stayed within the floor + ``margin_ms``:
    over the first 30 ticks (start-up) and over the whole episode (every run is a first episode)."""
    lines = []
    for design in caps:
        runs = [r for r in results if r.design == design and r.zero_drops and r.floor_late_ms]
        if not runs:
            continue
        start = [r.cameras for r in runs if r.first_ticks_late_ms <= r.floor_late_ms["max"] + margin_ms]
        whole = [r.cameras for r in runs if r.lateness_ms["max"] <= r.floor_late_ms["max"] + margin_ms]
        counts = ", ".join(str(r.cameras) for r in runs)
        lines.append(
            f"{design}: latest tick within floor + {margin_ms:g} ms - first 30 ticks at {_listed(start)}, whole "
            f"episode at {_listed(whole)} camera(s) (of {counts} without drops)"
        )
    return lines


def _listed(counts: list[int]) -> str:
    return ", ".join(map(str, counts)) if counts else "none"


def plot(results: list[RunResult], caps: dict, limit: dict, path: Path) -> str:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        from matplotlib.ticker import MaxNLocator
    except ImportError:
        return "plot skipped: matplotlib is not installed (pip install -e '.[bench]')"
    fig, (ax_drop, ax_late) = plt.subplots(1, 2, figsize=(12, 4.5))
    for design in caps:
        runs = sorted((r for r in results if r.design == design and not r.error), key=lambda r: r.cameras)
        if not runs:
            continue
        counts = [r.cameras for r in runs]
        label = f"{design} (capacity {caps[design]['zero_drops']}, real-time {caps[design]['realtime']})"
        ax_drop.plot(counts, [100 * r.frames_dropped / max(r.frames_fed, 1) for r in runs], marker="o", label=label)
        ax_late.plot(counts, [max(r.lateness_ms["p99"], 1e-2) for r in runs], marker="o", label=design)
    for ax in (ax_drop, ax_late):
        ax.axvline(limit["limit_cameras"], color="grey", linestyle="--", label="encode limit")
        ax.set_xlabel("cameras")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # camera counts are whole
        ax.legend()
        ax.grid(alpha=0.3)
    ax_drop.set_ylabel("frames dropped (%)")
    ax_late.set_ylabel("loop tick lateness p99 (ms)")
    ax_late.set_yscale("log")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return f"plot written to {path}"
