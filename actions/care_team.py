"""Talk to the care team: the patient's message goes to the care-team inbox."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.common import (
    EnrolledAction,
    EnrolledFormValidation,
    Events,
    reset,
    store,
)
from paincoach.settings import get_settings


class ValidateCareTeamForm(EnrolledFormValidation):
    """A non-empty message, kept as the patient wrote it."""

    def name(self) -> str:
        return "validate_care_team_form"

    def validate_care_team_message(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        text = str(value or "").strip()
        if not text or text.startswith("/"):
            dispatcher.utter_message(text="What would you like to say to them?")
            return {"care_team_message": None}
        if len(text) > 4000:
            dispatcher.utter_message(
                text="That's longer than I can pass on in one go (4,000 characters). Could "
                "you shorten it?"
            )
            return {"care_team_message": None}
        return {"care_team_message": text}


class ActionSubmitCareTeamMessage(EnrolledAction):
    """Put the message in the care-team inbox and say what happens next."""

    def name(self) -> str:
        return "action_submit_care_team_message"

    async def act(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> Events:
        store().add_care_team_message(tracker.sender_id, str(tracker.get_slot("care_team_message")))
        dispatcher.utter_message(
            text=f"Done — I've passed your message to {get_settings().care_team_name}. Their "
            "reply will appear here. For anything urgent, please phone them directly."
        )
        return reset("care_team_message")
