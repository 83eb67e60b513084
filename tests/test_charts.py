"""The progress chart: a phone-sized PNG of the last 30 days, in the patient's time zone."""

from __future__ import annotations

import io
import math
import os
import signal
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from PIL import Image

from paincoach.charts import (
    DPI,
    FIGURE_INCHES,
    ChartProcess,
    line_points,
    local_day,
    patient_zone,
    progress_chart,
    values_by_day,
)
from paincoach.db.models import CheckIn

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
TODAY = date(2026, 3, 31)
EXPECTED_PIXELS = (round(FIGURE_INCHES[0] * DPI), round(FIGURE_INCHES[1] * DPI))


def checkin(
    started_at: datetime,
    pain: int | None = 6,
    enjoyment: int | None = 5,
    activity: int | None = 7,
    mood: int | None = 4,
) -> CheckIn:
    return CheckIn(
        started_at=started_at,
        pain_average=pain,
        pain_enjoyment=enjoyment,
        pain_activity=activity,
        mood=mood,
        sleep_quality=5,
    )


def evening(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, 18, 30, tzinfo=UTC)


def month_with_gaps() -> list[CheckIn]:
    """A month of evening check-ins with a four-day gap, a one-day gap and a partial one."""
    missing = {20, 19, 18, 17, 11}
    checkins = []
    for back in range(29, -1, -1):
        if back in missing:
            continue
        day = TODAY - timedelta(days=back)
        pain = 7 - (29 - back) // 10
        checkins.append(checkin(evening(day), pain, pain - 1, pain, 10 - pain))
    checkins.append(checkin(evening(TODAY - timedelta(days=3)), None, None, None, 8))
    return checkins


def assert_png(data: bytes) -> Image.Image:
    assert data.startswith(PNG_SIGNATURE)
    image = Image.open(io.BytesIO(data))
    image.load()
    assert image.format == "PNG"
    assert image.size == EXPECTED_PIXELS
    return image


def test_month_with_gaps_is_a_phone_sized_png_under_200_kb() -> None:
    data = progress_chart(month_with_gaps(), "Europe/Oslo", today=TODAY)
    assert_png(data)
    width, height = EXPECTED_PIXELS
    assert 0.75 <= height / width <= 1.5  # square or portrait-ish, not a wide banner
    assert len(data) < 200_000


def test_no_checkins_gives_a_friendly_empty_chart() -> None:
    data = progress_chart([], "Europe/Oslo", today=TODAY)
    assert_png(data)
    assert len(data) < 200_000


def test_checkins_outside_the_window_count_as_none() -> None:
    old = [checkin(evening(TODAY - timedelta(days=45)))]
    assert progress_chart(old, today=TODAY) == progress_chart([], today=TODAY)


def test_the_chart_shows_the_data() -> None:
    assert progress_chart(month_with_gaps(), today=TODAY) != progress_chart([], today=TODAY)


def test_unknown_time_zone_falls_back_to_utc() -> None:
    assert patient_zone("Mars/Olympus_Mons") is UTC
    assert patient_zone("") is UTC
    assert patient_zone("../etc/passwd") is UTC
    assert patient_zone("Europe") is UTC
    assert patient_zone("Europe/Oslo") == ZoneInfo("Europe/Oslo")
    checkins = month_with_gaps()
    assert progress_chart(checkins, "Mars/Olympus_Mons", today=TODAY) == progress_chart(
        checkins, "UTC", today=TODAY
    )


def test_late_evening_utc_is_the_next_day_in_oslo() -> None:
    late = datetime(2026, 3, 1, 23, 30, tzinfo=UTC)
    oslo = ZoneInfo("Europe/Oslo")
    assert local_day(late, oslo) == date(2026, 3, 2)
    assert local_day(late, UTC) == date(2026, 3, 1)
    assert list(values_by_day([checkin(late)], oslo)) == [date(2026, 3, 2)]
    # Summer time: 22:30 UTC is already 00:30 the next day in Oslo.
    summer = datetime(2026, 7, 1, 22, 30, tzinfo=UTC)
    assert local_day(summer, oslo) == date(2026, 7, 2)


def test_the_latest_checkin_of_the_day_wins_and_partials_count_for_what_they_have() -> None:
    morning = datetime(2026, 3, 2, 7, 0, tzinfo=UTC)
    later = morning + timedelta(hours=10)
    days = values_by_day(
        [
            checkin(later, pain=8, enjoyment=None, activity=None, mood=None),
            checkin(morning, pain=4, enjoyment=2, activity=4, mood=7),
        ],
        UTC,
    )
    values = days[date(2026, 3, 2)]
    assert values.pain == 8
    assert values.interference == 3.0
    assert values.mood == 7


def test_interference_is_the_mean_of_peg_items_two_and_three() -> None:
    day = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
    values = values_by_day([checkin(day, pain=6, enjoyment=5, activity=8)], UTC)
    assert values[date(2026, 3, 2)].interference == 6.5
    only_one = values_by_day([checkin(day, pain=6, enjoyment=5, activity=None)], UTC)
    assert only_one[date(2026, 3, 2)].interference is None


def test_a_checkin_with_no_answers_is_not_a_day() -> None:
    empty = checkin(datetime(2026, 3, 2, 12, 0, tzinfo=UTC), None, None, None, None)
    assert values_by_day([empty], UTC) == {}


def test_long_gaps_break_the_line_and_a_single_missed_day_does_not() -> None:
    xs, ys = line_points([5, None, 6, None, None, 7, 7])
    assert xs[:2] == [0.0, 2.0]  # one missed day: joined
    assert math.isnan(xs[2]) and math.isnan(ys[2])  # two missed days: a gap
    assert xs[3:] == [5.0, 6.0]
    assert ys[3:] == [7.0, 7.0]


def test_two_threads_render_at_once() -> None:
    checkins = month_with_gaps()
    expected = progress_chart(checkins, "Europe/Oslo", today=TODAY)
    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(
            pool.map(lambda _: progress_chart(checkins, "Europe/Oslo", today=TODAY), range(4))
        )
    for data in results:
        assert_png(data)
        assert data == expected


async def test_the_chart_process_draws_what_the_gateway_would_draw_itself() -> None:
    charts = ChartProcess()
    try:
        drawn = await charts.progress_chart(month_with_gaps(), "Europe/Oslo")
        (worker,) = charts._pool._processes.values()  # type: ignore[union-attr]
    finally:
        charts.close()
    assert worker.pid != os.getpid()
    assert drawn == progress_chart(month_with_gaps(), "Europe/Oslo")


async def test_a_lost_chart_process_still_gives_the_patient_a_chart_and_is_replaced() -> None:
    charts = ChartProcess()
    try:
        await charts.progress_chart([], "UTC")
        (worker,) = charts._pool._processes.values()  # type: ignore[union-attr]
        assert worker.pid is not None
        os.kill(worker.pid, signal.SIGKILL)  # killed by hand, or out of memory
        worker.join(10)

        drawn = await charts.progress_chart(month_with_gaps(), "Europe/Oslo")
        assert drawn.startswith(PNG_SIGNATURE)
        again = await charts.progress_chart(month_with_gaps(), "Europe/Oslo")
        (replacement,) = charts._pool._processes.values()  # type: ignore[union-attr]
    finally:
        charts.close()
    assert again == drawn
    assert replacement.pid != worker.pid
