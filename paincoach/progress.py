"""The patient's progress over the last 30 days, in two lines."""

from __future__ import annotations

from collections.abc import Sequence
from statistics import mean

from paincoach.db.models import CheckIn


def _mean(values: Sequence[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return mean(present) if present else None


def summarise(checkins: Sequence[CheckIn], days: int = 30) -> str:
    """Two lines: how many check-ins and the averages, then the direction of travel."""
    if not checkins:
        return (
            f"You haven't checked in during the last {days} days yet.\n"
            'Say "check in" and we\'ll start building your picture together.'
        )
    pain = _mean([c.pain_average for c in checkins])
    peg = _mean([c.peg_score for c in checkins])
    mood = _mean([c.mood for c in checkins])
    parts = [f"{len(checkins)} check-in{'s' if len(checkins) != 1 else ''} in {days} days"]
    if pain is not None:
        parts.append(f"average pain {pain:.1f}/10")
    if peg is not None:
        parts.append(f"PEG {peg:.1f}")
    if mood is not None:
        parts.append(f"mood {mood:.1f}/10")
    first = ", ".join(parts) + "."
    half = len(checkins) // 2
    early = _mean([c.pain_average for c in checkins[:half]]) if half else None
    late = _mean([c.pain_average for c in checkins[half:]]) if half else None
    if early is None or late is None:
        second = "Keep checking in and I'll show you the trend."
    elif late < early - 0.5:
        second = f"Your pain has eased from about {early:.1f} to {late:.1f} — well done."
    elif late > early + 0.5:
        second = (
            f"Your pain has risen from about {early:.1f} to {late:.1f}. It may be worth "
            "looking at your flare-up plan or telling your care team."
        )
    else:
        second = "Your pain has been fairly steady — steady is something to build on."
    return f"{first}\n{second}"
