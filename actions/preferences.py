"""The patient's reminder preferences: check-in time, pause and resume."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.common import (
    EnrolledAction,
    EnrolledFormValidation,
    Events,
    reset,
    store,
)
from paincoach.preferences import parse_checkin_time


def read_checkin_time(value: Any, dispatcher: CollectingDispatcher) -> str | None:
    """A check-in time as "HH:MM", or a re-ask with an example."""
    checkin_time = parse_checkin_time(str(value or ""))
    if checkin_time is None:
        dispatcher.utter_message(text="I couldn't read that time. Try something like 8pm or 19:30.")
        return None
    return checkin_time.strftime("%H:%M")


class ValidateCheckinTimeForm(EnrolledFormValidation):
    """A time of day the patient would like to be reminded."""

    def name(self) -> str:
        return "validate_checkin_time_form"

    def validate_new_checkin_time(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        return {"new_checkin_time": read_checkin_time(value, dispatcher)}


class ActionSaveCheckinTime(EnrolledAction):
    """Store the new daily check-in time."""

    def name(self) -> str:
        return "action_save_checkin_time"

    async def act(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> Events:
        new_time = parse_checkin_time(str(tracker.get_slot("new_checkin_time")))
        if new_time is None:
            return reset("new_checkin_time")
        store().set_checkin_time(tracker.sender_id, new_time)
        dispatcher.utter_message(
            text=f"Done — I'll check in with you at {new_time:%H:%M} from now on."
        )
        return [*reset("new_checkin_time"), SlotSet("checkin_time", f"{new_time:%H:%M}")]


class ActionPauseReminders(EnrolledAction):
    """Pause the daily reminders until the patient resumes them."""

    def name(self) -> str:
        return "action_pause_reminders"

    async def act(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> Events:
        store().set_reminders_paused(tracker.sender_id, True)
        dispatcher.utter_message(
            text='Reminders paused. I won\'t message you until you say "resume reminders" '
            "(or /resume) — you can still talk to me any time."
        )
        return []


class ActionResumeReminders(EnrolledAction):
    """Turn the daily reminders back on."""

    def name(self) -> str:
        return "action_resume_reminders"

    async def act(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> Events:
        store().set_reminders_paused(tracker.sender_id, False)
        dispatcher.utter_message(text="Welcome back — your daily reminders are on again.")
        return []
