"""/start: what the coach is and is not, consent, nickname, check-in time and time zone."""

from __future__ import annotations

from datetime import time
from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.common import (
    CoachAction,
    CoachFormValidation,
    Events,
    latest_intent,
    latest_text,
    participant,
    reset,
    store,
)
from actions.data_rights import ERASE_CONVERSATION
from actions.preferences import read_checkin_time
from paincoach import enrolment
from paincoach.db.store import Consent
from paincoach.preferences import parse_timezone
from paincoach.settings import get_settings

ONBOARDING_SLOTS = (
    "consent", "research_consent", "free_text_consent", "nickname", "checkin_time", "timezone",
)  # fmt: skip
YES_WORDS = ("yes", "yeah", "yep", "i agree", "agree", "ok", "okay", "sure", "fine", "y")
SIMPLE_YES_NO = "A simple yes or no is all I need here."
NO_WORDS = ("no", "nope", "nah", "i don't", "i do not", "don't agree", "disagree", "n")


def read_yes_no(tracker: Tracker) -> bool | None:
    """A yes or a no, from the buttons, the intent, or the words themselves."""
    intent = latest_intent(tracker)
    if intent == "affirm":
        return True
    if intent == "deny":
        return False
    text = latest_text(tracker).strip().lower().rstrip(".!")
    if text in YES_WORDS or text.startswith(("yes ", "yes,")):
        return True
    if text in NO_WORDS or text.startswith(("no ", "no,")):
        return False
    return None


class ActionStart(CoachAction):
    """Introduce the coach, or welcome back someone who already consented."""

    def name(self) -> str:
        return "action_start"

    async def act(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> Events:
        known = participant(tracker)
        if known is not None:
            name = f" {known.nickname}" if known.nickname else ""
            dispatcher.utter_message(text=f"Welcome back{name}! Good to see you.")
            return []
        settings = get_settings()
        dispatcher.utter_message(
            text=(
                "Hello, I'm PainCoach. I'm here to support you in living well with chronic "
                "pain: short daily check-ins, coping exercises, goals, and a way to reach "
                "your care team.\n\n"
                "What I'm not: I'm a computer program, not a doctor, and I can't give "
                "medical advice. I'm not an emergency service — in an emergency call "
                f"{settings.emergency_number}.\n\n"
                "Your data: I keep your answers under a random code, not your name, so you "
                "and your care team can see how you're doing. You can download or delete "
                "everything at any time (/mydata, /delete)."
            )
        )
        return []


class ValidateOnboardingForm(CoachFormValidation):
    """Check each onboarding answer; nothing is stored until the form is complete."""

    def name(self) -> str:
        return "validate_onboarding_form"

    async def required_slots(
        self,
        domain_slots: list[str],
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        domain: DomainDict,
    ) -> list[str]:
        if participant(tracker) is not None:
            return []
        if tracker.get_slot("consent") is False:
            return ["consent"]  # a refusal ends onboarding here
        if tracker.get_slot("research_consent") is False:  # free text is a research question
            return [slot for slot in domain_slots if slot != "free_text_consent"]
        return domain_slots

    @staticmethod
    def _yes_or_no(
        slot: str, dispatcher: CollectingDispatcher, tracker: Tracker, ask_again: str
    ) -> dict[str, Any]:
        answer = read_yes_no(tracker)
        if answer is None:
            dispatcher.utter_message(text=ask_again)
        return {slot: answer}

    def validate_consent(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        return self._yes_or_no(
            "consent", dispatcher, tracker, 'Please tap "Yes, I agree" or "No, thanks".'
        )

    def validate_research_consent(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        return self._yes_or_no("research_consent", dispatcher, tracker, SIMPLE_YES_NO)

    def validate_free_text_consent(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        return self._yes_or_no("free_text_consent", dispatcher, tracker, SIMPLE_YES_NO)

    def validate_nickname(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        nickname = clean_nickname(str(value or ""))
        if nickname is None:
            dispatcher.utter_message(
                text="Could you give me a short name, up to 30 letters? A first name is fine."
            )
        return {"nickname": nickname}

    def validate_checkin_time(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        return {"checkin_time": read_checkin_time(value, dispatcher)}

    def validate_timezone(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        timezone = parse_timezone(str(value or ""))
        if timezone is None:
            dispatcher.utter_message(
                text="I don't know that time zone. Try a big city near you, like London, or "
                "a name like Europe/London."
            )
        return {"timezone": timezone}


def clean_nickname(text: str) -> str | None:
    """A short display name from "call me Sam", "I'm Jo" or just "Sam"."""
    lowered = text.strip().lower()
    for prefix in ("call me ", "my name is ", "i'm ", "im ", "i am ", "it's ", "its "):
        if lowered.startswith(prefix):
            text = text.strip()[len(prefix) :]
            break
    nickname = " ".join(text.replace("/", " ").split()).strip(" .!,")
    if not nickname or len(nickname) > 30:
        return None
    return nickname


class ActionSubmitOnboarding(CoachAction):
    """Store the consent and preferences, or record a refusal and nothing else."""

    def name(self) -> str:
        return "action_submit_onboarding"

    async def act(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> Events:
        if participant(tracker) is not None:
            dispatcher.utter_message(response="utter_help")
            return []
        if tracker.get_slot("consent") is not True:
            # Only the bare fact of a refusal is kept: this conversation is erased as well.
            store().record_refusal()
            store().erase_participant(tracker.sender_id)
            dispatcher.utter_message(
                text="That's completely fine — I haven't stored anything about you. If you "
                "change your mind, just type /start."
            )
            dispatcher.utter_message(json_message=ERASE_CONVERSATION)
            return reset(*ONBOARDING_SLOTS)
        hour, minute = (int(p) for p in str(tracker.get_slot("checkin_time")).split(":"))
        # The enrolment code is kept only once redeemed, which ties the patient to its provider.
        consent = Consent(
            research=tracker.get_slot("research_consent") is True,
            free_text=tracker.get_slot("research_consent") is True
            and tracker.get_slot("free_text_consent") is True,
            nickname=str(tracker.get_slot("nickname")),
            checkin_time=time(hour, minute),
            timezone=str(tracker.get_slot("timezone")),
        )
        store().register_consent(tracker.sender_id, consent)
        dispatcher.utter_message(
            text=f"Thank you, {consent.nickname} — you're all set. I'll check in with you "
            f"every day at {consent.checkin_time:%H:%M} ({consent.timezone})."
        )
        code = tracker.get_slot("enrolment_code")
        if code:
            redemption = enrolment.redeem(str(code), tracker.sender_id, url=store().url)
            notice = enrolment.patient_notice(redemption, enrolled_now=True)
            if notice:
                dispatcher.utter_message(text=notice)
        dispatcher.utter_message(response="utter_help")
        return [SlotSet("enrolment_code", None)]
