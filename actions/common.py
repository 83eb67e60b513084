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

from paincoach.body import body_part_meant
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


def body_part(tracker: Tracker) -> str | None:
    """The body part this turn is about: named in this message ("my back"), or in the
    message just before it when the patient is still on the same subject (same intent).
    A body part is never carried further, and never where it is not about the body
    ("get back to the gym")."""
    messages = [event for event in tracker.events if event.get("event") == "user"][-2:]
    if not messages:
        return None
    latest = messages[-1]
    topic = ((latest.get("parse_data") or {}).get("intent") or {}).get("name")
    for message in reversed(messages):
        parse = message.get("parse_data") or {}
        if message is not latest and (parse.get("intent") or {}).get("name") != topic:
            break
        for found in parse.get("entities") or []:
            if found.get("entity") == "body_part":
                meant = body_part_meant(str(message.get("text") or ""), str(found.get("value")))
                if meant:
                    return meant
    return None


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
    """A form validation that answers commands and questions in the middle of the form
    (actions/interruptions.py) and keeps the answer in the tracker when the database fails."""

    @abstractmethod
    def name(self) -> str: ...

    def not_an_answer(self, tracker: Tracker, domain: DomainDict) -> bool:
        """Whether the newest message cannot be the answer to the question asked."""
        from actions.interruptions import not_an_answer_by_domain

        slot, intent = tracker.get_slot("requested_slot"), latest_intent(tracker)
        return bool(slot and intent) and not_an_answer_by_domain(domain, str(slot), str(intent))

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> Events:
        from actions.interruptions import answer_and_offer_to_carry_on, interrupting_intent

        try:
            form = self.form_name()
            intent = interrupting_intent(tracker, domain, form, self.not_an_answer(tracker, domain))
            if intent is not None:
                return await answer_and_offer_to_carry_on(intent, dispatcher, tracker, domain, form)
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
