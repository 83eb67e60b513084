"""Flare-ups: support in the moment, and the patient's own flare-up plan."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.common import (
    CoachAction,
    EnrolledAction,
    EnrolledFormValidation,
    Events,
    body_part,
    first_name,
    participant,
    reset,
    store,
)
from paincoach.db.models import FlareUpPlan

PLAN_SLOTS = {
    "flare_warning_signs": "warning_signs",
    "flare_what_helps": "what_helps",
    "flare_what_to_ease_off": "what_to_ease_off",
    "flare_who_can_help": "who_can_help",
    "flare_note_to_self": "note_to_self",
}


def render_plan(plan: FlareUpPlan) -> str:
    return (
        "Your flare-up plan\n"
        f"• Early warning signs: {plan.warning_signs}\n"
        f"• What helps: {plan.what_helps}\n"
        f"• What I'll ease off: {plan.what_to_ease_off}\n"
        f"• Who can help: {plan.who_can_help}\n"
        f"• A note to myself: {plan.note_to_self}"
    )


class ActionFlareUpSupport(CoachAction):
    """Acknowledge the flare-up and bring back the patient's own plan if they have one."""

    def name(self) -> str:
        return "action_flare_up_support"

    async def act(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> Events:
        part = body_part(tracker)
        where = f" with your {part.lower()}" if part else ""
        dispatcher.utter_message(
            text=f"I'm sorry you're having a rough time{where}{first_name(tracker)}. "
            "Flare-ups are horrible, and they do settle. Go gently with yourself today."
        )
        plan = store().flare_up_plan(tracker.sender_id) if participant(tracker) else None
        if plan is not None:
            dispatcher.utter_message(
                text=f"Here's what you wrote for days like this:\n{render_plan(plan)}"
            )
        else:
            dispatcher.utter_message(
                text="When you feel up to it, we can write a flare-up plan together — just "
                'say "make a flare-up plan".'
            )
        return []


class ValidateFlarePlanForm(EnrolledFormValidation):
    """Each part of the plan is the patient's own words, kept as written."""

    def name(self) -> str:
        return "validate_flare_plan_form"

    def _text(self, slot: str, value: Any, dispatcher: CollectingDispatcher) -> dict[str, Any]:
        text = " ".join(str(value or "").split())
        if not text:
            dispatcher.utter_message(text="Could you write a few words for this part?")
            return {slot: None}
        return {slot: text[:1000]}

    def validate_flare_warning_signs(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        return self._text("flare_warning_signs", value, dispatcher)

    def validate_flare_what_helps(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        return self._text("flare_what_helps", value, dispatcher)

    def validate_flare_what_to_ease_off(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        return self._text("flare_what_to_ease_off", value, dispatcher)

    def validate_flare_who_can_help(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        return self._text("flare_who_can_help", value, dispatcher)

    def validate_flare_note_to_self(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        return self._text("flare_note_to_self", value, dispatcher)


class ActionSubmitFlarePlan(EnrolledAction):
    """Store the new plan and show it back."""

    def name(self) -> str:
        return "action_submit_flare_plan"

    async def act(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> Events:
        sections = {column: str(tracker.get_slot(slot)) for slot, column in PLAN_SLOTS.items()}
        plan = store().save_flare_up_plan(tracker.sender_id, **sections)
        dispatcher.utter_message(
            text=f"Well done — that's saved. Ask for it any time with \"show my flare-up "
            f'plan".\n\n{render_plan(plan)}'
        )
        return reset(*PLAN_SLOTS)


class ActionShowFlarePlan(EnrolledAction):
    """Show the patient's current flare-up plan, or offer to write one."""

    def name(self) -> str:
        return "action_show_flare_plan"

    async def act(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> Events:
        plan = store().flare_up_plan(tracker.sender_id)
        if plan is None:
            dispatcher.utter_message(
                text="You haven't written a flare-up plan yet. Shall we make one? It takes "
                "about five minutes.",
                buttons=[{"title": "Make my plan", "payload": "/write_flare_plan"}],
            )
        else:
            dispatcher.utter_message(text=render_plan(plan))
        return []
