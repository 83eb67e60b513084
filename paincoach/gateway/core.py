"""The gateway's work, independent of how updates arrive: safety net, Rasa, rendering."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import structlog
from telegram import Bot, InputFile, Message
from telegram.error import (
    BadRequest,
    Forbidden,
    NetworkError,
    RetryAfter,
    TelegramError,
    TimedOut,
)

from paincoach import enrolment
from paincoach.charts import ChartProcess
from paincoach.db.channel import ChannelStore, Press
from paincoach.db.engine import through_outage
from paincoach.db.store import CoachStore
from paincoach.gateway.providers import ProviderRelay
from paincoach.gateway.render import keyboard, merged
from paincoach.rasa_client import TURN_KEY, BotMessage, Button, RasaClient, RasaUnavailable
from paincoach.safety import assess, load_model
from paincoach.safety.context import RecentMessages
from paincoach.safety.tiers import carries_meaning
from paincoach.settings import Settings

log = structlog.get_logger("paincoach.gateway")

PROGRESS_CHART = {"paincoach": "progress_chart"}
ENROLMENT_CODE = re.compile(r"^[A-Za-z0-9_-]{1,32}$")
MAX_TEXT = 4000  # Telegram allows 4,096 characters; Rasa does not need more of a patient's message

RASA_DOWN = (
    "I'm sorry — I'm having trouble thinking right now. I've kept your message and I'll "
    "answer it as soon as I can."
)
STALE_BUTTON = (
    "That button is from an earlier message, so I can't use it now. Just tell me what you'd like."
)
USED_BUTTON = "You've already answered that one."
WITHDRAW_BUTTON = Button("Withdraw from the research", "/withdraw_research")


def retry_seconds(error: RetryAfter) -> float:
    """Seconds to wait after a 429, whichever type this PTB version reports it in."""
    delay = error.retry_after
    return delay.total_seconds() if isinstance(delay, timedelta) else float(delay)


async def with_retries[T](call: Callable[[], Awaitable[T]], attempts: int = 4) -> T:
    """Retry Telegram calls through network errors and flood limits (429)."""
    for attempt in range(1, attempts + 1):
        try:
            return await call()
        except RetryAfter as error:
            if attempt == attempts:
                raise
            await asyncio.sleep(retry_seconds(error))
        except BadRequest:
            raise  # a NetworkError to python-telegram-bot, but asking again gets the same answer
        except (TimedOut, NetworkError):
            if attempt == attempts:
                raise
            await asyncio.sleep(0.5 * 2**attempt)
    raise AssertionError("unreachable")


async def remove_keyboard(message: Message) -> None:
    """Take the buttons off a message whose press was used; a failure only leaves them
    there (pressing again is answered as used), so it is logged, never raised."""
    try:
        await with_retries(lambda: message.edit_reply_markup(reply_markup=None))
    except BadRequest:
        pass  # already without a keyboard
    except TelegramError as error:
        log.info("keyboard not removed", error=type(error).__name__)


class Gateway:
    """Carries patient messages to Rasa and the coach's replies back to Telegram."""

    def __init__(self, bot: Bot, rasa: RasaClient, settings: Settings) -> None:
        self.bot = bot
        self.rasa = rasa
        self.settings = settings
        self.channel = ChannelStore(settings.database_url)
        self.store = CoachStore(settings.database_url)
        self.risk_model = load_model(settings.safety_model_path)
        self.charts = ChartProcess()
        self.recent = RecentMessages(
            settings.safety_context_messages, settings.safety_context_minutes * 60
        )
        self._locks: dict[str, asyncio.Lock] = {}
        self.care_team = ProviderRelay(bot, settings, self.channel, self._lock)
        # Updates a crash interrupted, handled again at start: Rasa may have taken them.
        self.recovered: set[int] = set()

    def _lock(self, pseudonym: str) -> asyncio.Lock:
        # One turn at a time per patient keeps replies in the order they were asked.
        return self._locks.setdefault(pseudonym, asyncio.Lock())

    # Incoming ---------------------------------------------------------------------------

    async def patient_says(
        self, chat_id: int, text: str, pressed: bool = False, update_id: int | None = None
    ) -> None:
        """A text from the patient: the safety layer first, then Rasa, then the replies.
        A `pressed` button's payload is the coach's own words, so it is not assessed.
        `update_id` names the Telegram update, so that the turn is taken once only."""
        text = text.strip()[:MAX_TEXT]
        turn = f"u{update_id}" if update_id is not None else None
        pseudonym = await asyncio.to_thread(self.channel.pseudonym_for_chat, chat_id)
        async with self._lock(pseudonym):
            if await asyncio.to_thread(self.channel.has_pending, pseudonym):
                await asyncio.to_thread(self.channel.queue, pseudonym, text, turn)
                return
            try:
                await self._converse(
                    chat_id, pseudonym, text, pressed, turn, update_id in self.recovered
                )
            except RasaUnavailable:
                log.warning("rasa unavailable; message kept", participant=pseudonym)
                if await asyncio.to_thread(self.channel.queue, pseudonym, text, turn):
                    await self.send_text(chat_id, RASA_DOWN)

    async def _converse(
        self,
        chat_id: int,
        pseudonym: str,
        text: str,
        pressed: bool = False,
        turn: str | None = None,
        taken_maybe: bool = False,
    ) -> None:
        """One turn; when Rasa may have taken it already (`taken_maybe`: sent before a
        crash), its replies are read from the conversation instead of a second turn."""
        if turn is not None and taken_maybe:
            earlier = await self.rasa.replies_to(pseudonym, turn)
            if earlier is not None:
                log.info("turn taken before a crash; its replies sent", participant=pseudonym)
                await self.render(chat_id, pseudonym, earlier)
                return
        if pressed or text.startswith("/"):  # a button or a command: the coach's own words
            replies = await self.rasa.send(pseudonym, text, turn=turn)
            await self.render(chat_id, pseudonym, replies)
            return
        assessment = assess(text, self.risk_model, self.recent.earlier(pseudonym))
        if carries_meaning(text):
            self.recent.add(pseudonym, text)
        if not assessment.alarming:
            replies = await self.rasa.send(pseudonym, text, turn=turn)
        else:
            # Safety does not wait for the classifier: the patient's words go into the
            # transcript, then the crisis or red-flag flow runs at the tier found.
            log.info(
                "safety",
                participant=pseudonym,
                kind=assessment.kind,
                tier=assessment.tier.value,
                reason=assessment.reason,
                crisis_score=round(assessment.crisis_score, 3),
                red_flag_score=round(assessment.red_flag_score, 3),
            )
            await self.rasa.add_message(pseudonym, text)
            entities = {"safety_net": assessment.reason, "safety_tier": assessment.tier.value}
            replies = await self.rasa.trigger_intent(
                pseudonym,
                assessment.kind or "crisis",
                {**entities, TURN_KEY: turn} if turn else entities,
            )
        await self.render(chat_id, pseudonym, replies)

    async def command(
        self, chat_id: int, command: str, args: list[str], update_id: int | None = None
    ) -> None:
        """A Telegram command, turned into the message Rasa expects."""
        if command == "start" and args:
            payload = await self._start_with_code(chat_id, args[0])
        else:
            payload = COMMAND_PAYLOADS[command]
        await self.patient_says(chat_id, payload, update_id=update_id)

    async def _start_with_code(self, chat_id: int, code: str) -> str:
        """/start CODE: a code that cannot be used is explained and onboarding goes on without
        it; someone who already consented is enrolled at once; a new patient's code goes to
        onboarding and is redeemed at consent."""
        url = self.settings.database_url
        found = (
            await asyncio.to_thread(enrolment.check, code, url=url)
            if ENROLMENT_CODE.match(code)
            else enrolment.Redemption(enrolment.Outcome.UNKNOWN)
        )
        pseudonym = await asyncio.to_thread(self.channel.pseudonym_for_chat, chat_id)
        participant = await asyncio.to_thread(self.store.participant, pseudonym)
        if found.ok and participant is None:
            return "/start" + json.dumps({"enrolment_code": enrolment.normalise(code)})
        if found.ok:
            found = await asyncio.to_thread(enrolment.redeem, code, pseudonym, url=url)
            log.info("enrolled by code", participant=pseudonym, outcome=found.outcome.value)
        notice = enrolment.patient_notice(found, enrolled_now=True)
        if notice:
            await self.send_text(chat_id, notice)
        return COMMAND_PAYLOADS["start"]

    async def button_pressed(
        self, chat_id: int, message: Message | None, data: str, update_id: int | None = None
    ) -> str | None:
        """A button press: checked against what was sent, used once; returns a notice."""
        pseudonym = await asyncio.to_thread(self.channel.pseudonym_for_chat, chat_id)
        if message is None:
            return STALE_BUTTON
        # Under the patient's lock: a reply still being sent has stored its keyboard first.
        async with self._lock(pseudonym):
            press = await asyncio.to_thread(
                self.channel.press, pseudonym, message.message_id, data, update_id
            )
        if press.outcome is Press.UNKNOWN:
            log.info("unknown button press", participant=pseudonym)
            return STALE_BUTTON
        if press.outcome is Press.USED:
            return USED_BUTTON
        # The used keyboard goes while the coach answers: neither waits for the other.
        await asyncio.gather(
            remove_keyboard(message),
            self.patient_says(chat_id, press.payload or "", pressed=True, update_id=update_id),
        )
        return None

    async def trigger(self, pseudonym: str, intent: str, entities: dict[str, Any]) -> bool:
        """Start a turn from our side (reminders, pushes); False if the chat is unknown."""
        chat_id = await asyncio.to_thread(self.channel.chat_for_pseudonym, pseudonym)
        if chat_id is None:
            return False
        async with self._lock(pseudonym):
            replies = await self.rasa.trigger_intent(pseudonym, intent, entities)
            await self.render(chat_id, pseudonym, replies)
        return True

    async def retry_pending(self) -> int:
        """Answer the messages kept while Rasa was down, in the order they arrived."""
        pending = await asyncio.to_thread(self.channel.pending)
        if not pending or not await self.rasa.is_ready():
            return 0
        answered = 0
        for message in pending:
            chat_id = await asyncio.to_thread(self.channel.chat_for_pseudonym, message.pseudonym)
            if chat_id is None:
                await asyncio.to_thread(self.channel.mark_answered, message.id)
                continue
            async with self._lock(message.pseudonym):
                try:
                    # Tried before: Rasa may have taken it just before it went away.
                    await self._converse(
                        chat_id, message.pseudonym, message.text, turn=message.turn,
                        taken_maybe=True,
                    )  # fmt: skip
                except RasaUnavailable:
                    return answered
                await asyncio.to_thread(self.channel.mark_answered, message.id)
            answered += 1
        return answered

    # Outgoing ---------------------------------------------------------------------------

    async def render(self, chat_id: int, pseudonym: str, replies: list[BotMessage]) -> None:
        for reply in merged(replies):
            try:
                await self._render_one(chat_id, pseudonym, reply)
            except Forbidden:
                log.info("patient blocked the bot", participant=pseudonym)
                return

    async def _render_one(self, chat_id: int, pseudonym: str, reply: BotMessage) -> None:
        if reply.custom == PROGRESS_CHART:
            await self.send_progress_chart(chat_id, pseudonym)
        elif reply.custom is not None:
            if isinstance(reply.custom.get("text"), str):
                await self.send_text(chat_id, reply.custom["text"])
            else:
                log.info("custom payload not for telegram", participant=pseudonym)
        if reply.image:
            await with_retries(lambda: self.bot.send_photo(chat_id, photo=reply.image or ""))
        if reply.text or reply.buttons:
            sent = await with_retries(
                lambda: self.bot.send_message(
                    chat_id, reply.text or "Please choose:", reply_markup=keyboard(reply.buttons)
                )
            )
            if reply.buttons:
                payloads = [b.payload for b in reply.buttons]
                # Sent already: through an outage too, or its buttons would not work.
                await through_outage(
                    lambda: asyncio.to_thread(
                        self.channel.remember_keyboard, pseudonym, sent.message_id, payloads
                    ),
                    "remember keyboard",
                )

    async def send_text(self, chat_id: int, text: str) -> None:
        await with_retries(lambda: self.bot.send_message(chat_id, text))

    async def send_progress_chart(self, chat_id: int, pseudonym: str) -> None:
        participant = await asyncio.to_thread(self.store.participant, pseudonym)
        if participant is None:
            return
        checkins = await asyncio.to_thread(self.store.recent_checkins, pseudonym, 30)
        png = await self.charts.progress_chart(checkins, participant.timezone)
        await with_retries(
            lambda: self.bot.send_photo(chat_id, photo=InputFile(png, filename="progress.png"))
        )

    async def send_my_data(self, chat_id: int) -> None:
        """The patient's own data, as a JSON file."""
        pseudonym = await asyncio.to_thread(self.channel.pseudonym_for_chat, chat_id)
        export = await asyncio.to_thread(self.store.export, pseudonym)
        if export is None:
            await self.send_text(chat_id, "I don't have any data stored about you.")
            return
        body = json.dumps(export, indent=2, ensure_ascii=False, default=str).encode()
        await with_retries(
            lambda: self.bot.send_document(
                chat_id,
                document=InputFile(body, filename="paincoach-my-data.json"),
                caption="Everything I have stored about you.",
            )
        )
        participant = export["participant"]
        if participant["research_consent"] and not participant["research_withdrawn_at"]:
            await self._offer_withdrawal(chat_id, pseudonym)

    async def _offer_withdrawal(self, chat_id: int, pseudonym: str) -> None:
        """With /mydata: leaving the research is one tap away."""
        sent = await with_retries(
            lambda: self.bot.send_message(
                chat_id,
                "You're taking part in the research. If you'd rather researchers didn't see "
                "your data from now on, you can withdraw; your coaching carries on as before.",
                reply_markup=keyboard([WITHDRAW_BUTTON]),
            )
        )
        await asyncio.to_thread(
            self.channel.remember_keyboard, pseudonym, sent.message_id, [WITHDRAW_BUTTON.payload]
        )


COMMAND_PAYLOADS = {
    "start": "/start",
    "help": "/help",
    "checkin": "/start_checkin",
    "pause": "/pause_reminders",
    "resume": "/resume_reminders",
    "progress": "/ask_progress",
    "delete": "/delete_my_data",
}
