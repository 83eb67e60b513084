"""The coping toolbox: an exercise step by step, with tension rated before and after."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.checkin import validate_rating
from actions.common import (
    YES_NO,
    CoachAction,
    CoachFormValidation,
    Events,
    latest_intent,
    participant,
    reset,
    store,
)
from actions.modules import CONTINUE_MODULE
from paincoach import content

COPING_SLOTS = ("coping_exercise", "tension_before", "exercise_progress", "tension_after")
# What a patient's message says they would like to try, when nothing was offered before.
OFFER_FOR_INTENT = {
    "sleep_problem": "sleep_tips",
    "mood_low": "pleasant_activities",
    "flare_up": "paced_breathing",
}


def save_coping_session(tracker: Tracker, completed: bool) -> None:
    """Log the exercise for a consented participant; others can practise without a record."""
    exercise = content.find_exercise(tracker.get_slot("coping_exercise"))
    if exercise is None or participant(tracker) is None:
        return
    before, after = tracker.get_slot("tension_before"), tracker.get_slot("tension_after")
    store().save_coping_session(
        tracker.sender_id,
        exercise.id,
        tension_before=int(before) if before is not None else None,
        tension_after=int(after) if after is not None else None,
        steps_completed=len(exercise.steps)
        if completed
        else int(tracker.get_slot("exercise_step") or 0),
        completed=completed,
    )


class ValidateCopingForm(CoachFormValidation):
    """Choose the exercise, rate tension, walk through the steps, rate again."""

    def name(self) -> str:
        return "validate_coping_form"

    def validate_coping_exercise(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        exercise = content.find_exercise(str(value or ""))
        if exercise is None:
            dispatcher.utter_message(text="I don't know that one — please tap one of the buttons.")
            return {"coping_exercise": None}
        return {"coping_exercise": exercise.id, "exercise_step": 0}

    def validate_tension_before(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        return {"tension_before": validate_rating(value, dispatcher)}

    def validate_exercise_progress(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        exercise = content.find_exercise(tracker.get_slot("coping_exercise"))
        if exercise is None:
            return {"exercise_progress": None, "coping_exercise": None}
        step = int(tracker.get_slot("exercise_step") or 0) + 1
        if step >= len(exercise.steps):
            return {"exercise_progress": "done", "exercise_step": step}
        # Leaving the slot empty makes the form ask again, which shows the next step.
        return {"exercise_progress": None, "exercise_step": step}

    def validate_tension_after(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        return {"tension_after": validate_rating(value, dispatcher)}


class ActionSubmitCoping(CoachAction):
    """Close the exercise kindly, show the change in tension, and log the session."""

    def name(self) -> str:
        return "action_submit_coping"

    async def act(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> Events:
        exercise = content.find_exercise(tracker.get_slot("coping_exercise"))
        if exercise is None:
            return reset(*COPING_SLOTS, "exercise_step")
        before, after = tracker.get_slot("tension_before"), tracker.get_slot("tension_after")
        text = exercise.closing
        if before is not None and after is not None:
            change = int(before) - int(after)
            if change > 0:
                text += f" Your tension went from {int(before)} to {int(after)} — nice work."
            elif change == 0:
                text += (
                    " Your tension stayed the same, and that's okay: practice builds the effect."
                )
            else:
                text += (
                    " Your tension is a bit higher — that happens sometimes. A different "
                    "exercise may suit you better today."
                )
        save_coping_session(tracker, completed=True)
        if tracker.get_slot("module_outcome") == "exercise":  # the exercise was a module step
            text += " Whenever you're ready, we can carry on with the module."
            dispatcher.utter_message(text=text, buttons=[CONTINUE_MODULE])
            return [*reset(*COPING_SLOTS, "exercise_step"), SlotSet("module_outcome", None)]
        dispatcher.utter_message(text=text)
        return reset(*COPING_SLOTS, "exercise_step")


class ActionOfferExercise(CoachAction):
    """Offer the exercise that fits the moment: after a worse check-in, bad sleep, low mood."""

    def name(self) -> str:
        return "action_offer_exercise"

    async def act(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> Events:
        if tracker.latest_action_name == "action_submit_checkin":
            offered = tracker.get_slot("offered_exercise")  # set when the day is worse
        else:
            # Otherwise the patient's own words say what might help.
            offered = OFFER_FOR_INTENT.get(latest_intent(tracker) or "")
        exercise = content.exercises().get(offered or "")
        if exercise is None:
            return [SlotSet("offered_exercise", None)]
        dispatcher.utter_message(
            text=f"Would you like to try {exercise.in_a_sentence} together? It takes about "
            f"{exercise.minutes} minutes.",
            buttons=YES_NO,
        )
        return [SlotSet("offered_exercise", exercise.id)]


class ActionStartOfferedExercise(CoachAction):
    """The patient said yes to an offer: start that exercise (or let them choose)."""

    def name(self) -> str:
        return "action_start_offered_exercise"

    async def act(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> Events:
        offered = tracker.get_slot("offered_exercise")
        return [
            SlotSet("coping_exercise", offered),
            SlotSet("exercise_step", 0),
            SlotSet("offered_exercise", None),
        ]
