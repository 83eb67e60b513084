"""The patient page's charts: 30 days of pain, interference, mood and sleep, as one SVG.

Drawn on the server with matplotlib (no chart script in the browser), one small panel per
measure, in the patient's own time zone, with the same colours as the patient's chart.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from datetime import date, datetime, timedelta

import matplotlib
from matplotlib.backends.backend_svg import FigureCanvasSVG
from matplotlib.figure import Figure

from paincoach.charts import INTERFERENCE, MOOD, PAIN, line_points, local_day, patient_zone
from paincoach.db.models import CheckIn

SLEEP_COLOUR = "#CC79A7"  # Okabe–Ito reddish purple, beside the patient chart's three
PANELS = (
    ("Pain", PAIN.colour, "10 = worst"),
    ("Interference", INTERFERENCE.colour, "10 = worst"),
    ("Mood", MOOD.colour, "10 = very good"),
    ("Sleep quality", SLEEP_COLOUR, "10 = very good"),
)


def daily_values(
    checkins: Sequence[CheckIn], timezone: str
) -> dict[date, tuple[float | None, ...]]:
    """Per local day: pain, interference, mood, sleep, each from the latest check-in with it."""
    zone = patient_zone(timezone)
    latest: dict[date, dict[str, int]] = {}
    for checkin in sorted(checkins, key=lambda c: c.started_at):
        answers = latest.setdefault(local_day(checkin.started_at, zone), {})
        for item in ("pain_average", "pain_enjoyment", "pain_activity", "mood", "sleep_quality"):
            value = getattr(checkin, item)
            if value is not None:
                answers[item] = value
    result: dict[date, tuple[float | None, ...]] = {}
    for day, items in latest.items():
        enjoyment, activity = items.get("pain_enjoyment"), items.get("pain_activity")
        interference = (
            (enjoyment + activity) / 2 if enjoyment is not None and activity is not None else None
        )
        result[day] = (
            items.get("pain_average"),
            interference,
            items.get("mood"),
            items.get("sleep_quality"),
        )
    return result


def record_charts(
    checkins: Sequence[CheckIn], timezone: str, days: int = 30, today: date | None = None
) -> str:
    """An SVG document with one panel per measure over the last `days` days."""
    zone = patient_zone(timezone)
    today = today or datetime.now(zone).date()
    window = [today - timedelta(days=days - 1 - i) for i in range(days)]
    by_day = daily_values(checkins, timezone)

    # Constrained layout sizes the four panels to the figure (tight_layout shrank them).
    figure = Figure(figsize=(9.0, 6.4), dpi=100, facecolor="white", layout="constrained")
    FigureCanvasSVG(figure)
    grid = figure.subplots(2, 2, sharex=True, sharey=True)
    step = max(1, round(days / 4.3))
    ticks = list(range(days - 1, -1, -step))[::-1]
    for index, (axes, (title, colour, scale)) in enumerate(zip(grid.flat, PANELS, strict=True)):
        values = [by_day[day][index] if day in by_day else None for day in window]
        xs, ys = line_points(values)
        axes.plot(xs, ys, color=colour, linewidth=2.2, marker="o", markersize=5, clip_on=False)
        axes.set_title(f"{title} ({scale})", loc="left", fontsize=10)
        axes.set_ylim(-0.4, 10.4)
        axes.set_yticks([0, 5, 10])
        axes.set_xlim(-0.7, days - 0.3)
        axes.set_xticks(ticks, [f"{window[i].day} {window[i]:%b}" for i in ticks])
        axes.tick_params(labelsize=9)
        axes.grid(axis="y", color="#e3e3e3")
        axes.set_axisbelow(True)
        for side in ("top", "right"):
            axes.spines[side].set_visible(False)
        if not ys:
            axes.text(0.5, 0.5, "no answers in these days", transform=axes.transAxes,
                      ha="center", va="center", fontsize=10, color="#666666")  # fmt: skip
    buffer = io.StringIO()
    with matplotlib.rc_context({"svg.hashsalt": "paincoach"}):  # same ids, page after page
        figure.savefig(buffer, format="svg", facecolor="white", metadata={"Date": None})
    return buffer.getvalue()
