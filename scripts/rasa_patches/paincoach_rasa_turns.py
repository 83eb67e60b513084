"""A turn Rasa could not finish is not saved, and the channel is told so; loaded into
`.venv-rasa` by `make setup` (see the README).

Rasa 3.6 carries on when a custom action cannot be reached (the action server was killed, or
is restarting): it logs the failure, drops the action's events and saves the turn without
them, so a patient's check-in answer would be in the transcript but never validated or
stored. When its tracker store fails (a PostgreSQL restart), it carries on with an empty
conversation in memory, forgetting that the patient was half way through a check-in. Here
either makes the turn fail as a whole: nothing of it is saved, the REST reply ends with
`{"custom": {"paincoach": "turn_failed"}}` (what was said before the failure is dropped by the
gateway), and the other endpoints answer 500, so the gateway keeps the patient's message (or
the scheduler its reminder) and sends it again once everything is back.
"""

from __future__ import annotations

import contextvars
import functools
import importlib.abc
import importlib.util
import logging
import sys
from typing import Any

TURN_FAILED = {"paincoach": "turn_failed"}
PATCHED_MODULE = "rasa.core.processor"  # it imports rasa.core.actions.action
logger = logging.getLogger("paincoach_rasa_turns")
_action_failed: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "paincoach_action_failed", default=False
)


class TurnNotSaved(RuntimeError):
    """A custom action of this turn could not be run, so the turn is not saved."""


def patch() -> None:
    """Wrap the methods; called once Rasa's processor module has been imported."""
    from rasa.core.actions.action import ActionExecutionRejection, RemoteAction
    from rasa.core.processor import MessageProcessor
    from rasa.core.tracker_store import FailSafeTrackerStore

    def tracker_store_failed(self: Any, error: Exception) -> None:
        """No fallback to an empty conversation in memory: the turn fails instead."""
        logger.error("tracker store failed: %s", type(error).__name__)
        raise error

    original_run = RemoteAction.run
    original_save = MessageProcessor.save_tracker
    original_handle = MessageProcessor.handle_message
    original_trigger = MessageProcessor.trigger_external_user_uttered

    @functools.wraps(original_run)
    async def run(self: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return await original_run(self, *args, **kwargs)
        except ActionExecutionRejection:
            raise  # a form's validation said no: part of the conversation
        except Exception:
            _action_failed.set(True)
            raise

    @functools.wraps(original_save)
    async def save_tracker(self: Any, tracker: Any) -> None:
        if _action_failed.get():
            raise TurnNotSaved("a custom action of this turn failed")
        await original_save(self, tracker)

    @functools.wraps(original_handle)
    async def handle_message(self: Any, message: Any) -> Any:
        reset = _action_failed.set(False)
        try:
            return await original_handle(self, message)
        except Exception as error:
            # By type only: Rasa's own log line would carry the patient's message.
            logger.error("turn not saved: %s", type(error).__name__)
            await message.output_channel.send_custom_json(message.sender_id, TURN_FAILED)
            return None
        finally:
            _action_failed.reset(reset)

    @functools.wraps(original_trigger)
    async def trigger_external_user_uttered(self: Any, *args: Any, **kwargs: Any) -> None:
        reset = _action_failed.set(False)
        try:
            await original_trigger(self, *args, **kwargs)
        finally:
            _action_failed.reset(reset)

    FailSafeTrackerStore.on_tracker_store_error = tracker_store_failed
    FailSafeTrackerStore.on_tracker_store_retrieve_error = tracker_store_failed
    RemoteAction.run = run
    MessageProcessor.save_tracker = save_tracker
    MessageProcessor.handle_message = handle_message
    MessageProcessor.trigger_external_user_uttered = trigger_external_user_uttered


class _PatchOnImport(importlib.abc.MetaPathFinder):
    """Patch Rasa's processor right after its first import, so that a Python started in
    .venv-rasa for anything else (pip, a one-line check) does not import Rasa."""

    def find_spec(self, name: str, path: Any, target: Any = None) -> Any:
        if name != PATCHED_MODULE:
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(name)
        if spec is None or spec.loader is None:
            return spec
        loader = spec.loader
        original_exec = loader.exec_module

        def exec_module(module: Any) -> None:
            original_exec(module)
            patch()

        loader.exec_module = exec_module  # type: ignore[method-assign]
        return spec


def install() -> None:
    if PATCHED_MODULE in sys.modules:
        patch()
    elif not any(isinstance(finder, _PatchOnImport) for finder in sys.meta_path):
        sys.meta_path.insert(0, _PatchOnImport())


install()
