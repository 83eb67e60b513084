"""Reading a check-in time and a time zone from what a patient types."""

from __future__ import annotations

import re
from datetime import time
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

CLOCK = re.compile(
    r"\b(?P<hour>\d{1,2})(?:[:.h](?P<minute>\d{2}))?\s*(?P<meridiem>a\.?m\.?|p\.?m\.?)?(?!\d)",
    re.IGNORECASE,
)
# How people say a clock time in words: "half 8", "half past eight", "quarter to nine".
HOUR_WORDS = {
    "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
    "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12,
}  # fmt: skip
_HOUR = rf"(?P<hour>\d{{1,2}}|{'|'.join(HOUR_WORDS)})"
SPOKEN = re.compile(
    rf"\b(?P<part>half|quarter)\s+(?:(?P<relation>past|to|after)\s+)?{_HOUR}\b", re.IGNORECASE
)
# Named times of day; longer phrases first, so "after lunch" wins over "lunch".
NAMED_TIMES = {
    "first thing": time(8, 0),
    "after breakfast": time(9, 30),
    "after lunch": time(13, 30),
    "after the school run": time(9, 30),
    "after dinner": time(19, 30),
    "after tea": time(19, 0),
    "before bed": time(21, 30),
    "morning": time(9, 0),
    "lunchtime": time(12, 30),
    "lunch": time(12, 30),
    "noon": time(12, 0),
    "midday": time(12, 0),
    "afternoon": time(15, 0),
    "evening": time(19, 0),
    "night": time(21, 0),
    "bedtime": time(21, 30),
}
# Names patients use that are not IANA zone names.
ZONE_ALIASES = {
    "uk": "Europe/London", "gb": "Europe/London", "england": "Europe/London",
    "scotland": "Europe/London", "wales": "Europe/London", "britain": "Europe/London",
    "ireland": "Europe/Dublin", "gmt": "Europe/London", "bst": "Europe/London",
    "cet": "Europe/Berlin", "cest": "Europe/Berlin", "germany": "Europe/Berlin",
    "netherlands": "Europe/Amsterdam", "holland": "Europe/Amsterdam",
    "norway": "Europe/Oslo", "sweden": "Europe/Stockholm", "denmark": "Europe/Copenhagen",
    "france": "Europe/Paris", "spain": "Europe/Madrid", "italy": "Europe/Rome",
    "finland": "Europe/Helsinki", "eet": "Europe/Helsinki",
    "est": "America/New_York", "edt": "America/New_York", "eastern": "America/New_York",
    "cst": "America/Chicago", "central": "America/Chicago",
    "mst": "America/Denver", "mountain": "America/Denver",
    "pst": "America/Los_Angeles", "pdt": "America/Los_Angeles", "pacific": "America/Los_Angeles",
    "new york": "America/New_York", "nyc": "America/New_York", "la": "America/Los_Angeles",
    "india": "Asia/Kolkata", "ist": "Asia/Kolkata", "japan": "Asia/Tokyo",
    "australia": "Australia/Sydney", "new zealand": "Pacific/Auckland", "nz": "Pacific/Auckland",
    "utc": "UTC", "z": "UTC",
}  # fmt: skip
OFFSET = re.compile(r"^(?:utc|gmt)?\s*([+-])\s*(\d{1,2})(?::?00)?$", re.IGNORECASE)


def parse_checkin_time(text: str | None) -> time | None:
    """A time of day from "8pm", "20:00", "8.30 am", "half 8", "quarter to nine",
    "7 in the evening", "after lunch" or "morning"."""
    if not text:
        return None
    lowered = text.strip().lower()[:100]
    spoken = SPOKEN.search(lowered)
    if spoken:
        hour = HOUR_WORDS.get(spoken["hour"]) or int(spoken["hour"])
        minute = 30 if spoken["part"] == "half" else 15
        if spoken["relation"] == "to":
            hour, minute = hour - 1, 45
        # Rewritten as a clock time, so "in the evening" or "pm" still make it 20:30.
        lowered = f"{hour}:{minute:02d} " + lowered[: spoken.start()] + lowered[spoken.end() :]
    match = CLOCK.search(lowered)
    if match:
        hour = int(match["hour"])
        minute = int(match["minute"] or 0)
        meridiem = (match["meridiem"] or "").replace(".", "")
        if not meridiem and re.search(r"\b(evening|night|pm|afternoon)\b", lowered):
            meridiem = "pm"
        if meridiem:
            if not 1 <= hour <= 12:
                return None
            hour = hour % 12 + (12 if meridiem == "pm" else 0)
        if 0 <= hour <= 23 and 0 <= minute <= 59:
            return time(hour, minute)
        return None
    for word, named in NAMED_TIMES.items():
        if re.search(rf"\b{word}s?\b", lowered):
            return named
    return None


@lru_cache(maxsize=1)
def _zones_by_city() -> dict[str, str]:
    """'london' → 'Europe/London', 'new york' → 'America/New_York', from the IANA database."""
    by_city: dict[str, str] = {}
    for name in sorted(available_timezones()):
        if "/" in name and not name.startswith(("Etc/", "SystemV/", "US/")):
            by_city.setdefault(name.rsplit("/", 1)[1].replace("_", " ").lower(), name)
    return by_city


def parse_timezone(text: str | None) -> str | None:
    """An IANA time zone name from "Europe/London", "london", "uk" or "UTC+1"."""
    if not text:
        return None
    cleaned = re.sub(r"\b(i'?m in|i live in|in|time|zone|timezone)\b", " ", text.lower()[:100])
    cleaned = re.sub(r"\s+", " ", cleaned).strip(" .!,")
    if not cleaned:
        return None
    offset = OFFSET.match(cleaned.replace(" ", ""))
    if offset:
        hours = int(offset[2])
        if hours > 14:
            return None
        # Etc/GMT signs are inverted by POSIX convention: UTC+1 is Etc/GMT-1.
        sign = "-" if offset[1] == "+" else "+"
        return "UTC" if hours == 0 else f"Etc/GMT{sign}{hours}"
    if cleaned in ZONE_ALIASES:
        return ZONE_ALIASES[cleaned]
    candidate = cleaned.replace(" ", "_")
    for name in (candidate, candidate.title(), "/".join(p.title() for p in candidate.split("/"))):
        if "/" in name or name == "UTC":
            try:
                ZoneInfo(name)
            except (ZoneInfoNotFoundError, ValueError):
                continue
            return name
    return _zones_by_city().get(cleaned)
