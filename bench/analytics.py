"""Benchmark: `analytics report` against GoAccess on the same generated logs, in one run.

    .venv/bin/python bench/analytics.py                 # 1,000,000 lines, both log shapes
    .venv/bin/python bench/analytics.py --lines 4000000 # also shows memory growth against 1M

Two shapes of log (analytics.sample): the shop's own ("shop": a few dozen user agents and
paths) and a busier, messier site's ("varied": thousands of user agents and paths, 30 % IPv6
clients, query strings on a fifth of the lines, long search-engine referrers, an
X-Forwarded-For field). For each it prints lines/s (wall clock), CPU seconds and peak RSS (from
wait4's rusage: the child's own peak, not a sample) of GoAccess and of ours, and the ratio. Each
runs `--repeat` times (default 3), GoAccess and ours in turn, and the fastest run of each counts:
the machine is shared and its speed drifts, the ratio of two runs side by side much less.
Goals (issue 13): at least 6x GoAccess's lines/s at 1M lines and 8x at 4M on both shapes; peak
RSS <= 400 MB at 1M, and 4M lines in no more than 1.2x the memory of 1M lines.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


SHAPES = {
    "shop": {},
    "varied": {"varied": True, "ipv6_share": 0.3, "xff": True},
}
GOALS = {1_000_000: 6.0, 4_000_000: 8.0}  # lines: times GoAccess's lines/s


def report_argv(log: Path, out: Path) -> list[str]:
    """The program as a user runs it (the venv's `analytics`), in a child of its own so its peak
    RSS is measured alone."""
    program = Path(sys.executable).with_name("analytics")
    return [str(program), "report", str(log), "--out", str(out), "--no-goaccess"]


def generate(log: Path, lines: int, seed: int, shape: str) -> None:
    """Write the log in a process of its own: this one stays small, as it must, for Linux keeps
    the peak RSS of the process that starts a program in that program's (across fork and
    exec), and so in the peak measured of GoAccess and ours."""
    code = (
        "import sys; from analytics.sample import generate_log; "
        f"generate_log(sys.argv[1], {lines}, seed={seed}, **{SHAPES[shape]!r})"
    )
    subprocess.run([sys.executable, "-c", code, str(log)], cwd=ROOT, check=True)


@dataclass
class Run:
    name: str
    seconds: float
    cpu: float
    peak_mb: float
    lines: int

    @property
    def lines_per_second(self) -> float:
        return self.lines / self.seconds


def measure(name: str, argv: list[str], lines: int, stdin: Path | None = None) -> Run:
    """Run argv once; wall time, user+sys CPU and peak RSS of the child."""
    with open(stdin or os.devnull, "rb") as source:
        start = time.perf_counter()
        child = subprocess.Popen(
            argv, stdin=source, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=ROOT
        )
        _, status, usage = os.wait4(child.pid, 0)
        seconds = time.perf_counter() - start
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode != 0:
        error = child.stderr.read().decode(errors="replace")
        raise SystemExit(f"{name} failed ({child.returncode}): {error[-2000:]}")
    child.stderr.close()
    cpu = usage.ru_utime + usage.ru_stime
    return Run(name, seconds, cpu, usage.ru_maxrss / 1024, lines)


def best(runs: list[Run]) -> Run:
    """The fastest of repeated runs (the machine is shared), with the highest peak seen."""
    fastest = min(runs, key=lambda r: r.seconds)
    fastest.peak_mb = max(r.peak_mb for r in runs)
    return fastest


def bench(log: Path, lines: int, work: Path, repeat: int) -> tuple[Run, Run]:
    """GoAccess and ours, one after the other, `repeat` times (each pair close in time, as the
    machine's speed drifts); the fastest run of each."""
    goaccess = shutil.which("goaccess")
    if goaccess is None:
        raise SystemExit("goaccess is not installed (Debian: sudo apt-get install goaccess)")
    theirs_argv = [
        goaccess,
        "--log-format=COMBINED",
        "--no-global-config",
        "--no-progress",
        "-o",
        str(work / "goaccess.json"),
        "-",
    ]
    theirs, ours = [], []
    for _ in range(repeat):
        theirs.append(measure("goaccess", theirs_argv, lines, stdin=log))
        ours.append(measure("analytics", report_argv(log, work / "out"), lines))
    return best(theirs), best(ours)


def show(shape: str, theirs: Run, ours: Run) -> float:
    """Print one shape's figures; its ratio of lines/s."""
    print(f"{shape:10} {'lines':>10} {'wall s':>8} {'lines/s':>10} {'CPU s':>7} {'peak RSS':>9}")
    for r in (theirs, ours):
        print(
            f"  {r.name:8} {r.lines:>10,} {r.seconds:>8.2f} {r.lines_per_second:>10,.0f} "
            f"{r.cpu:>7.2f} {r.peak_mb:>6.0f} MB"
        )
    ratio = ours.lines_per_second / theirs.lines_per_second
    goal = GOALS.get(ours.lines)
    print(
        f"  ratio: {ratio:.2f}x GoAccess's lines/s"
        + (f" (goal >= {goal:g}x)" if goal else "")
        + f"; CPU time {theirs.cpu / ours.cpu:.2f}x less; peak RSS {ours.peak_mb:.0f} MB"
        " (goal <= 400 MB at 1M)"
    )
    return ratio


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument(
        "--repeat", type=int, default=3, help="runs of each (default 3); the fastest counts"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--shape", choices=[*SHAPES, "both"], default="both", help="which log shape (default both)"
    )
    args = parser.parse_args(argv)
    shapes = list(SHAPES) if args.shape == "both" else [args.shape]
    ratios = {}
    with tempfile.TemporaryDirectory(prefix="bench-analytics-") as tmp:
        work = Path(tmp)
        for shape in shapes:
            log = work / f"{shape}.log"
            t = time.perf_counter()
            generate(log, args.lines, args.seed, shape)
            size = log.stat().st_size / 2**20
            print(
                f"generated a {shape} log of {args.lines:,} lines ({size:.0f} MB) "
                f"in {time.perf_counter() - t:.1f} s"
            )
            theirs, ours = bench(log, args.lines, work, args.repeat)
            ratios[shape] = show(shape, theirs, ours)
            if args.lines > 1_000_000:
                small = work / f"{shape}-1m.log"
                generate(small, 1_000_000, args.seed, shape)
                base = measure("analytics", report_argv(small, work / "out1"), 1_000_000)
                print(
                    f"  memory growth: {args.lines:,} lines {ours.peak_mb:.0f} MB vs 1,000,000 "
                    f"lines {base.peak_mb:.0f} MB = {ours.peak_mb / base.peak_mb:.2f}x "
                    "(goal <= 1.2x)"
                )
            log.unlink()
    print("ratios: " + ", ".join(f"{shape} {ratio:.2f}x" for shape, ratio in ratios.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
