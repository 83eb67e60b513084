"""The daily check-in: PEG items, mood, sleep and a note, saved as the patient answers."""

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
    buttons,
    is_external,
    latest_intent,
    latest_text,
    log,
    reset,
    store,
)
from actions.modules import remind_of_waiting_module
from paincoach.checkin.feedback import compare_with_last_week
from paincoach.checkin.scales import Reading, parse_rating
from paincoach.db.store import CHECKIN_ITEMS, StoreError
from paincoach.modules.runner import PAUSE
from paincoach.settings import get_settings

CHECKIN_SLOTS = (*CHECKIN_ITEMS, "checkin_note", "checkin_id")
SKIPPED = "-"
SKIP_WORDS = {"skip", "no", "nope", "nothing", "none", "no thanks", "n/a", "na", "-"}


def checkin_answers(tracker: Tracker) -> dict[str, Any]:
    answers: dict[str, Any] = {item: tracker.get_slot(item) for item in CHECKIN_ITEMS}
    note = tracker.get_slot("checkin_note")
    answers["note"] = None if note in (None, SKIPPED) else note
    return answers


def save_checkin(tracker: Tracker, completed: bool = False) -> int | None:
    """Save the answers given so far; on a database error they stay in the tracker."""
    answers = checkin_answers(tracker)
    if all(value is None for value in answers.values()):
        return None
    checkin_id = tracker.get_slot("checkin_id")
    return store().save_checkin(
        tracker.sender_id,
        answers,
        checkin_id=int(checkin_id) if checkin_id else None,
        completed=completed,
    )


def validate_rating(
    value: Any, dispatcher: CollectingDispatcher, low: int = 0, high: int = 10
) -> int | None:
    """A whole number in range, or a clear re-ask that says what was wrong."""
    rating = parse_rating(str(value) if value is not None else "", low, high)
    if rating.ok:
        return rating.value
    if rating.reading is Reading.AMBIGUOUS and rating.candidates:
        choices = " or ".join(str(n) for n in rating.candidates)
        dispatcher.utter_message(
            text=f"I need just one number — which is closer, {choices}?",
            buttons=buttons([str(n) for n in rating.candidates]),
        )
    elif rating.reading is Reading.NOT_WHOLE and rating.candidates:
        choices = " or ".join(str(n) for n in rating.candidates)
        dispatcher.utter_message(
            text=f"I use whole numbers only — is it nearer {choices}?",
            buttons=buttons([str(n) for n in rating.candidates]),
        )
    elif rating.reading is Reading.OUT_OF_RANGE:
        dispatcher.utter_message(
            text=f"The scale goes from {low} to {high}. Which number fits best?"
        )
    else:
        dispatcher.utter_message(
            text=f"Sorry, I need a number from {low} to {high} here — you can tap a button."
        )
    return None


class ValidateCheckinForm(EnrolledFormValidation):
    """Read each 0–10 answer and save it straight away, so a stop keeps a partial check-in."""

    def name(self) -> str:
        return "validate_checkin_form"

    def _rating(self, slot: str, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker):  # type: ignore[no-untyped-def]
        rating = validate_rating(value, dispatcher)
        if rating is None:
            return {slot: None}
        events: dict[str, Any] = {slot: rating}
        answered = tracker.copy()
        answered.slots[slot] = rating
        try:
            events["checkin_id"] = save_checkin(answered)
        except StoreError:
            log.exception("check-in answer kept in the tracker only", participant=tracker.sender_id)
            dispatcher.utter_message(
                text="I couldn't save that just now, but I've noted it and will save it "
                "shortly. Let's carry on."
            )
        return events

    def validate_pain_average(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        return self._rating("pain_average", value, dispatcher, tracker)

    def validate_pain_enjoyment(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        return self._rating("pain_enjoyment", value, dispatcher, tracker)

    def validate_pain_activity(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        return self._rating("pain_activity", value, dispatcher, tracker)

    def validate_mood(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        return self._rating("mood", value, dispatcher, tracker)

    def validate_sleep_quality(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        return self._rating("sleep_quality", value, dispatcher, tracker)

    async def extract_checkin_note(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        """The note is whatever the patient wrote, however it sounds; only the safety net
        (an external trigger) and an explicit stop interrupt it."""
        if tracker.get_slot("requested_slot") != "checkin_note" or is_external(tracker):
            return {}
        if latest_intent(tracker) == "stop" and PAUSE.match(latest_text(tracker)):
            return {}
        return {"checkin_note": latest_text(tracker)}

    def validate_checkin_note(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        text = str(value or "").strip()
        if text.startswith("/deny") or text.lower().strip(".! ") in SKIP_WORDS or not text:
            return {"checkin_note": SKIPPED}
        return {"checkin_note": text[:4000]}


class ActionSubmitCheckin(EnrolledAction):
    """Save the completed check-in and compare it, warmly, with the last 7 days."""

    def name(self) -> str:
        return "action_submit_checkin"

    async def act(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> Events:
        checkin_id = save_checkin(tracker, completed=True)
        recent = store().recent_checkins(tracker.sender_id, days=8)
        today = next(c for c in recent if c.id == checkin_id)
        feedback = compare_with_last_week(today, recent, get_settings().worse_threshold)
        dispatcher.utter_message(text=feedback.message)
        offered = "paced_breathing" if feedback.worse else None
        if feedback.very_low_mood:
            settings = get_settings()
            dispatcher.utter_message(
                text="You don't have to carry this on your own. If you'd like, we could do "
                f"something gentle together, or you can send a message to "
                f"{settings.care_team_name}. And if you ever feel unsafe, "
                f"{settings.helpline_name} is there any time on {settings.helpline_number}."
            )
            offered = "pleasant_activities"
        if offered is None:
            remind_of_waiting_module(tracker.sender_id, dispatcher)
        return [*reset(*CHECKIN_SLOTS), SlotSet("offered_exercise", offered)]
