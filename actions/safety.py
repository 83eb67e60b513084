"""Safety: crisis support with helplines, and urgent-care advice for medical red flags."""

from __future__ import annotations

from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.common import CoachAction, Events, entity, latest_intent, log, store
from actions.conversation import close_active_form
from paincoach.db.store import StoreError
from paincoach.settings import get_settings


def detected_by(tracker: Tracker) -> str:
    """Who noticed: the gateway's rule-based safety net (which triggers the intent with a
    `safety_net` entity, or flags the message metadata) or the NLU."""
    metadata = tracker.latest_message.get("metadata") or {}
    if metadata.get("safety_net") or entity(tracker, "safety_net"):
        return "safety_net"
    return "nlu"


def record(tracker: Tracker, kind: str) -> None:
    # The reply matters more than the record: a database failure must not silence it.
    try:
        store().record_safety_event(tracker.sender_id, kind, detected_by(tracker))
    except StoreError:
        log.exception("safety event not recorded", kind=kind, participant=tracker.sender_id)


class ActionCrisisSupport(CoachAction):
    """A warm reply with helpline and emergency numbers, and: are you safe right now?"""

    def name(self) -> str:
        return "action_crisis_support"

    async def act(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> Events:
        events, _ = close_active_form(tracker)
        settings = get_settings()
        dispatcher.utter_message(
            text="Thank you for telling me. I'm really sorry you're feeling this way, and "
            "I'm glad you reached out. You deserve support right now.\n\n"
            f"• Talk to someone now: {settings.helpline_name}, {settings.helpline_number} "
            "(free, any time)\n"
            f"• If you might act on these thoughts or are in danger: call "
            f"{settings.emergency_number}\n\n"
            f"I'm letting {settings.care_team_name} know so they can follow up with you."
        )
        dispatcher.utter_message(
            text="Are you safe right now?",
            buttons=[
                {"title": "Yes, I'm safe", "payload": "/affirm"},
                {"title": "No, I'm not safe", "payload": "/deny"},
            ],
        )
        record(tracker, "crisis")
        return events


class ActionCrisisFollowup(CoachAction):
    """Respond to the answer to "are you safe right now?" and note it for the care team."""

    def name(self) -> str:
        return "action_crisis_followup"

    async def act(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> Events:
        settings = get_settings()
        safe = latest_intent(tracker) == "affirm"
        try:
            store().mark_safe_now(tracker.sender_id, safe)
        except StoreError:
            log.exception("safe-now answer not recorded", participant=tracker.sender_id)
        if safe:
            dispatcher.utter_message(
                text="I'm glad you're safe. Please keep those numbers close, and reach out to "
                f"someone you trust today. {settings.helpline_name.capitalize()} is there on "
                f"{settings.helpline_number} whenever you need to talk."
            )
        else:
            dispatcher.utter_message(
                text=f"Please call {settings.emergency_number} now, or ask someone near you to "
                "help you call. If you can, move away from anything you could hurt yourself "
                f"with. You matter, and help is available right now."
            )
        return []


class ActionRedFlag(CoachAction):
    """Advise urgent medical care for red-flag symptoms."""

    def name(self) -> str:
        return "action_red_flag"

    async def act(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> Events:
        events, _ = close_active_form(tracker)
        settings = get_settings()
        dispatcher.utter_message(
            text="What you describe can be a sign of something that needs a doctor urgently, "
            "not just a flare-up. Please get medical help today: contact your doctor or an "
            f"urgent care service now, and call {settings.emergency_number} if it is severe, "
            "sudden or getting worse (for example new weakness or numbness in your legs, "
            "problems controlling your bladder or bowels, or chest pain).\n\n"
            f"I'm letting {settings.care_team_name} know too."
        )
        record(tracker, "red_flag")
        return events
