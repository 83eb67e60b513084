"""Clinical content that ships with the package: coping exercises and pain education."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import yaml

PACKAGE = Path(__file__).resolve().parent
CATEGORIES = {"relaxation", "activity", "thinking", "sleep"}


class ContentError(ValueError):
    """A content file does not have the expected shape; the message says where."""


@dataclass(frozen=True)
class Exercise:
    id: str
    title: str
    in_a_sentence: str  # how it reads after "try": "planning something enjoyable"
    category: str
    minutes: int
    intro: str
    steps: tuple[str, ...]
    closing: str


@dataclass(frozen=True)
class Topic:
    id: str
    title: str
    keywords: tuple[str, ...]
    answer: str

    def score(self, text: str) -> int:
        """How strongly `text` points at this topic: the length of the keywords it contains."""
        lowered = text.lower()
        return sum(len(keyword) for keyword in self.keywords if keyword in lowered)


def _load(path: Path, key: str) -> list[dict[str, object]]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict) or not isinstance(data.get(key), list):
        raise ContentError(f"{path}: expected a top-level '{key}' list")
    return data[key]


@lru_cache(maxsize=1)
def exercises() -> dict[str, Exercise]:
    """The coping toolbox, keyed by exercise id, in the order it is offered."""
    path = PACKAGE / "coping" / "exercises.yml"
    catalogue: dict[str, Exercise] = {}
    for number, raw in enumerate(_load(path, "exercises"), start=1):
        try:
            exercise = Exercise(
                id=str(raw["id"]),
                title=str(raw["title"]),
                in_a_sentence=str(raw["in_a_sentence"]),
                category=str(raw["category"]),
                minutes=int(raw["minutes"]),  # type: ignore[call-overload]
                intro=str(raw["intro"]).strip(),
                steps=tuple(str(step).strip() for step in raw["steps"]),  # type: ignore[attr-defined]
                closing=str(raw["closing"]).strip(),
            )
        except (KeyError, TypeError, ValueError) as error:
            raise ContentError(
                f"{path}: exercise {number} is missing or has a bad {error}"
            ) from None
        if exercise.category not in CATEGORIES or not exercise.steps:
            raise ContentError(f"{path}: exercise '{exercise.id}' needs a category and steps")
        catalogue[exercise.id] = exercise
    return catalogue


@lru_cache(maxsize=1)
def topics() -> dict[str, Topic]:
    """Pain education topics, keyed by id."""
    path = PACKAGE / "education" / "topics.yml"
    found: dict[str, Topic] = {}
    for number, raw in enumerate(_load(path, "topics"), start=1):
        try:
            topic = Topic(
                id=str(raw["id"]),
                title=str(raw["title"]),
                keywords=tuple(str(k).lower() for k in raw["keywords"]),  # type: ignore[attr-defined]
                answer=str(raw["answer"]).strip(),
            )
        except (KeyError, TypeError) as error:
            raise ContentError(f"{path}: topic {number} is missing {error}") from None
        found[topic.id] = topic
    return found


def find_exercise(text: str | None) -> Exercise | None:
    """The exercise a patient named, by id, title or a telling word ("breathing", "pmr")."""
    if not text:
        return None
    lowered = text.strip().lower()
    catalogue = exercises()
    if lowered in catalogue:
        return catalogue[lowered]
    for exercise in catalogue.values():
        if lowered == exercise.title.lower():
            return exercise
    hints = {
        "breath": "paced_breathing",
        "muscle": "muscle_relaxation",
        "pmr": "muscle_relaxation",
        "tense": "muscle_relaxation",
        "scan": "body_scan",
        "mindful": "body_scan",
        "pacing": "activity_pacing",
        "pace": "activity_pacing",
        "boom": "activity_pacing",
        "thought": "thought_reframing",
        "reframe": "thought_reframing",
        "reframing": "thought_reframing",
        "catastroph": "thought_reframing",
        "pleasant": "pleasant_activities",
        "enjoy": "pleasant_activities",
        "fun": "pleasant_activities",
        "sleep": "sleep_tips",
    }
    for hint, exercise_id in hints.items():
        if hint in lowered and exercise_id in catalogue:
            return catalogue[exercise_id]
    return None


def find_topic(text: str | None, topic_id: str | None = None) -> Topic | None:
    """The education topic asked about, by entity value first, then by keywords."""
    catalogue = topics()
    if topic_id and topic_id in catalogue:
        return catalogue[topic_id]
    if not text:
        return None
    # The most specific match wins: "why does stress make it worse" is about stress.
    best = max(catalogue.values(), key=lambda topic: topic.score(text))
    return best if best.score(text) > 0 else None
