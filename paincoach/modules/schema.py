"""What a module file and a programme file may say: pydantic models, checked strictly.

A module is a short, scripted piece of self-management written by clinicians in YAML: an
ordered list of steps the patient goes through in the chat. A programme releases several
modules, one every few days.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

# Telegram's limit for one message: a step's text must fit in one.
TELEGRAM_MAX_TEXT = 4096
BUTTON_MAX = 40  # characters of a button label that still fit on a phone

Slug = Annotated[
    str, StringConstraints(pattern=r"^[a-z0-9]+(?:-[a-z0-9]+)*$", min_length=1, max_length=64)
]
Text = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=TELEGRAM_MAX_TEXT)
]
Label = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=BUTTON_MAX)
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class MessageStep(_Strict):
    """Something to read, optionally with an image shipped beside the module file."""

    id: Slug
    kind: Literal["message"]
    text: Text
    image: str | None = None


class QuestionStep(_Strict):
    """A question answered in the patient's own words; the answer is saved."""

    id: Slug
    kind: Literal["question"]
    text: Text


class ChoiceStep(_Strict):
    """A question answered with a button; the choice is saved."""

    id: Slug
    kind: Literal["choice"]
    text: Text
    options: Annotated[list[Label], Field(min_length=2, max_length=8)]


class ScaleStep(_Strict):
    """A 0–10 rating with a label for each end; the number is saved."""

    id: Slug
    kind: Literal["scale"]
    text: Text
    low: Label
    high: Label


class ExerciseStep(_Strict):
    """A coping exercise from the toolbox, run by its id."""

    id: Slug
    kind: Literal["exercise"]
    exercise: str
    text: Text | None = None


class CheckpointStep(_Strict):
    """A pause point: carry on now, or later."""

    id: Slug
    kind: Literal["checkpoint"]
    text: Text = "Shall we carry on?"


STEP_KINDS = ("message", "question", "choice", "scale", "exercise", "checkpoint")
Step = Annotated[
    MessageStep | QuestionStep | ChoiceStep | ScaleStep | ExerciseStep | CheckpointStep,
    Field(discriminator="kind"),
]


class FollowUp(_Strict):
    """A message sent through the scheduler some days after the module was completed."""

    after_days: Annotated[int, Field(ge=1, le=90)]
    text: Text


class Module(_Strict):
    id: Slug
    title: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=120)]
    summary: Text
    language: Annotated[str, StringConstraints(pattern=r"^[a-z]{2}$")]
    minutes: Annotated[int, Field(ge=1, le=60)]
    follow_up: FollowUp | None = None
    steps: Annotated[list[Step], Field(min_length=1)]


class Programme(_Strict):
    id: Slug
    title: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=120)]
    summary: Text
    every_days: Annotated[int, Field(ge=1, le=60)]
    modules: Annotated[list[Slug], Field(min_length=1)]
