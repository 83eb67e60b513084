"""The questions the forms ask, one action each, declared in one table."""

from __future__ import annotations

import random
from abc import ABC, abstractmethod
from dataclasses import dataclass, field

from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.common import (
    SCALE,
    STOP,
    Events,
    buttons,
    entity,
    first_name,
    latest_intent,
)
from paincoach import content


@dataclass(frozen=True)
class Question:
    variants: tuple[str, ...]
    buttons: list[dict[str, str]] = field(default_factory=list)


SKIP = [{"title": "Skip", "payload": "/deny"}]
# A scheduled reminder starts the check-in with an entity saying which kind it is.
REMINDER_OPENINGS = {
    "daily": "Hi{name}! Time for today's check-in — it takes about two minutes. "
    '(Say "stop" if now isn\'t a good time.)',
    "nudge": "Hi{name}, it's been a few days since we caught up. No pressure at all — a quick "
    'check-in helps you and your care team see how things are going. (Say "stop" if now '
    "isn't a good time.)",
}

QUESTIONS: dict[str, Question] = {
    # Onboarding
    "consent": Question(
        (
            "Do you agree to take part and for me to store your answers for your care? "
            "You can pause, download or delete your data at any time.",
        ),
        [
            {"title": "Yes, I agree", "payload": "/affirm"},
            {"title": "No, thanks", "payload": "/deny"},
        ],
    ),
    "research_consent": Question(
        (
            "One optional extra: may researchers study your answers to improve care for "
            "people with pain? They would only ever see a random code, never your name. "
            "Saying no changes nothing about your coaching.",
        ),
        [{"title": "Yes, that's fine", "payload": "/affirm"}, {"title": "No", "payload": "/deny"}],
    ),
    "free_text_consent": Question(
        (
            "And your own words — notes, answers you type, messages to me? Researchers "
            "would read them under the same random code. If you say no, they see only "
            "numbers and button choices.",
        ),
        [{"title": "Yes, they may", "payload": "/affirm"}, {"title": "No", "payload": "/deny"}],
    ),
    "nickname": Question(("What would you like me to call you?",)),
    "checkin_time": Question(
        ("What time of day suits you for a short daily check-in? For example 8pm or 09:30.",),
        buttons(["9am", "1pm", "6pm", "8pm"]),
    ),
    "timezone": Question(
        ("And which time zone are you in? A city works, like London or Oslo.",),
        buttons(["Europe/London", "Europe/Oslo", "Europe/Berlin", "America/New_York"]),
    ),
    # Daily check-in (PEG scale, Krebs et al. 2009)
    "pain_average": Question(
        (
            "On average, how bad has your pain been over the past day? 0 is no pain, 10 is "
            "as bad as you can imagine.",
            "Let's start with pain: on average over the past day, from 0 (none) to 10 (as bad "
            "as you can imagine)?",
        ),
        [*SCALE, STOP],
    ),
    "pain_enjoyment": Question(
        ("How much has pain got in the way of enjoying life? 0 not at all, 10 completely.",),
        [*SCALE, STOP],
    ),
    "pain_activity": Question(
        (
            "And how much has pain got in the way of your general activity? 0 not at all, "
            "10 completely.",
        ),
        [*SCALE, STOP],
    ),
    "mood": Question(("How has your mood been? 0 very low, 10 very good.",), [*SCALE, STOP]),
    "sleep_quality": Question(
        ("How well did you sleep last night? 0 very badly, 10 very well.",), [*SCALE, STOP]
    ),
    "checkin_note": Question(
        ("Anything else you'd like to note about today? Type it, or tap Skip.",), SKIP
    ),
    # Coping toolbox
    "tension_before": Question(
        ("Before we start: how much pain or tension do you feel right now, 0 to 10?",),
        [*SCALE, STOP],
    ),
    "tension_after": Question(
        ("How much pain or tension do you feel now, 0 to 10?",), [*SCALE, STOP]
    ),
    # Flare-up plan
    "flare_warning_signs": Question(
        (
            "Let's write your flare-up plan, one part at a time. First: what are your early "
            "warning signs that a flare-up is starting?",
        ),
    ),
    "flare_what_helps": Question(
        ("What helps you most during a flare-up? Think of things you have tried before.",),
    ),
    "flare_what_to_ease_off": Question(
        ("What will you ease off or postpone for a day or two while it settles?",),
    ),
    "flare_who_can_help": Question(
        ("Who can you ask for help or support during a flare-up?",),
    ),
    "flare_note_to_self": Question(
        (
            "Last one: write a kind sentence to your future self for the next flare-up — "
            'for example "This will pass, I have got through it before."',
        ),
    ),
    # Weekly goal
    "goal_activity": Question(
        (
            "What activity would you like to do more of this week? Something small and "
            "doable, like a 10-minute walk or phoning a friend.",
        ),
    ),
    "goal_frequency": Question(
        ("How many times this week would you like to do it?",),
        buttons([str(n) for n in range(1, 8)]),
    ),
    "goal_times_done": Question(
        ("How many times did you manage it this week? Every time counts.",),
        buttons([str(n) for n in range(8)]),
    ),
    # Care team and preferences
    "care_team_message": Question(
        (
            "What would you like me to pass on to your care team? Write your message and I'll "
            "put it in their inbox. (For anything urgent, please phone them or emergency "
            "services.)",
        ),
    ),
    "new_checkin_time": Question(
        ("What time would you like your daily check-in instead? For example 7pm.",),
        buttons(["9am", "1pm", "6pm", "8pm"]),
    ),
}


class AskQuestion(Action, ABC):
    """Ask for one slot of a form: the question from the table, with its buttons."""

    @property
    @abstractmethod
    def slot(self) -> str:
        """The slot this question fills; each generated subclass names one."""

    def name(self) -> str:
        return f"action_ask_{self.slot}"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> Events:
        question = QUESTIONS[self.slot]
        opening = REMINDER_OPENINGS.get(entity(tracker, "reminder") or "")
        if opening:
            dispatcher.utter_message(text=opening.format(name=first_name(tracker)))
        dispatcher.utter_message(text=random.choice(question.variants), buttons=question.buttons)
        return []


# One action class per question: rasa-sdk registers every Action subclass it finds, and the
# action server's worker process unpickles them by name, so each is a module attribute.
for _slot in QUESTIONS:
    _name = "Ask" + _slot.title().replace("_", "")
    globals()[_name] = type(_name, (AskQuestion,), {"slot": _slot, "__module__": __name__})


class AskCopingExercise(Action):
    """Offer the toolbox; relaxation requests see the relaxation exercises first."""

    def name(self) -> str:
        return "action_ask_coping_exercise"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> Events:
        catalogue = list(content.exercises().values())
        if latest_intent(tracker) == "request_relaxation":
            catalogue = [e for e in catalogue if e.category == "relaxation"]
            text = f"Let's relax together{first_name(tracker)}. Which would you like?"
        else:
            text = "Which would you like to try?"
        dispatcher.utter_message(text=text, buttons=[*buttons([e.title for e in catalogue]), STOP])
        return []


class AskExerciseProgress(Action):
    """Show the next step of the chosen exercise, with Next and Stop buttons."""

    def name(self) -> str:
        return "action_ask_exercise_progress"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> Events:
        exercise = content.find_exercise(tracker.get_slot("coping_exercise"))
        if exercise is None:
            dispatcher.utter_message(text="Let's pick an exercise first.")
            return []
        step = int(tracker.get_slot("exercise_step") or 0)
        if step == 0:
            dispatcher.utter_message(
                text=f"{exercise.title} ({exercise.minutes} min). {exercise.intro}"
            )
        step = min(step, len(exercise.steps) - 1)
        label = "Done" if step == len(exercise.steps) - 1 else "Next"
        dispatcher.utter_message(
            text=f"Step {step + 1} of {len(exercise.steps)}: {exercise.steps[step]}",
            buttons=[{"title": label, "payload": label.lower()}, STOP],
        )
        return []
