"""Safety: triage into tiers, the check question, crisis support and red-flag advice.

The gateway assesses every message with the rules and the risk model and triggers `crisis`
or `red_flag` with the tier it found. A crisis or red flag the NLU noticed on its own is
assessed here the same way; when the risk model does not confirm it, it is possible, and
the coach asks rather than alarms; a red flag the model finds unlikely gets a line on when
to get help and the conversation carries on (`paincoach.safety.tiers.from_nlu`). Every
tier, question and answer is a safety event.
"""

from __future__ import annotations

from rasa_sdk import Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.common import (
    CoachAction,
    CoachFormValidation,
    Events,
    entity,
    latest_intent,
    latest_text,
    log,
    reset,
    store,
)
from actions.conversation import FORM_SLOTS, close_form
from paincoach.db.store import StoreError
from paincoach.safety import ModelUnavailable, Tier, assess, from_nlu, load_model
from paincoach.safety.answers import read_answer
from paincoach.safety.rules import RULE_NAMES
from paincoach.settings import get_settings

SAFETY_FORMS = ("safety_check_form", "safe_now_form")
NOTHING_TO_RESUME = "nothing"
CHECK_QUESTIONS = {
    "crisis": "Thank you for telling me. Some people who feel like this have thoughts of "
    "ending their life. Is that something you're thinking about?",
    "red_flag": "I want to be sure I understand. Is this new, or suddenly worse than your "
    "usual pain?",
}
CHECK_BUTTONS = [
    {"title": "Yes", "payload": "Yes"},
    {"title": "No", "payload": "No"},
    {"title": "Not sure", "payload": "Not sure"},
]


def earlier_patient_messages(tracker: Tracker, count: int) -> list[str]:
    """The patient's messages before the latest one, oldest first."""
    texts = [
        str(event.get("text"))
        for event in tracker.events
        if event.get("event") == "user" and event.get("text") and not event["text"].startswith("/")
    ]
    return texts[-count - 1 : -1] if count else []


def triage(tracker: Tracker, kind: str) -> tuple[Tier, str, str]:
    """The tier of the latest crisis or red flag, who noticed it, and why."""
    reason = entity(tracker, "safety_net")
    if reason:  # the gateway assessed it; its tier stands
        tier = Tier(entity(tracker, "safety_tier") or Tier.CERTAIN.value)
        return tier, "safety_net" if reason in RULE_NAMES else "risk_model", reason
    settings = get_settings()
    try:
        model = load_model(settings.safety_model_path)
    except ModelUnavailable:
        log.error("risk model unavailable: the full response is given")
        return Tier.CERTAIN, "nlu", "no_risk_model"
    found = assess(
        latest_text(tracker),
        model,
        earlier_patient_messages(tracker, settings.safety_context_messages),
    )
    tier = from_nlu(kind, found, model.thresholds)  # type: ignore[arg-type]
    if tier is Tier.CERTAIN:
        return tier, "risk_model", found.reason
    return tier, "nlu", "nlu_not_confirmed" if tier is Tier.POSSIBLE else "model_disagrees"


def record(tracker: Tracker, kind: str, detected_by: str, tier: Tier, reason: str) -> None:
    # The reply matters more than the record: a database failure must not silence it.
    try:
        store().record_safety_event(
            tracker.sender_id, kind, detected_by, tier=tier.value, reason=reason
        )
    except StoreError:
        log.exception("safety event not recorded", kind=kind, participant=tracker.sender_id)


def interrupted_form(tracker: Tracker) -> str | None:
    """The form the crisis or red flag interrupted, if it is to be closed or resumed."""
    form = tracker.active_loop.get("name") if tracker.active_loop else None
    if form in FORM_SLOTS:
        return form
    interrupted = tracker.get_slot("safety_interrupted")
    return interrupted if interrupted in FORM_SLOTS else None


class ActionSafetyTriage(CoachAction):
    """Decide the tier of a crisis or red flag and record it; the rules take it from there."""

    def name(self) -> str:
        return "action_safety_triage"

    async def act(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> Events:
        kind = "red_flag" if latest_intent(tracker) == "red_flag" else "crisis"
        tier, detected_by, reason = triage(tracker, kind)
        active = tracker.active_loop.get("name") if tracker.active_loop else None
        if tier is not Tier.CERTAIN and active in SAFETY_FORMS:
            # A worrying reply to a safety question is not asked about twice.
            tier, reason = Tier.CERTAIN, "worrying_answer"
        record(tracker, kind, detected_by, tier, reason)
        events = [
            SlotSet("safety_kind", kind),
            SlotSet("safety_tier", tier.value),
            SlotSet("safety_interrupted", interrupted_form(tracker)),
        ]
        # The worrying words may have been taken as the answer the form was waiting for
        # ("i can't do this much longer" as a 0-10 rating); they are not one.
        asked, form = tracker.get_slot("requested_slot"), interrupted_form(tracker)
        if form and asked and asked in FORM_SLOTS[form]:
            events.append(SlotSet(asked, None))
        return events


class ActionAskSafetyCheckAnswer(CoachAction):
    """The check question: direct and kind, with Yes / No / Not sure."""

    def name(self) -> str:
        return "action_ask_safety_check_answer"

    async def act(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> Events:
        kind = tracker.get_slot("safety_kind") or "crisis"
        dispatcher.utter_message(text=CHECK_QUESTIONS[kind], buttons=CHECK_BUTTONS)
        return []


class ValidateSafetyCheckForm(CoachFormValidation):
    """Read the answer to the check question; anything but a plain no is not a no."""

    def name(self) -> str:
        return "validate_safety_check_form"

    def validate_safety_check_answer(
        self, value: object, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, str]:
        return {"safety_check_answer": read_answer(str(value or ""), latest_intent(tracker))}


class ActionSafetyCheckAnswer(CoachAction):
    """A no is acknowledged warmly and the conversation carries on; anything else escalates.
    A red flag the risk model finds unlikely (`from_nlu`) ends here too, without a question:
    a line on when to get help, and the conversation carries on."""

    def name(self) -> str:
        return "action_safety_check_answer"

    async def act(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> Events:
        kind = tracker.get_slot("safety_kind") or "crisis"
        if tracker.get_slot("safety_tier") == Tier.UNLIKELY.value:
            dispatcher.utter_message(
                text="Thanks for telling me how it is. If it ever comes on suddenly or feels "
                "different from your usual pain, for example new weakness or numbness, trouble "
                "with your bladder or bowels, or chest pain, please get medical help straight "
                "away."
            )
            return carry_on(dispatcher, tracker)
        answer = tracker.get_slot("safety_check_answer") or "unclear"
        try:
            store().record_check_answer(tracker.sender_id, kind, answer)
        except StoreError:
            log.exception("check answer not recorded", participant=tracker.sender_id)
        events = reset("safety_check_answer")
        if answer != "no":
            record(tracker, kind, "check_question", Tier.CERTAIN, f"answer_{answer}")
            return [
                *events,
                SlotSet("safety_kind", kind),
                SlotSet("safety_tier", Tier.CERTAIN.value),
                SlotSet("safety_resume", NOTHING_TO_RESUME),
            ]
        settings = get_settings()
        if kind == "crisis":
            dispatcher.utter_message(
                text="Thank you for telling me, I'm glad. It still sounds like a hard time, and "
                "I'm here for that too. If those thoughts ever do come, "
                f"{settings.helpline_name} is there any time on {settings.helpline_number}."
            )
        else:
            dispatcher.utter_message(
                text="Thanks, that's good to know. If it does change suddenly, or you notice new "
                "weakness or numbness, or trouble with your bladder or bowels, please get medical "
                "help straight away."
            )
        return [*events, *carry_on(dispatcher, tracker)]


def carry_on(dispatcher: CollectingDispatcher, tracker: Tracker) -> Events:
    """Clear the safety episode and go back to the form it interrupted, if any."""
    resume = interrupted_form(tracker)
    if resume:
        dispatcher.utter_message(text="Let's carry on where we were.")
    return [
        SlotSet("safety_kind", None),
        SlotSet("safety_tier", "cleared"),
        SlotSet("safety_resume", resume or NOTHING_TO_RESUME),
        SlotSet("safety_interrupted", None),
    ]


class ActionCrisisSupport(CoachAction):
    """A warm reply with helpline and emergency numbers; "are you safe?" follows as a form."""

    def name(self) -> str:
        return "action_crisis_support"

    async def act(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> Events:
        events = close_form(tracker, interrupted_form(tracker))
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
        return [*events, SlotSet("safety_interrupted", None)]


class ActionAskSafeNowAnswer(CoachAction):
    """Are you safe right now?"""

    def name(self) -> str:
        return "action_ask_safe_now_answer"

    async def act(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> Events:
        dispatcher.utter_message(
            text="Are you safe right now?",
            buttons=[
                {"title": "Yes, I'm safe", "payload": "Yes"},
                {"title": "No, I'm not safe", "payload": "No"},
            ],
        )
        return []


class ValidateSafeNowForm(CoachFormValidation):
    """Read the answer to "are you safe right now?"."""

    def name(self) -> str:
        return "validate_safe_now_form"

    def validate_safe_now_answer(
        self, value: object, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, str]:
        return {"safe_now_answer": read_answer(str(value or ""), latest_intent(tracker))}


class ActionCrisisFollowup(CoachAction):
    """Answer "are you safe right now?": yes, no, and anything else; note it for the team."""

    def name(self) -> str:
        return "action_crisis_followup"

    async def act(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> Events:
        settings = get_settings()
        answer = tracker.get_slot("safe_now_answer") or "unclear"
        if answer in ("yes", "no"):
            try:
                store().mark_safe_now(tracker.sender_id, answer == "yes")
            except StoreError:
                log.exception("safe-now answer not recorded", participant=tracker.sender_id)
        if answer == "yes":
            dispatcher.utter_message(
                text="I'm glad you're safe. Please keep those numbers close, and reach out to "
                f"someone you trust today. {settings.helpline_name.capitalize()} is there on "
                f"{settings.helpline_number} whenever you need to talk. I'm here too, whenever "
                "you want to write."
            )
        elif answer == "no":
            dispatcher.utter_message(
                text=f"Please call {settings.emergency_number} now, or ask someone near you to "
                "help you call. If you can, move away from anything you could hurt yourself "
                "with, and stay with someone. You matter, and help is available right now."
            )
        else:
            dispatcher.utter_message(
                text="I want to be sure you're okay. If you're not safe, or you're not sure, "
                f"please call {settings.emergency_number} now, or talk to "
                f"{settings.helpline_name} on {settings.helpline_number}: they're there to "
                "listen, any time. If you are safe, I'm here and we can keep talking about "
                "whatever you'd like."
            )
        return reset("safe_now_answer", "safety_kind", "safety_tier")


class ActionRedFlag(CoachAction):
    """Advise urgent medical care for red-flag symptoms."""

    def name(self) -> str:
        return "action_red_flag"

    async def act(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> Events:
        events = close_form(tracker, interrupted_form(tracker))
        settings = get_settings()
        dispatcher.utter_message(
            text="What you describe can be a sign of something that needs a doctor urgently, "
            "not just a flare-up. Please get medical help today: contact your doctor or an "
            f"urgent care service now, and call {settings.emergency_number} if it is severe, "
            "sudden or getting worse (for example new weakness or numbness in your legs, "
            "problems controlling your bladder or bowels, or chest pain).\n\n"
            f"I'm letting {settings.care_team_name} know too."
        )
        return [*events, SlotSet("safety_interrupted", None)]
