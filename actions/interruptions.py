"""Commands and questions in the middle of a form or an exercise: one mechanism for all.

`/progress`, `/help`, `/checkin`, `/pause`, `/resume` and questions ("why does pain
persist?", "are you a bot?", a medicine question) are answered where they come, then the
patient is offered to carry on where they were. Every form's validation runs first when a
form is active (see `CoachFormValidation.run`), so this is the one place that decides,
for every form: no rule per form and per intent, and the step shown is never advanced by
a command ("/progress" in an exercise is not "Next").
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.common import Events, is_external, latest_intent, latest_text

Answer = Callable[[CollectingDispatcher, Tracker, DomainDict, str], Awaitable[Events]]

# What each form is, in the words used to offer to carry on with it.
ACTIVITIES = {
    "onboarding_form": "getting you set up",
    "checkin_form": "your check-in",
    "coping_form": "the exercise",
    "flare_plan_form": "your flare-up plan",
    "goal_form": "setting your goal",
    "goal_review_form": "your goal review",
    "care_team_form": "your message to the care team",
    "checkin_time_form": "changing your check-in time",
    "module_form": "your module",
}
# The safety questions read any reply as their answer: nothing interrupts them.
NEVER_INTERRUPTED = frozenset({"safety_check_form", "safe_now_form"})
# Rasa's bookkeeping between the patient's message and the form running on it.
SAME_TURN_ACTIONS = frozenset({"action_listen", "action_extract_slots"})


def _response(name: str) -> Answer:
    async def answer(
        dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict, form: str
    ) -> Events:
        dispatcher.utter_message(response=name)
        return []

    return answer


def _action(factory: Callable[[], Any]) -> Answer:
    async def answer(
        dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict, form: str
    ) -> Events:
        events = await factory().run(dispatcher, tracker, domain)
        # Keep only what the answer tidies up (e.g. the topic asked about), never a form's state.
        return [event for event in events if event.get("event") == "slot"]

    return answer


async def _checkin(
    dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict, form: str
) -> Events:
    if form == "checkin_form":
        dispatcher.utter_message(text="We're in the middle of your check-in right now.")
    else:
        dispatcher.utter_message(
            text=f"Let's finish {ACTIVITIES.get(form, 'this')} first, then type /checkin "
            "(or say stop to leave it now)."
        )
    return []


def _answers() -> dict[str, Answer]:
    # Imported here: these modules import actions.common, which imports this one.
    from actions.education import ActionPainEducation
    from actions.preferences import ActionPauseReminders, ActionResumeReminders
    from actions.progress import ActionProgressSummary

    return {
        "help": _response("utter_help"),
        "bot_challenge": _response("utter_iamabot"),
        "medication_question": _response("utter_medication"),
        "ask_pain_education": _action(ActionPainEducation),
        "ask_progress": _action(ActionProgressSummary),
        "start_checkin": _checkin,
        "pause_reminders": _action(ActionPauseReminders),
        "resume_reminders": _action(ActionResumeReminders),
    }


# The intents answered in the middle of a form; domain.yml's `&interruptions` list holds
# these (plus stop, crisis and red_flag, which end the form through their own rules).
INTERRUPTING_INTENTS = frozenset(
    {
        "help",
        "bot_challenge",
        "medication_question",
        "ask_pain_education",
        "ask_progress",
        "start_checkin",
        "pause_reminders",
        "resume_reminders",
    }
)


def right_after_the_message(tracker: Tracker, form: str) -> bool:
    """Whether the form runs on the patient's newest message (not resuming after a rule)."""
    for event in reversed(tracker.events):
        if event.get("event") == "user":
            return True
        if event.get("event") == "action" and event.get("name") not in {
            *SAME_TURN_ACTIONS,
            form,
        }:
            return False
    return False


def not_an_answer_by_domain(domain: DomainDict, slot: str, intent: str) -> bool:
    """Whether the slot's own mapping says this intent is never an answer to it."""
    for mapping in (domain.get("slots", {}).get(slot) or {}).get("mappings", []):
        if mapping.get("type") == "from_text" and intent in (mapping.get("not_intent") or []):
            return True
    return False


def interrupting_intent(
    tracker: Tracker, domain: DomainDict, form: str, not_an_answer: bool
) -> str | None:
    """The intent to answer before carrying on with the form, or None for an answer.

    A command (typed `/progress`, or a button's `/intent` payload) always interrupts; a
    question only where it cannot be the answer (`not_an_answer`): a free-text answer
    such as the check-in note is the patient's own words, whatever they sound like.
    """
    slot = tracker.get_slot("requested_slot")
    intent = latest_intent(tracker)
    if (
        form in NEVER_INTERRUPTED
        or not slot
        or intent not in INTERRUPTING_INTENTS
        or is_external(tracker)
        or not right_after_the_message(tracker, form)
    ):
        return None
    command = latest_text(tracker).lstrip().startswith("/")
    return intent if command or not_an_answer else None


async def answer_and_offer_to_carry_on(
    intent: str, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict, form: str
) -> Events:
    """Answer the command or question, then offer the step the patient was on again."""
    events = await _answers()[intent](dispatcher, tracker, domain, form)
    if intent != "start_checkin" or form != "checkin_form":
        activity = ACTIVITIES.get(form, "what we were doing")
        dispatcher.utter_message(
            text=f"Shall we carry on with {activity} where we left off? Here it is again "
            "(or say stop to leave it for now)."
        )
    slot = tracker.get_slot("requested_slot")
    # Leaving the requested slot empty makes the form ask the same question again.
    return [*events, SlotSet(str(slot), None)]
