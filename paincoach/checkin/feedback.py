"""Warm feedback after a check-in: how today compares with the patient's last 7 days."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from statistics import mean

from paincoach.db.models import CheckIn

VERY_LOW_MOOD = 2  # a mood of 0, 1 or 2 out of 10 is acknowledged, whatever the average


@dataclass(frozen=True)
class Feedback:
    message: str
    worse: bool  # pain up or mood down by more than the threshold: offer an exercise
    very_low_mood: bool = False  # acknowledged on its own, and support offered


def _average(checkins: Sequence[CheckIn], item: str) -> float | None:
    values = [getattr(c, item) for c in checkins if getattr(c, item) is not None]
    return mean(values) if values else None


def compare_with_last_week(
    today: CheckIn, last_week: Sequence[CheckIn], threshold: float = 1.0
) -> Feedback:
    """Compare today's pain and mood with the average of the previous 7 days."""
    feedback = _compare(today, last_week, threshold)
    if today.mood is None or today.mood > VERY_LOW_MOOD:
        return feedback
    return Feedback(
        f"{feedback.message} I can see your mood is very low today ({today.mood}/10), and I'm "
        "sorry things feel so hard right now.",
        worse=True,
        very_low_mood=True,
    )


def _compare(today: CheckIn, last_week: Sequence[CheckIn], threshold: float) -> Feedback:
    earlier = [c for c in last_week if c.id != today.id]
    pain_before = _average(earlier, "pain_average")
    mood_before = _average(earlier, "mood")
    if today.pain_average is None or pain_before is None:
        return Feedback(
            "Thank you — that's your check-in saved. After a few more days I'll be able to "
            "show you how things are changing.",
            worse=today.pain_average is not None and today.pain_average >= 7,
        )
    pain_change = today.pain_average - pain_before
    mood_change = (
        (today.mood - mood_before) if today.mood is not None and mood_before is not None else 0.0
    )
    pain_worse = pain_change > threshold
    mood_worse = mood_change < -threshold
    if pain_worse:
        first = (
            f"Your pain is {today.pain_average}/10 today, higher than your recent average of "
            f"{pain_before:.1f}. I'm sorry it's a tougher day."
        )
    elif pain_change < -threshold:
        first = (
            f"Your pain is {today.pain_average}/10 today, lower than your recent average of "
            f"{pain_before:.1f}. That's good to see."
        )
    else:
        first = (
            f"Your pain is {today.pain_average}/10, about the same as your recent average "
            f"of {pain_before:.1f}."
        )
    if mood_worse:
        second = " Your mood is lower than it has been, too."
    elif mood_change > threshold:
        second = " And your mood is brighter than last week."
    else:
        second = ""
    return Feedback(first + second + " Thanks for checking in.", worse=pain_worse or mood_worse)
