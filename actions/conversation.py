"""Conversation control: greeting, stopping whatever is running, and the two-stage fallback."""

from __future__ import annotations

from rasa_sdk import Tracker
from rasa_sdk.events import ActiveLoop, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.checkin import CHECKIN_SLOTS, save_checkin
from actions.common import CoachAction, Events, log, participant, reset
from actions.coping import COPING_SLOTS, save_coping_session
from actions.flare_up import PLAN_SLOTS
from actions.modules import modules, saved_place_note

FORM_SLOTS: dict[str, tuple[str, ...]] = {
    "checkin_form": CHECKIN_SLOTS,
    "coping_form": (*COPING_SLOTS, "exercise_step"),
    "flare_plan_form": tuple(PLAN_SLOTS),
    "goal_form": ("goal_activity", "goal_frequency"),
    "goal_review_form": ("goal_times_done",),
    "care_team_form": ("care_team_message",),
    "checkin_time_form": ("new_checkin_time",),
    "onboarding_form": (),  # half-given consent is kept so /start can carry on
    "module_form": ("module_answer",),  # the module and step are kept to resume
}


def close_form(tracker: Tracker, form: str | None) -> Events:
    """End `form`, running or interrupted by a safety question, keeping what was answered."""
    if not form:
        return []
    try:
        if form == "checkin_form":
            save_checkin(tracker, completed=False)
        elif form == "coping_form":
            save_coping_session(tracker, completed=False)
        elif form == "module_form" and tracker.get_slot("module_id"):
            step = int(tracker.get_slot("module_step") or 0)
            modules().pause(tracker.sender_id, str(tracker.get_slot("module_id")), step)
    except Exception:  # nothing may stand between a patient in crisis and the reply
        log.exception("could not keep the partial answers", form=form)
    return [ActiveLoop(None), SlotSet("requested_slot", None), *reset(*FORM_SLOTS.get(form, ()))]


def close_active_form(tracker: Tracker) -> tuple[Events, str | None]:
    """End whatever form is running, keeping what was answered; returns events and its name."""
    form = tracker.active_loop.get("name") if tracker.active_loop else None
    return close_form(tracker, form), form or None


STOPPED = {
    "checkin_form": "Okay, we'll stop there. I've kept the answers you gave today.",
    "coping_form": "Okay, we'll stop the exercise here. Well done for giving it a go.",
    "flare_plan_form": "Okay, we'll leave the flare-up plan for now. We can write it any time.",
    "onboarding_form": "Okay, we'll pause here. Type /start whenever you'd like to carry on.",
    "module_form": f"Okay, we'll pause the module here. {saved_place_note()}",
}


class ActionGreet(CoachAction):
    """Say hello by name, or point a newcomer to /start."""

    def name(self) -> str:
        return "action_greet"

    async def act(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> Events:
        known = participant(tracker)
        if known is None:
            dispatcher.utter_message(
                text="Hello! I'm PainCoach, a coach for living with chronic pain. Type /start "
                "and I'll tell you how it works."
            )
        else:
            name = f" {known.nickname}" if known.nickname else ""
            dispatcher.utter_message(
                text=f"Hi{name}! How are you doing today?",
                buttons=[
                    {"title": "Check in", "payload": "/start_checkin"},
                    {"title": "Coping exercise", "payload": "/request_coping"},
                    {"title": "Something else", "payload": "/help"},
                ],
            )
        return []


class ActionStopForm(CoachAction):
    """Stop whatever is running; a half-done check-in is kept as a partial check-in."""

    def name(self) -> str:
        return "action_stop_form"

    async def act(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> Events:
        events, form = close_active_form(tracker)
        if form is None:
            dispatcher.utter_message(text='Okay. Nothing is running — type "help" to see options.')
        else:
            dispatcher.utter_message(text=STOPPED.get(form, "Okay, we'll leave that for now."))
        return events


class ActionFallback(CoachAction):
    """First ask the patient to rephrase; if that fails too, show the help menu."""

    def name(self) -> str:
        return "action_fallback"

    async def act(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> Events:
        bot_actions = [
            e.get("name")
            for e in tracker.events
            if e.get("event") == "action" and e.get("name") not in ("action_listen", None)
        ]
        previous = bot_actions[-2] if len(bot_actions) >= 2 else None
        if previous == self.name():
            dispatcher.utter_message(response="utter_help")
        else:
            dispatcher.utter_message(
                text="Sorry, I didn't quite understand. Could you say it another way?"
            )
        return []
