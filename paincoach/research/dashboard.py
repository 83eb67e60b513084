"""The engagement dashboard: six small tables, each drawn as a chart on the server.

Every figure comes from the same producers as the exports (`paincoach.research.exports`), so a
number on the dashboard matches the number in the CSV a researcher downloads; only who was
active on which day is counted here, from the messages each participant typed and their
check-ins. Charts are SVG from matplotlib, drawn without a display; no script in the browser.
"""

from __future__ import annotations

import csv
import io
import statistics
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import matplotlib
from matplotlib.backends.backend_svg import FigureCanvasSVG
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from paincoach.db.engine import session_scope
from paincoach.research import exports
from paincoach.research.exports import Window
from paincoach.research.members import members
from paincoach.research.tracker import TrackerEvents
from paincoach.settings import Settings

INK, ACCENT, SPREAD, WARN, DANGER = "#1d2530", "#0b5cab", "#9ec5ef", "#e69f00", "#b3261e"


@dataclass(frozen=True)
class Table:
    """A chart's data: the columns of its CSV and its rows."""

    columns: tuple[str, ...]
    rows: list[tuple[Any, ...]]

    def csv(self) -> str:
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(self.columns)
        writer.writerows(
            tuple("" if value is None else value for value in row) for row in self.rows
        )
        return buffer.getvalue()


def _round(value: float | None, places: int = 3) -> float | None:
    return None if value is None else round(value, places)


def active_per_day(settings: Settings, window: Window) -> Table:
    """How many participants wrote to the coach or checked in, per day of their own calendar."""
    tracker = TrackerEvents(settings.tracker_store_url)
    with session_scope(settings.database_url) as session:
        found = members(session, window.arm)
    active: defaultdict[date, set[str]] = defaultdict(set)
    for member in found:
        for direction, timestamp in tracker.messages(member.pseudonym):
            if direction == "in":
                day = member.local_day(datetime.fromtimestamp(timestamp, UTC))
                if window.contains(day):
                    active[day].add(member.pseudonym)
    for row in exports.checkins(settings, window):
        active[row["local_date"]].add(row["pseudonym"])
    if not active:
        return Table(("date", "active_participants"), [])
    first = window.since or min(active)
    last = window.until or max(active)
    rows = []
    day = first
    while day <= last:
        rows.append((day.isoformat(), len(active.get(day, ()))))
        day += timedelta(days=1)
    return Table(("date", "active_participants"), rows)


def adherence(settings: Settings, window: Window) -> Table:
    """Check-in days over days enrolled in the window, per participant and overall."""
    rows: list[tuple[Any, ...]] = []
    days = checkin_days = 0
    for row in exports.engagement(settings, window):
        rows.append(
            (
                row["pseudonym"],
                row["study_arm"] or "",
                row["checkin_days"],
                row["days_in_window"],
                _round(row["checkin_adherence"]),
            )
        )
        days += row["days_in_window"]
        checkin_days += row["checkin_days"]
    rows.sort(key=lambda r: (-(r[4] or 0), r[0]))
    rows.append(("overall", "", checkin_days, days, _round(checkin_days / days if days else None)))
    return Table(("pseudonym", "study_arm", "checkin_days", "days", "adherence"), rows)


def retention(settings: Settings, window: Window) -> Table:
    """Share of participants still active by day since enrolment: of those enrolled at least
    that many days ago, how many were active on that day or later."""
    last_active: dict[str, int | None] = {}
    enrolled_days: dict[str, int] = {}
    for row in exports.engagement(settings, window):
        last_active[row["pseudonym"]] = row["last_active_day_number"]
        enrolled_days[row["pseudonym"]] = (row["window_end"] - row["enrolled_date"]).days
    if not enrolled_days:
        return Table(("day_since_enrolment", "at_risk", "still_active", "share"), [])
    rows = []
    for day in range(max(enrolled_days.values()) + 1):
        at_risk = [p for p, enrolled in enrolled_days.items() if enrolled >= day]
        still = [p for p in at_risk if (last_active[p] or -1) >= day]
        rows.append((day, len(at_risk), len(still), _round(len(still) / len(at_risk))))
    return Table(("day_since_enrolment", "at_risk", "still_active", "share"), rows)


def module_completion(settings: Settings, window: Window) -> Table:
    """Per module: how many participants it was assigned to, started and completed."""
    counts: defaultdict[str, Counter[str]] = defaultdict(Counter)
    for row in exports.modules(settings, window):
        tally = counts[row["module_id"]]
        tally["assigned"] += 1
        tally["started"] += row["started_at_utc"] is not None
        tally["completed"] += row["status"] == "completed"
    rows = [
        (
            module,
            c["assigned"],
            c["started"],
            c["completed"],
            _round(c["completed"] / c["assigned"] if c["assigned"] else None),
        )
        for module, c in sorted(counts.items())
    ]
    return Table(("module_id", "assigned", "started", "completed", "completion_rate"), rows)


def peg_by_week(settings: Settings, window: Window) -> Table:
    """Mean PEG score (Krebs et al. 2009) with its spread, by week since enrolment (week 1 is
    the day of consent and the six days after it); one value per participant and day."""
    scores: defaultdict[int, list[float]] = defaultdict(list)
    for row in exports.checkins(settings, window):
        if row["peg_score"] is not None and row["day_number"] >= 0:
            scores[row["day_number"] // 7 + 1].append(float(row["peg_score"]))
    rows = []
    for week, values in sorted(scores.items()):
        spread = statistics.stdev(values) if len(values) > 1 else 0.0
        quartiles = statistics.quantiles(values, n=4) if len(values) > 1 else [values[0]] * 3
        rows.append(
            (
                week,
                len(values),
                _round(statistics.fmean(values), 2),
                _round(spread, 2),
                _round(quartiles[0], 2),
                _round(statistics.median(values), 2),
                _round(quartiles[2], 2),
            )
        )
    return Table(("week_since_enrolment", "n", "mean_peg", "sd", "q1", "median", "q3"), rows)


def safety_per_week(settings: Settings, window: Window) -> Table:
    """Safety events (crisis, red flag) per calendar week, by the Monday it starts on (UTC)."""
    counts: defaultdict[date, Counter[str]] = defaultdict(Counter)
    for row in exports.safety(settings, window):
        moment: datetime = row["created_at_utc"]
        monday = moment.date() - timedelta(days=moment.weekday())
        counts[monday][row["kind"]] += 1
    rows = [
        (monday.isoformat(), c["crisis"], c["red_flag"], sum(c.values()))
        for monday, c in sorted(counts.items())
    ]
    return Table(("week_starting", "crisis", "red_flag", "total"), rows)


# --- drawing ------------------------------------------------------------------------------


def _figure() -> tuple[Figure, Any]:
    figure = Figure(figsize=(7.2, 2.8), layout="constrained")
    FigureCanvasSVG(figure)
    axes = figure.add_subplot()
    for side in ("top", "right"):
        axes.spines[side].set_visible(False)
    axes.grid(axis="y", color="#e3e3e3")
    axes.set_axisbelow(True)
    axes.tick_params(labelsize=8)
    return figure, axes


def _svg(figure: Figure) -> str:
    buffer = io.StringIO()
    with matplotlib.rc_context({"svg.hashsalt": "paincoach"}):
        figure.savefig(buffer, format="svg", facecolor="white", metadata={"Date": None})
    return buffer.getvalue()


def _empty(axes: Any) -> None:
    axes.text(
        0.5,
        0.5,
        "no data for these filters",
        transform=axes.transAxes,
        ha="center",
        va="center",
        fontsize=10,
        color="#666666",
    )
    axes.set_xticks([])
    axes.set_yticks([])


def _ticks(axes: Any, labels: list[str], most: int = 12) -> None:
    step = max(1, -(-len(labels) // most))
    positions = list(range(0, len(labels), step))
    axes.set_xticks(positions, [labels[i] for i in positions], rotation=0)


def draw(chart: str, table: Table) -> str:
    """The chart as SVG."""
    figure, axes = _figure()
    rows = table.rows
    if chart == "adherence":
        rows = [r for r in rows if r[0] != "overall"]
    if not rows:
        _empty(axes)
        return _svg(figure)
    if chart == "active":
        axes.bar(range(len(rows)), [r[1] for r in rows], color=ACCENT, width=0.8)
        _ticks(axes, [date.fromisoformat(r[0]).strftime("%d %b") for r in rows])
        axes.set_ylabel("participants", fontsize=8)
        axes.yaxis.set_major_locator(MaxNLocator(integer=True))
    elif chart == "adherence":
        overall = table.rows[-1][4]
        axes.bar(range(len(rows)), [(r[4] or 0) * 100 for r in rows], color=ACCENT)
        if overall is not None:
            axes.axhline(
                overall * 100,
                color=WARN,
                linestyle="--",
                linewidth=1.2,
                label=f"overall {overall * 100:.0f}%",
            )
            axes.legend(fontsize=8, frameon=False, loc="upper right")
        _ticks(axes, [r[0][:10] for r in rows], most=10)
        axes.set_ylim(0, 105)
        axes.set_ylabel("% of days", fontsize=8)
    elif chart == "retention":
        axes.step(
            [r[0] for r in rows],
            [(r[3] or 0) * 100 for r in rows],
            where="post",
            color=ACCENT,
            linewidth=1.8,
        )
        axes.set_ylim(0, 105)
        axes.set_xlabel("days since enrolment", fontsize=8)
        axes.set_ylabel("% still active", fontsize=8)
    elif chart == "modules":
        axes.bar(range(len(rows)), [(r[4] or 0) * 100 for r in rows], color=ACCENT)
        _ticks(axes, [r[0] for r in rows])
        for label in axes.get_xticklabels():
            label.set_rotation(30)
            label.set_horizontalalignment("right")
        axes.set_ylim(0, 105)
        axes.set_ylabel("% completed", fontsize=8)
    elif chart == "peg":
        weeks = [r[0] for r in rows]
        axes.fill_between(
            weeks,
            [r[4] for r in rows],
            [r[6] for r in rows],
            color=SPREAD,
            alpha=0.6,
            label="middle half (IQR)",
            step=None,
        )
        axes.errorbar(
            weeks,
            [r[2] for r in rows],
            yerr=[r[3] for r in rows],
            color=INK,
            marker="o",
            markersize=4,
            capsize=3,
            linewidth=1.4,
            label="mean ± SD",
        )
        axes.set_ylim(0, 10.4)
        axes.set_xticks(weeks)
        axes.set_xlabel("week since enrolment", fontsize=8)
        axes.set_ylabel("PEG (0–10)", fontsize=8)
        axes.legend(fontsize=8, frameon=False, loc="upper right")
    elif chart == "safety":
        positions = range(len(rows))
        axes.bar(positions, [r[1] for r in rows], color=DANGER, label="crisis")
        axes.bar(
            positions,
            [r[2] for r in rows],
            bottom=[r[1] for r in rows],
            color=WARN,
            label="red flag",
        )
        _ticks(axes, [date.fromisoformat(r[0]).strftime("%d %b") for r in rows])
        axes.set_ylabel("events", fontsize=8)
        axes.yaxis.set_major_locator(MaxNLocator(integer=True))
        axes.legend(fontsize=8, frameon=False, loc="upper right")
    return _svg(figure)


@dataclass(frozen=True)
class Chart:
    key: str
    title: str
    explanation: str
    table: Callable[[Settings, Window], Table]


CHARTS = {
    chart.key: chart
    for chart in (
        Chart(
            "active",
            "Active participants per day",
            "Participants who wrote to the coach or checked in, by their own calendar day.",
            active_per_day,
        ),
        Chart(
            "adherence",
            "Check-in adherence",
            "Days with a check-in over days enrolled in the period, per participant; "
            "the dashed line is all participants together.",
            adherence,
        ),
        Chart(
            "retention",
            "Retention",
            "Of the participants enrolled at least that many days ago, the share active on "
            "that day since enrolment or later.",
            retention,
        ),
        Chart(
            "modules",
            "Module completion",
            "Of the participants a module was pushed to, the share who completed it.",
            module_completion,
        ),
        Chart(
            "peg",
            "Mean PEG by week since enrolment",
            "PEG score (mean of pain, enjoyment and activity interference; Krebs et al. 2009), "
            "one value per participant and day: mean ± SD and the middle half.",
            peg_by_week,
        ),
        Chart(
            "safety",
            "Safety events per week",
            "Crisis and red-flag responses of participants in the research, by week (UTC).",
            safety_per_week,
        ),
    )
}
