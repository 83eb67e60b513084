"""Reading 0–10 answers the way patients type them."""

import pytest

from paincoach.checkin.scales import Reading, parse_rating


@pytest.mark.parametrize(
    ("typed", "value"),
    [
        ("7", 7), ("seven", 7), ("about a 7", 7), ("7/10", 7), ("7 out of 10", 7),
        ("Seven.", 7), ("a solid 8 today", 8), ("0", 0), ("ten", 10), ("10/10", 10),
        ("no pain", 0), ("  4  ", 4), ("its a 4 today", 4),
    ],
)  # fmt: skip
def test_good_answers_are_read(typed: str, value: int) -> None:
    rating = parse_rating(typed)
    assert rating.reading is Reading.OK
    assert rating.value == value


@pytest.mark.parametrize(
    ("typed", "reading", "candidates"),
    [
        ("6 or 7", Reading.AMBIGUOUS, (6, 7)),
        ("six or seven", Reading.AMBIGUOUS, (6, 7)),
        ("7.5", Reading.NOT_WHOLE, (7, 8)),
        ("11", Reading.OUT_OF_RANGE, ()),
        ("-3", Reading.OUT_OF_RANGE, ()),
        ("lots", Reading.NOT_A_NUMBER, ()),
        ("🙂", Reading.NOT_A_NUMBER, ()),
        ("", Reading.NOT_A_NUMBER, ()),
        ("DROP TABLE checkins;", Reading.NOT_A_NUMBER, ()),
        ("x" * 5000, Reading.NOT_A_NUMBER, ()),
    ],
)
def test_bad_answers_say_why(typed: str, reading: Reading, candidates: tuple[int, ...]) -> None:
    rating = parse_rating(typed)
    assert rating.reading is reading
    assert rating.candidates == candidates
    assert not rating.ok


def test_other_ranges() -> None:
    assert parse_rating("3", low=1, high=7).value == 3
    assert parse_rating("0", low=1, high=7).reading is Reading.OUT_OF_RANGE
    assert parse_rating("twelve", low=0, high=30).value == 12
