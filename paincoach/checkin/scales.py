"""Reading a 0–10 rating from what a patient types: "7", "seven", "about a 7", "7/10"."""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum

WORDS = {
    "zero": 0, "nil": 0, "nought": 0, "none": 0, "one": 1, "two": 2, "three": 3,
    "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9, "ten": 10,
    "eleven": 11, "twelve": 12, "twenty": 20, "fifty": 50, "hundred": 100,
}  # fmt: skip
NUMBER = r"-?\d+(?:[.,]\d+)?|" + "|".join(sorted(WORDS, key=len, reverse=True))
# "7/10", "7 out of 10": the scale's maximum is not a second answer.
OUT_OF = re.compile(r"\s*(?:/|out of|outta|of)\s*10\b")
TOKEN = re.compile(rf"(?<![\w.])({NUMBER})(?![\w])", re.IGNORECASE)
NO_PAIN = re.compile(r"\b(no pain|pain[- ]free|nothing at all|not at all)\b", re.IGNORECASE)


class Reading(Enum):
    OK = "ok"
    AMBIGUOUS = "ambiguous"  # "6 or 7": ask which, never guess
    NOT_WHOLE = "not_whole"  # "7.5": the scale has whole points only
    OUT_OF_RANGE = "out_of_range"
    NOT_A_NUMBER = "not_a_number"


@dataclass(frozen=True)
class Rating:
    reading: Reading
    value: int | None = None
    candidates: tuple[int, ...] = ()

    @property
    def ok(self) -> bool:
        return self.reading is Reading.OK


def _to_number(token: str) -> float:
    token = token.lower()
    if token in WORDS:
        return WORDS[token]
    return float(token.replace(",", "."))


def parse_rating(text: str | None, low: int = 0, high: int = 10) -> Rating:
    """Read one whole number between `low` and `high`, or say why it could not be read."""
    if not text or not text.strip():
        return Rating(Reading.NOT_A_NUMBER)
    cleaned = OUT_OF.sub(" ", text.strip()[:200])
    numbers = [_to_number(token) for token in TOKEN.findall(cleaned)]
    if not numbers:
        if low == 0 and NO_PAIN.search(text):
            return Rating(Reading.OK, 0)
        return Rating(Reading.NOT_A_NUMBER)
    distinct = list(dict.fromkeys(numbers))
    if len(distinct) > 1:
        whole = tuple(int(n) for n in distinct if n == int(n) and low <= n <= high)
        return Rating(Reading.AMBIGUOUS, candidates=whole or ())
    number = distinct[0]
    if number != int(number):
        lower, upper = int(number // 1), int(number // 1) + 1
        candidates = tuple(n for n in (lower, upper) if low <= n <= high)
        return Rating(Reading.NOT_WHOLE, candidates=candidates)
    if not low <= number <= high:
        return Rating(Reading.OUT_OF_RANGE, int(number))
    return Rating(Reading.OK, int(number))
