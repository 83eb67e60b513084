"""Running a module in the chat: what each step says, and how a reply to it is read.

The Rasa actions (`actions/modules.py`) are thin: they ask `prompt()` what to send and
`read_reply()` what the patient's reply means, and save through `ModuleStore`.
A free-text answer is always the answer. Only an explicit stop or pause, and the safety
net in the gateway, may take it for something else.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import Enum

from paincoach import content
from paincoach.checkin.scales import parse_rating
from paincoach.modules.schema import (
    CheckpointStep,
    ChoiceStep,
    ExerciseStep,
    MessageStep,
    Module,
    QuestionStep,
    ScaleStep,
    Step,
)

NEXT = "Next"
CARRY_ON = "Yes, carry on"
LATER = "Later"
START_EXERCISE = "Start the exercise"
SKIP_EXERCISE = "Skip it"
# Words that pause a module wherever it is; "stop" is also its own intent.
PAUSE = re.compile(
    r"^\s*(?:(?:ok(?:ay)?|can we|let'?s|maybe|i'?ll do (?:it|this|the rest))[\s,]*)?"
    r"(?:later|pause|stop|not now|another time|some other time|continue later|"
    r"pause (?:it|this|the module)|stop (?:it|this|the module|here|for now)|"
    r"(?:do|finish) (?:it|this|the rest) later|that'?s enough(?: for now| for today)?|"
    r"enough for (?:now|today))"
    r"(?:\s*(?:please|pls|thanks|thank you))?\s*[.!]*\s*$",
    re.IGNORECASE,
)
YES = re.compile(
    r"^\s*(?:yes|yeah|yep|yup|sure|ok(?:ay)?|go on|go ahead|carry on|continue|let'?s go|"
    r"let'?s do it|ready|start|next|go)\b",
    re.IGNORECASE,
)
NO = re.compile(r"^\s*(?:no|nope|nah|skip|not this one|not that one)\b", re.IGNORECASE)
# Intents that are a question, a request or a worry in the middle of a step that is not
# free text: the rules answer them (a crisis is triaged), and the step is asked again.
INTERRUPTIONS = frozenset(
    {"ask_pain_education", "medication_question", "help", "bot_challenge", "crisis", "red_flag"}
)


@dataclass(frozen=True)
class Prompt:
    """One message of the coach, with its buttons (each a label sent back as typed)."""

    text: str
    buttons: list[str] = field(default_factory=list)


class Outcome(Enum):
    ANSWER = "answer"  # the step is answered; `value` is what to save (None for a message)
    PAUSE = "pause"  # stop here and keep the place
    EXERCISE = "exercise"  # hand over to the toolbox exercise, then come back
    SKIP = "skip"  # an exercise declined: go on to the next step
    UNCLEAR = "unclear"  # ask again, saying what is needed
    NOT_AN_ANSWER = "not_an_answer"  # a question or request: let the rules answer it


@dataclass(frozen=True)
class Reply:
    outcome: Outcome
    value: str | None = None
    hint: str | None = None


def prompt(step: Step) -> Prompt:
    """What the coach sends for `step`."""
    match step:
        case MessageStep(text=text):
            return Prompt(text, [NEXT])
        case QuestionStep(text=text):
            return Prompt(text)
        case ChoiceStep(text=text, options=options):
            return Prompt(text, list(options))
        case ScaleStep(text=text, low=low, high=high):
            return Prompt(f"{text}\n(0 = {low}, 10 = {high})", [str(n) for n in range(11)])
        case ExerciseStep(text=text, exercise=exercise_id):
            exercise = content.exercises()[exercise_id]
            offer = f"Let's try {exercise.in_a_sentence} together (about {exercise.minutes} min)."
            return Prompt(f"{text}\n\n{offer}" if text else offer, [START_EXERCISE, SKIP_EXERCISE])
        case CheckpointStep(text=text):
            return Prompt(text, [CARRY_ON, LATER])
    raise ValueError(f"unknown step kind: {step!r}")


def _choice(text: str, options: list[str]) -> str | None:
    """The option the patient picked, by its label or its number."""
    wanted = text.strip().strip(".!\"'“”").casefold()
    for option in options:
        if option.casefold() == wanted:
            return option
    if wanted.isdigit() and 1 <= int(wanted) <= len(options):
        return options[int(wanted) - 1]
    starts = [option for option in options if option.casefold().startswith(wanted)]
    return starts[0] if wanted and len(starts) == 1 else None


def read_reply(step: Step, text: str, intent: str | None = None) -> Reply:
    """What the patient's reply to `step` means."""
    text = text.strip()
    if PAUSE.match(text) or (intent == "stop" and not isinstance(step, QuestionStep)):
        return Reply(Outcome.PAUSE)
    match step:
        case QuestionStep():
            # Whatever they wrote is their answer, however it sounds.
            if not text or text.startswith("/"):
                return Reply(Outcome.UNCLEAR, hint="Just type your answer in your own words.")
            return Reply(Outcome.ANSWER, text[:4000])
        case MessageStep():
            if intent in INTERRUPTIONS:
                return Reply(Outcome.NOT_AN_ANSWER)
            return Reply(Outcome.ANSWER)
        case ChoiceStep(options=options):
            picked = _choice(text, list(options))
            if picked is not None:
                return Reply(Outcome.ANSWER, picked)
            if intent in INTERRUPTIONS:
                return Reply(Outcome.NOT_AN_ANSWER)
            return Reply(Outcome.UNCLEAR, hint="Please pick one of the options (tap a button).")
        case ScaleStep():
            rating = parse_rating(text)
            if rating.ok:
                return Reply(Outcome.ANSWER, str(rating.value))
            if intent in INTERRUPTIONS:
                return Reply(Outcome.NOT_AN_ANSWER)
            return Reply(Outcome.UNCLEAR, hint="I need one whole number from 0 to 10 here.")
        case ExerciseStep():
            if text == START_EXERCISE or YES.match(text) or intent == "affirm":
                return Reply(Outcome.EXERCISE)
            if text == SKIP_EXERCISE or NO.match(text) or intent == "deny":
                return Reply(Outcome.SKIP)
            if intent in INTERRUPTIONS:
                return Reply(Outcome.NOT_AN_ANSWER)
            return Reply(Outcome.UNCLEAR, hint="Shall we do the exercise now, or skip it?")
        case CheckpointStep():
            if text == CARRY_ON or YES.match(text) or intent == "affirm":
                return Reply(Outcome.ANSWER, "carry on")
            if text == LATER or NO.match(text) or intent == "deny":
                return Reply(Outcome.PAUSE)
            if intent in INTERRUPTIONS:
                return Reply(Outcome.NOT_AN_ANSWER)
            return Reply(Outcome.UNCLEAR, hint="Shall we carry on now, or later?")
    raise ValueError(f"unknown step kind: {step!r}")


def saved_kind(step: Step) -> str | None:
    """The kind under which a step's answer is saved, or None when nothing is saved."""
    return step.kind if isinstance(step, QuestionStep | ChoiceStep | ScaleStep) else None


def introduction(module: Module, resuming_at: int = 0) -> str:
    """The first words of a module, or of its resumption."""
    if resuming_at:
        return (
            f"Welcome back to “{module.title}”. We'll pick up where you left off "
            f"(step {resuming_at + 1} of {len(module.steps)})."
        )
    return (
        f"“{module.title}” — about {module.minutes} minutes. You can say “later” at any "
        "time and I'll keep your place."
    )
