"""The progress chart: the patient's last 30 days of pain, interference and mood, as a PNG."""

from __future__ import annotations

import asyncio
import io
import math
import multiprocessing
import textwrap
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, tzinfo
from typing import Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import structlog
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

log = structlog.get_logger("paincoach.charts")

EMPTY_MESSAGE = "No check-ins yet — check in to see your progress here"

# Telegram shows photos about 360–400 px wide, half this size, so fonts are set twice as large.
FIGURE_INCHES = (8.0, 8.0)
DPI = 100
# Two check-ins with at most this many silent days between them are still joined by a line.
MAX_JOINED_GAP_DAYS = 1


@dataclass(frozen=True)
class Series:
    """How one measure is drawn: Okabe–Ito colours plus a marker and dash, for colour blindness."""

    label: str
    colour: str
    marker: str
    linestyle: str
    markersize: float
    zorder: float  # pain, the main measure, is drawn on top where lines overlap


PAIN = Series("Pain", "#D55E00", "o", "-", 13, 2.6)
INTERFERENCE = Series("Gets in the way", "#0072B2", "s", "--", 14, 2.4)
MOOD = Series("Mood", "#009E73", "^", ":", 15, 2.2)


class Reported(Protocol):
    """What the chart reads of a check-in: a CheckIn row, or its `CheckInValues`."""

    @property
    def started_at(self) -> datetime: ...
    @property
    def pain_average(self) -> int | None: ...
    @property
    def pain_enjoyment(self) -> int | None: ...
    @property
    def pain_activity(self) -> int | None: ...
    @property
    def mood(self) -> int | None: ...


@dataclass(frozen=True)
class CheckInValues:
    """A check-in's answers alone, to be drawn in another process."""

    started_at: datetime
    pain_average: int | None
    pain_enjoyment: int | None
    pain_activity: int | None
    mood: int | None

    @classmethod
    def of(cls, checkin: Reported) -> CheckInValues:
        return cls(
            checkin.started_at,
            checkin.pain_average,
            checkin.pain_enjoyment,
            checkin.pain_activity,
            checkin.mood,
        )


@dataclass(frozen=True)
class DayValues:
    """What the patient told the coach on one local day; None where they did not say."""

    pain: int | None
    interference: float | None
    mood: int | None


def patient_zone(name: str) -> tzinfo:
    """The patient's time zone, or UTC when the stored name is not a known zone."""
    if not name:
        return UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return UTC


def _aware(moment: datetime) -> datetime:
    """Stored times are aware UTC; a naive one (built in memory) is taken as UTC too."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def local_day(moment: datetime, zone: tzinfo) -> date:
    """The patient's calendar day at that moment."""
    return _aware(moment).astimezone(zone).date()


def values_by_day(checkins: Sequence[Reported], zone: tzinfo) -> dict[date, DayValues]:
    """One set of values per local day: each item from the latest check-in that day that has it.

    A partial check-in counts for the items it has, so a half-finished evening check-in
    updates pain without wiping out the mood given that morning.
    """
    latest: dict[date, dict[str, int]] = {}
    for checkin in sorted(checkins, key=lambda c: _aware(c.started_at)):
        answers = latest.setdefault(local_day(checkin.started_at, zone), {})
        for item in ("pain_average", "pain_enjoyment", "pain_activity", "mood"):
            value = getattr(checkin, item)
            if value is not None:
                answers[item] = value
    result: dict[date, DayValues] = {}
    for day, items in latest.items():
        enjoyment, activity = items.get("pain_enjoyment"), items.get("pain_activity")
        interference = (
            (enjoyment + activity) / 2 if enjoyment is not None and activity is not None else None
        )
        if items.get("pain_average") is None and interference is None and "mood" not in items:
            continue
        result[day] = DayValues(items.get("pain_average"), interference, items.get("mood"))
    return result


def line_points(
    values: Sequence[float | None], max_gap: int = MAX_JOINED_GAP_DAYS
) -> tuple[list[float], list[float]]:
    """x and y for one line, with a NaN break wherever more than max_gap days are missing."""
    xs: list[float] = []
    ys: list[float] = []
    previous: int | None = None
    for x, value in enumerate(values):
        if value is None:
            continue
        if previous is not None and x - previous - 1 > max_gap:
            xs.append(math.nan)
            ys.append(math.nan)
        xs.append(float(x))
        ys.append(float(value))
        previous = x
    return xs, ys


def _day_label(day: date, today: date) -> str:
    return "Today" if day == today else f"{day.day} {day:%b}"


def progress_chart(
    checkins: Sequence[Reported],
    timezone: str = "UTC",
    days: int = 30,
    today: date | None = None,
) -> bytes:
    """A phone-sized PNG of the last `days` days, in the patient's own time zone."""
    zone = patient_zone(timezone)
    days = max(days, 1)
    if today is None:
        today = datetime.now(zone).date()
    window = [today - timedelta(days=days - 1 - i) for i in range(days)]
    by_day = values_by_day(checkins, zone)
    in_window = [by_day.get(day) for day in window]

    figure = Figure(figsize=FIGURE_INCHES, dpi=DPI, facecolor="white")
    FigureCanvasAgg(figure)
    figure.suptitle(f"Your last {days} days", fontsize=34, fontweight="bold", y=0.975)
    axes = figure.add_axes((0.11, 0.24, 0.8, 0.6))

    axes.set_xlim(-0.7, days - 0.3)
    axes.set_ylim(-0.4, 10.4)
    axes.set_yticks([0, 5, 10])
    # About five ticks (weekly for 30 days), counted back so that today is always labelled.
    step = max(1, round(days / 4.3))
    ticks = list(range(days - 1, -1, -step))[::-1]
    axes.set_xticks(ticks, [_day_label(window[i], today) for i in ticks])
    axes.tick_params(labelsize=23, length=6, width=1.5)
    axes.grid(axis="y", color="#dddddd", linewidth=1.2)
    axes.set_axisbelow(True)
    for side in ("top", "right"):
        axes.spines[side].set_visible(False)
    for side in ("left", "bottom"):
        axes.spines[side].set_linewidth(1.5)

    if all(values is None for values in in_window):
        axes.text(
            0.5,
            0.5,
            textwrap.fill(EMPTY_MESSAGE, width=18),
            transform=axes.transAxes,
            ha="center",
            va="center",
            fontsize=26,
            color="#333333",
            linespacing=1.4,
        )
    else:
        for series, measure in (
            (PAIN, [v.pain if v else None for v in in_window]),
            (INTERFERENCE, [v.interference if v else None for v in in_window]),
            (MOOD, [v.mood if v else None for v in in_window]),
        ):
            xs, ys = line_points(measure)
            axes.plot(
                xs,
                ys,
                label=series.label,
                color=series.colour,
                linestyle=series.linestyle,
                linewidth=4,
                marker=series.marker,
                markersize=series.markersize,
                markeredgecolor="white",
                markeredgewidth=1.5,
                clip_on=False,
                zorder=series.zorder,
            )
        figure.legend(
            loc="upper center",
            bbox_to_anchor=(0.5, 0.92),
            ncols=3,
            fontsize=22,
            frameon=False,
            handlelength=2.0,
            columnspacing=0.9,
            handletextpad=0.4,
        )

    figure.text(
        0.5,
        0.035,
        "Pain and gets in the way: 0 = none, 10 = worst\nMood: 0 = very low, 10 = very good",
        ha="center",
        va="bottom",
        fontsize=21,
        color="#444444",
        linespacing=1.5,
    )

    buffer = io.BytesIO()
    # The fastest zlib level: a third of the drawing time went to compressing at the default
    # level, for a file about a third smaller, which Telegram recompresses anyway.
    figure.savefig(
        buffer, format="png", dpi=DPI, facecolor="white", pil_kwargs={"compress_level": 1}
    )
    return buffer.getvalue()


class ChartProcess:
    """Progress charts drawn in a process of their own. Drawing one takes about 150 ms of
    pure Python and C that holds the interpreter: in a thread of the gateway's process it
    would hold up every other patient's turn for that long."""

    def __init__(self) -> None:
        self._pool = self._new_pool()

    @staticmethod
    def _new_pool() -> ProcessPoolExecutor:
        # Spawned, not forked: the gateway has threads and an event loop running.
        context = multiprocessing.get_context("spawn")
        return ProcessPoolExecutor(max_workers=1, mp_context=context)

    def warm_up(self) -> None:
        """Start the process and import matplotlib there, so the first chart is not slow."""
        self._pool.submit(progress_chart, [], "UTC")

    async def progress_chart(self, checkins: Sequence[Reported], timezone: str) -> bytes:
        values = [CheckInValues.of(checkin) for checkin in checkins]
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._pool, progress_chart, values, timezone)
        except BrokenProcessPool:
            # The drawing process died (killed, out of memory): a new one for the next chart,
            # and this one drawn here, so the patient still gets it.
            log.warning("chart process lost; started again")
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = self._new_pool()
            return await asyncio.to_thread(progress_chart, values, timezone)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
