"""Scripted modules in the chat: started by a provider's push or "continue my module", run
step by step by `module_form`, paused and resumed at the same step, every answer saved."""

from __future__ import annotations

from functools import lru_cache
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
    entity,
    is_external,
    latest_intent,
    latest_text,
    log,
)
from paincoach.modules.catalogue import Catalogue, load
from paincoach.modules.progress import ModuleStore
from paincoach.modules.runner import Outcome, introduction, prompt, read_reply, saved_kind
from paincoach.modules.schema import ExerciseStep, Module
from paincoach.settings import get_settings

MODULE_SLOTS = ("module_id", "module_step", "module_answer")
# What the form ended with, for the rules: the module is finished, paused, or an exercise runs.
COMPLETED, PAUSED, EXERCISE = "completed", "paused", "exercise"
CONTINUE_MODULE = {"title": "Continue my module", "payload": "/continue_module"}


@lru_cache(maxsize=1)
def catalogue() -> Catalogue:
    found = load()
    for problem in found.problems:
        log.error("module file problem", problem=str(problem))
    return found


@lru_cache(maxsize=1)
def modules() -> ModuleStore:
    return ModuleStore(get_settings().database_url)


def current(tracker: Tracker) -> tuple[Module | None, int]:
    module = catalogue().modules.get(str(tracker.get_slot("module_id") or ""))
    return module, int(tracker.get_slot("module_step") or 0)


def saved_place_note() -> str:
    return "I've kept your place. Say “continue my module” whenever you're ready."


def remind_of_waiting_module(pseudonym: str, dispatcher: CollectingDispatcher) -> None:
    """After a check-in: a module given or paused is waiting, one tap away."""
    place = modules().to_continue(pseudonym)
    module = catalogue().modules.get(place.module_id) if place else None
    if place is None or module is None:
        return
    where = "where you left off" if place.status == "paused" else "whenever you're ready"
    dispatcher.utter_message(
        text=f"“{module.title}” is waiting for you, {where}.", buttons=[CONTINUE_MODULE]
    )


class ActionContinueModule(EnrolledAction):
    """Start the module a provider pushed, or resume the one last worked on at its step."""

    def name(self) -> str:
        return "action_continue_module"

    async def act(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> Events:
        pushed = entity(tracker, "module_id") if is_external(tracker) else None
        place = None if pushed else modules().to_continue(tracker.sender_id)
        module = catalogue().modules.get(pushed or (place.module_id if place else ""))
        if pushed and module is None:
            log.error("push of an unknown module", module=pushed)
            return [SlotSet("module_id", None)]  # nothing to run; the form ends at once
        if module is None:
            dispatcher.utter_message(
                text="You don't have a module waiting just now. When your care team shares "
                "one, it will appear here."
            )
            return [SlotSet("module_id", None)]
        step = modules().start(tracker.sender_id, module.id)
        opening = introduction(module, step)
        if pushed:
            opening = f"{get_settings().care_team_name.capitalize()} shared a module with you. "
            opening += introduction(module, step)
        dispatcher.utter_message(text=opening)
        return [SlotSet("module_id", module.id), SlotSet("module_step", step),
                SlotSet("module_answer", None), SlotSet("module_outcome", None)]  # fmt: skip


class ActionAskModuleAnswer(EnrolledAction):
    """Show the current step, with its buttons."""

    def name(self) -> str:
        return "action_ask_module_answer"

    async def act(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> Events:
        module, index = current(tracker)
        if module is None or index >= len(module.steps):
            return []
        shown = prompt(module.steps[index])
        dispatcher.utter_message(text=shown.text, buttons=buttons(shown.buttons))
        return []


class ValidateModuleForm(EnrolledFormValidation):
    """Read each reply as the answer to the step shown, save it, and move on."""

    def name(self) -> str:
        return "validate_module_form"

    def not_an_answer(self, tracker: Tracker, domain: DomainDict) -> bool:
        """A question is answered first wherever the step cannot take it as its reply."""
        module, index = current(tracker)
        if module is None or index >= len(module.steps):
            return False
        reply = read_reply(module.steps[index], latest_text(tracker), latest_intent(tracker))
        return reply.outcome is Outcome.NOT_AN_ANSWER

    async def extract_module_answer(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        """Take the patient's words as the reply, unless it is not theirs (the safety net,
        a reminder or a push) or a question the rules should answer first."""
        if tracker.get_slot("requested_slot") != "module_answer" or is_external(tracker):
            return {}
        module, index = current(tracker)
        if module is not None and index < len(module.steps):
            reply = read_reply(module.steps[index], latest_text(tracker), latest_intent(tracker))
            if reply.outcome is Outcome.NOT_AN_ANSWER:
                return {}
        return {"module_answer": latest_text(tracker)}

    def validate_module_answer(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        if value is None:  # cleared by an action, not a reply: nothing to read
            return {}
        module, index = current(tracker)
        if module is None or index >= len(module.steps):
            return {"module_answer": COMPLETED}
        step = module.steps[index]
        reply = read_reply(step, str(value or ""), latest_intent(tracker))
        store, pseudonym = modules(), tracker.sender_id
        match reply.outcome:
            case Outcome.UNCLEAR | Outcome.NOT_AN_ANSWER:
                dispatcher.utter_message(text=reply.hint or "Sorry, I didn't catch that.")
                return {"module_answer": None}  # the same step is asked again
            case Outcome.PAUSE:
                store.pause(pseudonym, module.id, index)
                dispatcher.utter_message(text=f"Of course. {saved_place_note()}")
                return {"module_answer": PAUSED}
            case Outcome.EXERCISE:
                store.advance(pseudonym, module.id, index + 1)
                return {"module_answer": EXERCISE, "module_step": index + 1}
        kind = saved_kind(step)
        if kind and reply.value is not None:
            store.save_answer(pseudonym, module.id, step.id, kind, reply.value)
        following = index + 1
        if following >= len(module.steps):
            store.complete(pseudonym, module.id, len(module.steps))
            return {"module_answer": COMPLETED, "module_step": following}
        store.advance(pseudonym, module.id, following)
        return {"module_answer": None, "module_step": following}

    async def required_slots(
        self,
        domain_slots: list[str],
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        domain: DomainDict,
    ) -> list[str]:
        module, _ = current(tracker)
        return (
            await super().required_slots(domain_slots, dispatcher, tracker, domain)
            if module
            else []
        )


class ActionModuleNext(EnrolledAction):
    """After the form: close a finished module, or hand over to a toolbox exercise."""

    def name(self) -> str:
        return "action_module_next"

    async def act(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> Events:
        module, index = current(tracker)
        outcome = tracker.get_slot("module_answer")
        clear = [SlotSet("module_answer", None), SlotSet("module_outcome", outcome)]
        if module is None:
            return [*clear, SlotSet("module_outcome", COMPLETED)]
        if outcome == EXERCISE:
            step = module.steps[index - 1]
            assert isinstance(step, ExerciseStep)
            return [*clear, SlotSet("coping_exercise", step.exercise)]
        if outcome == COMPLETED:
            dispatcher.utter_message(
                text=f"That's the end of “{module.title}”. Thank you for taking the time — "
                "your answers are saved, and your care team can see them."
            )
            if module.follow_up:
                self._schedule_follow_up(tracker.sender_id, module)
            return [*clear, SlotSet("module_id", None), SlotSet("module_step", None)]
        return clear  # paused: the place is kept in the database and in the slots

    @staticmethod
    def _schedule_follow_up(pseudonym: str, module: Module) -> None:
        from paincoach.modules.push import PushStore

        assert module.follow_up is not None
        PushStore(get_settings().database_url).schedule_follow_up(
            pseudonym, module.id, module.follow_up.after_days
        )


class ActionModuleFollowUp(EnrolledAction):
    """Some days after a module (or when the patient brings it up): the reflection
    question its authors wrote."""

    def name(self) -> str:
        return "action_module_follow_up"

    async def act(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> Events:
        module_id = entity(tracker, "module_id")
        if module_id is None:
            done = [p for p in modules().places(tracker.sender_id) if p.status == "completed"]
            module_id = done[0].module_id if done else None
        module = catalogue().modules.get(module_id or "")
        if module is None or module.follow_up is None:
            dispatcher.utter_message(
                text="Happy to talk it over. What's on your mind about it?"
                if module
                else "You haven't finished a module yet. Say “continue my module” to "
                "carry on with one."
            )
            return []
        dispatcher.utter_message(text=module.follow_up.text)
        return []
