"""Reading check-in times and time zones."""

from datetime import time

import pytest

from paincoach.preferences import parse_checkin_time, parse_timezone


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("8pm", time(20)), ("20:00", time(20)), ("8.30 am", time(8, 30)),
        ("7 in the evening", time(19)), ("morning", time(9)), ("9:15", time(9, 15)),
        ("12am", time(0)), ("12pm", time(12)),
        # Times written every way patients write them.
        ("half 8", time(8, 30)), ("make it half 8 in the evening", time(20, 30)),
        ("quarter to nine", time(8, 45)), ("quarter past 7 pm", time(19, 15)),
        ("half past eight", time(8, 30)), ("after lunch", time(13, 30)), ("20:30", time(20, 30)),
        ("first thing", time(8)), ("before bed", time(21, 30)), ("evenings", time(19)),
    ],
)  # fmt: skip
def test_times(typed: str, expected: time) -> None:
    assert parse_checkin_time(typed) == expected


@pytest.mark.parametrize("typed", ["25:00", "13pm", "whenever", "", "🙂", "9:75"])
def test_unreadable_times(typed: str) -> None:
    assert parse_checkin_time(typed) is None


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("Europe/London", "Europe/London"), ("london", "Europe/London"), ("UK", "Europe/London"),
        ("UTC+1", "Etc/GMT-1"), ("utc-5", "Etc/GMT+5"), ("new york", "America/New_York"),
        ("I live in Oslo", "Europe/Oslo"), ("america/new_york", "America/New_York"),
        ("utc", "UTC"),
    ],
)  # fmt: skip
def test_time_zones(typed: str, expected: str) -> None:
    assert parse_timezone(typed) == expected


@pytest.mark.parametrize("typed", ["atlantis", "", "utc+20", "DROP TABLE", "x" * 5000])
def test_unknown_time_zones(typed: str) -> None:
    assert parse_timezone(typed) is None
