"""Simulated patients for the speed benchmark: real conversations, as a patient has them.

A patient is onboarded by buttons, gets the evening reminder (as the scheduler sends it),
answers the check-in by buttons, turns the exercise offer down, asks how they are doing, and
does a paced-breathing exercise from start to end: 25 turns. Every turn is one message (or
button, or reminder) in and the coach's replies out; its latency is what the patient waits.

Two ways in: straight to Rasa's REST channel (`RestPatient`), or as a Telegram user through
the Bot API stand-in and the gateway (`GatewayPatient`).
"""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from paincoach.rasa_client import RasaClient
from paincoach.standin import BotApiStandIn

REMINDER = "reminder"  # a turn started by the scheduler, not by the patient
TURN_TIMEOUT = 30.0  # a turn not answered by then counts as failed, at this latency


@dataclass(frozen=True)
class Turn:
    """What the patient sends: a typed `message`, or the button titled `button` (whose
    payload is `message`), or the reminder (`kind` REMINDER, `message` the intent)."""

    kind: str
    message: str
    button: str | None = None


def _scale(kind: str, *scores: int) -> list[Turn]:
    return [Turn(kind, str(score), str(score)) for score in scores]


ONBOARDING = [
    Turn("onboarding", "/start"),
    Turn("onboarding", "/affirm", "Yes, I agree"),
    Turn("onboarding", "/deny", "No"),  # research consent
    Turn("onboarding", "/deny", "No"),  # free text for research
    Turn("onboarding", "Sam"),
    Turn("onboarding", "8pm", "8pm"),
    Turn("onboarding", "Europe/London", "Europe/London"),
]
CHECK_IN = [
    Turn(REMINDER, "start_checkin"),
    *_scale("check-in", 7, 6, 5, 4, 3),
    Turn("check-in", "/deny", "Skip"),  # no note
    Turn("check-in", "/deny", "No"),  # the exercise offered after it
]
PROGRESS = [Turn("progress", "how am I doing?")]
EXERCISE = [
    Turn("exercise", "I'd like a breathing exercise"),
    *_scale("exercise", 6),
    *[Turn("exercise", "next", "Next")] * 5,
    Turn("exercise", "done", "Done"),
    *_scale("exercise", 4),
]
CONVERSATION: list[Turn] = [*ONBOARDING, *CHECK_IN, *PROGRESS, *EXERCISE]


class Patient(Protocol):
    async def turn(self, turn: Turn) -> bool:
        """Send one turn and wait for the coach's replies; False if they did not come."""


class RestPatient:
    """A patient talking to Rasa's REST channel directly (reminders through its HTTP API)."""

    def __init__(self, rasa: RasaClient, sender: str) -> None:
        self.rasa, self.sender = rasa, sender

    async def turn(self, turn: Turn) -> bool:
        if turn.kind == REMINDER:
            entities = {"reminder": "daily"}  # as the scheduler sends it
            replies = await self.rasa.trigger_intent(self.sender, turn.message, entities)
        else:
            replies = await self.rasa.send(self.sender, turn.message)
        return bool(replies)


class Mailbox:
    """The bot's messages per chat, read once from the stand-in as they are sent.

    The stand-in's own wait re-reads all messages of all chats on every change, which with
    dozens of patients would cost more CPU than the gateway and blur its figures."""

    def __init__(self, standin: BotApiStandIn) -> None:
        self.standin = standin
        self.read = 0
        self.chats: dict[int, list[Any]] = defaultdict(list)
        self.changed = asyncio.Condition()
        self.task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Mailbox:
        self.read = len(self.standin.state.sent)
        self.task = asyncio.create_task(self._follow())
        return self

    async def __aexit__(self, *_: object) -> None:
        if self.task:
            self.task.cancel()

    async def _follow(self) -> None:
        sent = self.standin.state.sent
        while True:
            await self.standin.state.notifier.wait(1.0)
            if len(sent) > self.read:
                for message in sent[self.read :]:
                    self.chats[message.chat_id].append(message)
                self.read = len(sent)
                async with self.changed:
                    self.changed.notify_all()

    async def wait(self, chat_id: int, count: int, timeout: float) -> bool:
        """True once the chat holds `count` bot messages."""
        async with self.changed:
            try:
                await asyncio.wait_for(
                    self.changed.wait_for(lambda: len(self.chats[chat_id]) >= count), timeout
                )
            except TimeoutError:
                return False
        return True


class GatewayPatient:
    """A Telegram user: types or taps through the Bot API stand-in; the gateway answers.
    A turn ends when the bot has sent as many messages as it did for that turn when the
    conversation was first calibrated (`replies`)."""

    def __init__(
        self,
        standin: BotApiStandIn,
        mailbox: Mailbox,
        chat_id: int,
        replies: list[int],
        trigger: Callable[[int, Turn], Any],
    ) -> None:
        self.standin, self.mailbox, self.chat_id = standin, mailbox, chat_id
        self.replies, self.trigger = replies, trigger
        self.step = 0

    async def turn(self, turn: Turn) -> bool:
        expected = len(self.mailbox.chats[self.chat_id]) + self.replies[self.step]
        self.step += 1
        if turn.kind == REMINDER:
            await self.trigger(self.chat_id, turn)
        else:
            self._send(turn)
        return await self.mailbox.wait(self.chat_id, expected, TURN_TIMEOUT)

    def _send(self, turn: Turn) -> None:
        if turn.button:
            for message in reversed(self.mailbox.chats[self.chat_id]):
                for button in message.buttons:
                    if button.get("text") == turn.button and "callback_data" in button:
                        self.standin.press_button(
                            self.chat_id, message.message_id, button["callback_data"]
                        )
                        return
                if message.buttons:
                    break
        self.standin.user_says(self.chat_id, turn.message)


async def calibrate(patient: GatewayPatient, settle: float = 0.6) -> list[int]:
    """How many messages the bot sends for each turn of the conversation: one patient, each
    turn given time to finish (no new message for `settle` seconds)."""
    counts: list[int] = []
    chats = patient.mailbox.chats[patient.chat_id]
    for turn in CONVERSATION:
        before = len(chats)
        patient.replies = [*counts, 1]
        patient.step = len(counts)
        if not await patient.turn(turn):
            raise RuntimeError(f"no reply to {turn} through the gateway")
        seen = len(chats)
        while True:
            await asyncio.sleep(settle)
            if len(chats) == seen:
                break
            seen = len(chats)
        counts.append(len(chats) - before)
    return counts


async def timed(patient: Patient, turn: Turn) -> tuple[float, bool]:
    """Latency in seconds of one turn, and whether it was answered."""
    started = time.perf_counter()
    try:
        answered = await patient.turn(turn)
    except Exception:  # a failed turn is a figure here, not a crash
        answered = False
    elapsed = time.perf_counter() - started
    return (elapsed if answered else max(elapsed, TURN_TIMEOUT)), answered
