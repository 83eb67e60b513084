"""A module as the patient will see it in the chat, as plain text (CLI and console)."""

from __future__ import annotations

from paincoach import content
from paincoach.modules.schema import (
    CheckpointStep,
    ChoiceStep,
    ExerciseStep,
    MessageStep,
    Module,
    Programme,
    QuestionStep,
    ScaleStep,
    Step,
)


def _buttons(labels: list[str]) -> str:
    return "  " + " ".join(f"[{label}]" for label in labels)


def step_lines(step: Step) -> list[str]:
    """What the patient reads for one step, with its buttons."""
    match step:
        case MessageStep(text=text, image=image):
            return [text, *([f"  (picture: {image})"] if image else [])]
        case QuestionStep(text=text):
            return [text, "  (the patient types an answer; it is saved)"]
        case ChoiceStep(text=text, options=options):
            return [text, _buttons(options)]
        case ScaleStep(text=text, low=low, high=high):
            return [text, _buttons([str(n) for n in range(11)]), f"  0 = {low}, 10 = {high}"]
        case ExerciseStep(text=text, exercise=exercise_id):
            exercise = content.exercises().get(exercise_id)
            name = exercise.title if exercise else exercise_id
            minutes = f", about {exercise.minutes} min" if exercise else ""
            return [*([text] if text else []), f"  (toolbox exercise: {name}{minutes})"]
        case CheckpointStep(text=text):
            return [text, _buttons(["Yes, carry on", "Later"])]
    return []


def describe_module(module: Module) -> str:
    lines = [f"{module.title} ({module.id}, about {module.minutes} min, {module.language})",
             module.summary, ""]  # fmt: skip
    for number, step in enumerate(module.steps, start=1):
        first, *rest = step_lines(step)
        lines.append(f"{number}. [{step.kind}] {first}")
        lines += rest
    if module.follow_up:
        lines += [
            "",
            f"Follow-up after {module.follow_up.after_days} days: {module.follow_up.text}",
        ]
    return "\n".join(lines)


def describe_programme(programme: Programme, modules: dict[str, Module]) -> str:
    lines = [f"{programme.title} ({programme.id}): a module every {programme.every_days} days",
             programme.summary, ""]  # fmt: skip
    for number, module_id in enumerate(programme.modules):
        module = modules[module_id]
        lines.append(f"day {number * programme.every_days}: {module.title} ({module.id})")
    return "\n".join(lines)
