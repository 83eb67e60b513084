"""What every action shares: the store, the participant, and never raising to Rasa."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

import structlog
from rasa_sdk import Action, FormValidationAction, Tracker
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from paincoach.db.models import Participant
from paincoach.db.store import CoachStore, StoreError
from paincoach.settings import get_settings

log = structlog.get_logger("paincoach.actions")

APOLOGY = (
    "I'm sorry — something went wrong on my side while saving. Your answers are safe with "
    "me for now; please try again in a few minutes."
)
NOT_ENROLLED = (
    "Before I can keep track of anything for you, I need your consent. Type /start and "
    "I'll explain how it works."
)
SCALE = [{"title": str(n), "payload": str(n)} for n in range(11)]
YES_NO = [{"title": "Yes", "payload": "/affirm"}, {"title": "No", "payload": "/deny"}]
STOP = {"title": "Stop", "payload": "/stop"}

Events = list[dict[str, Any]]


@lru_cache(maxsize=1)
def store() -> CoachStore:
    return CoachStore(get_settings().database_url)


def participant(tracker: Tracker) -> Participant | None:
    """The consented participant behind this conversation, or None."""
    return store().participant(tracker.sender_id)


def probably_enrolled(tracker: Tracker) -> bool:
    """Whether a form should ask its questions. During a database outage it does, and the
    answers wait in the tracker until they can be saved."""
    try:
        return participant(tracker) is not None
    except StoreError:
        log.warning(
            "database unavailable; answers kept in the tracker", participant=tracker.sender_id
        )
        return True


def first_name(tracker: Tracker) -> str:
    nickname = tracker.get_slot("nickname")
    return f", {nickname}" if isinstance(nickname, str) and nickname else ""


def latest_intent(tracker: Tracker) -> str | None:
    intent = tracker.latest_message.get("intent") or {}
    return intent.get("name")


def latest_text(tracker: Tracker) -> str:
    return str(tracker.latest_message.get("text") or "")


def is_external(tracker: Tracker) -> bool:
    """Whether the latest "message" was triggered by us (safety net, reminder, push), not
    typed: Rasa marks those with the intent name behind this prefix."""
    return latest_text(tracker).startswith("EXTERNAL: ") or bool(
        (tracker.latest_message.get("metadata") or {}).get("is_external")
    )


def entity(tracker: Tracker, name: str) -> str | None:
    value = next(tracker.get_latest_entity_values(name), None)
    return str(value) if value is not None else None


def reset(*slots: str) -> Events:
    return [{"event": "slot", "name": slot, "value": None, "timestamp": None} for slot in slots]


class CoachAction(Action, ABC):
    """An action that apologises instead of raising when something fails underneath."""

    @abstractmethod
    def name(self) -> str: ...

    @abstractmethod
    async def act(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> Events: ...

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> Events:
        try:
            return await self.act(dispatcher, tracker, domain)
        except StoreError:
            log.exception("database error", action=self.name(), participant=tracker.sender_id)
            dispatcher.utter_message(text=APOLOGY)
            return []
        except Exception:
            log.exception("action failed", action=self.name(), participant=tracker.sender_id)
            dispatcher.utter_message(text="I'm sorry, I got muddled there. Could you try again?")
            return []


class CoachFormValidation(FormValidationAction, ABC):
    """A form validation that keeps the answer in the tracker when the database fails."""

    @abstractmethod
    def name(self) -> str: ...

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> Events:
        try:
            return await super().run(dispatcher, tracker, domain)
        except StoreError:
            log.exception("database error", action=self.name(), participant=tracker.sender_id)
            dispatcher.utter_message(text=APOLOGY)
            return []
        except Exception:
            log.exception("validation failed", action=self.name(), participant=tracker.sender_id)
            dispatcher.utter_message(text="Sorry, I didn't catch that. Could you say it again?")
            return []


class EnrolledAction(CoachAction, ABC):
    """An action about a consented participant's own data; others are pointed to /start."""

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> Events:
        try:
            enrolled = participant(tracker) is not None
        except StoreError:
            enrolled = True  # let act() meet the outage and apologise
        if not enrolled:
            dispatcher.utter_message(text=NOT_ENROLLED)
            return []
        return await super().run(dispatcher, tracker, domain)


class EnrolledFormValidation(CoachFormValidation, ABC):
    """A form for consented participants only: for anyone else it asks nothing."""

    async def required_slots(
        self,
        domain_slots: list[str],
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        domain: DomainDict,
    ) -> list[str]:
        return domain_slots if probably_enrolled(tracker) else []


def buttons(titles: Sequence[str]) -> list[dict[str, str]]:
    """Buttons whose payload is their own title, read by the form like typed text."""
    return [{"title": title, "payload": title} for title in titles]
