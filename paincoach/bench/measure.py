"""Small measuring helpers for the speed benchmark: percentiles, the spread of repeated
figures, the knee of a load ramp, the machine, and the processes' memory and CPU (/proc)."""

from __future__ import annotations

import math
import os
import platform
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

PROC = Path("/proc")
TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
BUSY_LOAD_PER_CORE = 0.5  # load average per core above which figures are not trusted


def percentile(samples: Sequence[float], fraction: float) -> float:
    """The `fraction` quantile (0.95 for p95), nearest rank on the sorted samples."""
    if not samples:
        return float("nan")
    ordered = sorted(samples)
    rank = max(0, min(len(ordered) - 1, math.ceil(fraction * len(ordered)) - 1))
    return ordered[rank]


@dataclass(frozen=True)
class Figure:
    """One figure measured several times: its median, and how far the runs strayed."""

    values: tuple[float, ...]

    @classmethod
    def of(cls, values: Iterable[float]) -> Figure:
        return cls(tuple(values))

    @property
    def median(self) -> float:
        return statistics.median(self.values) if self.values else float("nan")

    @property
    def spread(self) -> float:
        """The largest distance of a run from the median, as a fraction of the median."""
        middle = self.median
        if not self.values or middle == 0:
            return 0.0
        return max(abs(value - middle) for value in self.values) / abs(middle)

    def within(self, fraction: float) -> bool:
        return self.spread <= fraction

    def show(self, unit: str = "", digits: int = 1) -> str:
        runs = ", ".join(f"{value:.{digits}f}" for value in self.values)
        return f"{self.median:.{digits}f}{unit} (runs {runs}; spread ±{self.spread:.0%})"


@dataclass(frozen=True)
class Step:
    """One level of a load ramp: the load offered, what was served, and the p95."""

    offered: float  # turns per second the patients would send if answered at once
    served: float  # turns per second answered
    p95: float  # seconds
    failed: int = 0

    def holds(self, limit: float) -> bool:
        return self.p95 <= limit and self.failed == 0


def knee(steps: Sequence[Step], limit: float = 1.0) -> Step | None:
    """The step that served the most turns per second with p95 within `limit`."""
    good = [step for step in steps if step.holds(limit)]
    return max(good, key=lambda step: step.served, default=None)


def next_offered(
    steps: Sequence[Step], start: float, factor: float, resolution: float, limit: float = 1.0
) -> float | None:
    """The next load to offer: up by `factor` until a step breaks the limit, then halfway
    between the highest step that held and the lowest that broke, until they are closer than
    `resolution` (as a fraction). None when the knee is found."""
    if not steps:
        return start
    held = [step.offered for step in steps if step.holds(limit)]
    broke = [step.offered for step in steps if not step.holds(limit)]
    if not broke:
        return max(held) * factor
    low, high = max(held, default=0.0), min(broke)
    if low == 0.0:
        low = high / factor / factor  # even the first step broke: look lower
        return low if low > 0.2 else None
    if high - low <= resolution * low:
        return None
    return (low + high) / 2


# --- the machine and the processes -----------------------------------------------------


@dataclass(frozen=True)
class Machine:
    cpu: str
    cores: int
    load: tuple[float, float, float]

    @classmethod
    def now(cls) -> Machine:
        model = platform.processor() or platform.machine()
        cpuinfo = PROC / "cpuinfo"
        if cpuinfo.exists():
            for line in cpuinfo.read_text().splitlines():
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
        load = os.getloadavg() if hasattr(os, "getloadavg") else (0.0, 0.0, 0.0)
        return cls(model, os.cpu_count() or 1, (load[0], load[1], load[2]))

    @property
    def busy(self) -> bool:
        return self.load[0] > BUSY_LOAD_PER_CORE * self.cores

    def header(self) -> str:
        one, five, fifteen = self.load
        return (
            f"CPU {self.cpu}, {self.cores} cores; load average before the run "
            f"{one:.2f} {five:.2f} {fifteen:.2f}"
        )


def process_tree(pid: int) -> list[int]:
    """`pid` and all its descendants that are alive now."""
    children: dict[int, list[int]] = {}
    for entry in PROC.glob("[0-9]*/stat"):
        try:
            fields = entry.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(entry.parent.name))
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(children.get(current, []))
    return found


def rss_mb(pid: int, descendants: bool = True) -> float:
    """Resident memory of a process and (unless told not to) its descendants, in MB."""
    total = 0
    for member in process_tree(pid) if descendants else [pid]:
        try:
            total += int((PROC / str(member) / "statm").read_text().split()[1])
        except (OSError, IndexError, ValueError):
            continue
    return total * PAGE / 1e6


def cpu_seconds(pid: int, descendants: bool = True) -> float:
    """CPU time (user and system) used so far by a process and its live descendants."""
    total = 0
    for member in process_tree(pid) if descendants else [pid]:
        try:
            fields = (PROC / str(member) / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / TICKS


def machine_cpu_seconds() -> float:
    """CPU time used on the whole machine so far (all cores, not idle or waiting)."""
    stat = PROC / "stat"
    if not stat.exists():
        return 0.0
    fields = [int(f) for f in stat.read_text().splitlines()[0].split()[1:]]
    busy = sum(fields) - fields[3] - (fields[4] if len(fields) > 4 else 0)
    return busy / TICKS
