"""What the gateway does for the care team: /link, crisis alerts to providers, their replies.

- `/link CODE` from a provider's own Telegram chat ties it to their console account (the code
  is made in the console, used once, and expires). It never reaches Rasa and never creates a
  patient pseudonym.
- Each scheduler tick, crisis and red-flag alerts go to the patient's provider's linked chat:
  the pseudonym and a console link, never the patient's words.
- Each tick, providers' replies (`CareTeamMessage` with from_patient false) are delivered to
  the patient's chat with a button to answer back, through the same rate-limited bot, marked
  delivered, and retried on failure up to MAX_ATTEMPTS.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter, defaultdict, deque
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager, nullcontext
from dataclasses import dataclass
from datetime import datetime

import structlog
from sqlalchemy import select, update
from telegram import Bot
from telegram.error import Forbidden, TelegramError

from paincoach.alerts import CRISIS, AlertStore, UrgentAlert
from paincoach.db.channel import ChannelStore
from paincoach.db.engine import session_scope
from paincoach.db.models import CareTeamMessage, ConsoleUser, Participant, TelegramChat, utcnow
from paincoach.gateway.render import keyboard
from paincoach.rasa_client import Button
from paincoach.settings import Settings

log = structlog.get_logger("paincoach.gateway")

REPLY_BUTTON = Button("Reply", "/contact_care_team")
MAX_ATTEMPTS = 10
CHUNK = 4000  # Telegram takes 4,096 characters in one message
LINK_ATTEMPTS = 5  # failed /link codes allowed per chat in LINK_WINDOW seconds
LINK_WINDOW = 15 * 60

LINKED = (
    "Linked. Crisis and red-flag alerts about your patients will reach you here, with a link "
    "to the console. Patients' own words are never sent here."
)
LINK_FAILED = (
    "That link code is not valid or has expired. Make a new one in the console (your "
    "account page) and send it here as /link CODE within 15 minutes."
)
LINK_HOW = "Send /link followed by the code shown in the console, e.g. /link ABCD2345."
LINK_TOO_MANY = "Too many wrong codes. Please wait a quarter of an hour and try again."


@dataclass(frozen=True)
class Reply:
    """A provider's reply waiting to be delivered."""

    id: int
    pseudonym: str
    chat_id: int | None
    body: str
    attempts: int


class CareTeamDesk:
    """The care team's side of the app database, as the gateway uses it."""

    def __init__(self, url: str) -> None:
        self.url = url

    def link_chat(self, code: str, chat_id: int, now: datetime) -> bool:
        """Tie `chat_id` to the enabled account holding the unexpired `code`, once."""
        code = code.strip().upper()
        if not code or len(code) > 64:
            return False
        with session_scope(self.url) as session:
            linked = session.execute(
                update(ConsoleUser)
                .where(
                    ConsoleUser.telegram_link_code == code,
                    ConsoleUser.telegram_link_expires_at > now,
                    ConsoleUser.disabled_at.is_(None),
                )
                .values(
                    telegram_chat_id=chat_id,
                    telegram_link_code=None,
                    telegram_link_expires_at=None,
                )
                .returning(ConsoleUser.id)
            ).first()
            return linked is not None

    def undelivered(self, limit: int = 200) -> list[Reply]:
        """Providers' replies not yet delivered, oldest first."""
        with session_scope(self.url) as session:
            rows = session.execute(
                select(
                    CareTeamMessage.id,
                    Participant.pseudonym,
                    TelegramChat.chat_id,
                    CareTeamMessage.body,
                    CareTeamMessage.delivery_attempts,
                )
                .join(Participant, Participant.id == CareTeamMessage.participant_id)
                .outerjoin(TelegramChat, TelegramChat.pseudonym == Participant.pseudonym)
                .where(
                    CareTeamMessage.from_patient.is_(False),
                    CareTeamMessage.delivered_at.is_(None),
                    CareTeamMessage.delivery_attempts < MAX_ATTEMPTS,
                )
                .order_by(CareTeamMessage.created_at, CareTeamMessage.id)
                .limit(limit)
            ).all()
            return [Reply(*row) for row in rows]

    def claim(self, reply: Reply) -> bool:
        """Count an attempt; False if another gateway took this reply first."""
        with session_scope(self.url) as session:
            claimed = session.execute(
                update(CareTeamMessage)
                .where(
                    CareTeamMessage.id == reply.id,
                    CareTeamMessage.delivered_at.is_(None),
                    CareTeamMessage.delivery_attempts == reply.attempts,
                )
                .values(delivery_attempts=CareTeamMessage.delivery_attempts + 1)
                .returning(CareTeamMessage.id)
            ).first()
            return claimed is not None

    def mark_delivered(self, reply_id: int, now: datetime) -> None:
        with session_scope(self.url) as session:
            session.execute(
                update(CareTeamMessage)
                .where(CareTeamMessage.id == reply_id)
                .values(delivered_at=now)
            )


def chunks(text: str, size: int = CHUNK) -> list[str]:
    """Split a long text into messages, at a paragraph or line break where there is one."""
    parts: list[str] = []
    text = text.strip()
    while len(text) > size:
        cut = max(text.rfind("\n", 0, size), text.rfind(" ", 0, size))
        cut = cut if cut > size // 2 else size
        parts.append(text[:cut].rstrip())
        text = text[cut:].lstrip()
    return [*parts, text] if text else parts


class ProviderRelay:
    """Sends the care team's messages through the gateway's bot."""

    def __init__(
        self,
        bot: Bot,
        settings: Settings,
        channel: ChannelStore | None = None,
        lock: Callable[[str], AbstractAsyncContextManager[object]] | None = None,
    ) -> None:
        self.bot = bot
        self.settings = settings
        self.desk = CareTeamDesk(settings.database_url)
        self.alerts = AlertStore(settings.database_url)
        self.channel = channel or ChannelStore(settings.database_url)
        # The gateway's per-patient lock keeps a reply from landing inside a coach turn.
        self.lock = lock or (lambda _pseudonym: nullcontext())
        self._failed_links: dict[int, deque[float]] = defaultdict(deque)

    # /link ------------------------------------------------------------------------------

    async def link(self, chat_id: int, args: list[str], now: datetime | None = None) -> str:
        """Link a provider's chat to their console account; returns what to answer."""
        if len(args) != 1:
            return LINK_HOW
        failures = self._failed_links[chat_id]
        while failures and failures[0] < time.monotonic() - LINK_WINDOW:
            failures.popleft()
        if len(failures) >= LINK_ATTEMPTS:
            return LINK_TOO_MANY
        linked = await asyncio.to_thread(self.desk.link_chat, args[0], chat_id, now or utcnow())
        log.info("provider chat link", linked=linked)
        if not linked:
            failures.append(time.monotonic())
            return LINK_FAILED
        self._failed_links.pop(chat_id, None)
        return LINKED

    # Each tick --------------------------------------------------------------------------

    async def tick(self, now: datetime) -> Counter[str]:
        """Tell providers about new crisis and red-flag alerts, then deliver replies."""
        outcomes: Counter[str] = Counter()
        outcomes.update(await self.notify_alerts(now))
        outcomes.update(await self.deliver_replies(now))
        return outcomes

    def alert_text(self, alert: UrgentAlert) -> str:
        link = f"{self.settings.console_url}/patients/{alert.pseudonym}"
        if alert.kind == CRISIS:
            what = "Crisis alert: a patient may be at risk of suicide or self-harm."
        else:
            what = "Red-flag alert: a patient described a symptom that may need urgent care."
        return (
            f"{what}\nPatient: {alert.pseudonym}\nThe coach has given its safety response. "
            f"Please review and acknowledge in the console:\n{link}"
        )

    async def notify_alerts(self, now: datetime) -> Counter[str]:
        """Send each new urgent alert to the linked chats of the patient's provider."""
        outcomes: Counter[str] = Counter()
        for alert in await asyncio.to_thread(self.alerts.urgent_unnotified, now):
            if not await asyncio.to_thread(self.alerts.mark_notified, alert.id, now):
                continue  # another gateway is sending it
            sent = 0
            for chat_id in alert.chat_ids:
                try:
                    await self.bot.send_message(chat_id, self.alert_text(alert))
                    sent += 1
                except Forbidden:
                    log.warning("provider chat blocked the bot", alert=alert.id)
                except TelegramError as error:
                    log.warning("alert not sent", alert=alert.id, error=type(error).__name__)
            if sent == 0:
                await asyncio.to_thread(self.alerts.unmark_notified, alert.id)
                outcomes["alert_retry"] += 1
            else:
                log.info("alert sent to provider", alert=alert.id, kind=alert.kind)
                outcomes["alert_sent"] += 1
        return outcomes

    async def deliver_replies(self, now: datetime) -> Counter[str]:
        """Deliver providers' replies to their patients' chats."""
        outcomes: Counter[str] = Counter()
        for reply in await asyncio.to_thread(self.desk.undelivered):
            if not await asyncio.to_thread(self.desk.claim, reply):
                continue
            if reply.chat_id is None:
                log.info("reply for a patient without a chat", participant=reply.pseudonym)
                outcomes["reply_failed"] += 1
                continue
            try:
                async with self.lock(reply.pseudonym):
                    await self._send_reply(reply.chat_id, reply.pseudonym, reply.body)
            except TelegramError as error:
                log.warning(
                    "reply not delivered",
                    participant=reply.pseudonym,
                    attempt=reply.attempts + 1,
                    error=type(error).__name__,
                )
                outcomes["reply_failed"] += 1
                continue
            await asyncio.to_thread(self.desk.mark_delivered, reply.id, now)
            log.info("care team reply delivered", participant=reply.pseudonym)
            outcomes["reply_delivered"] += 1
        return outcomes

    async def _send_reply(self, chat_id: int, pseudonym: str, body: str) -> None:
        parts = chunks(f"Message from {self.settings.care_team_name}:\n\n{body.strip()}")
        for index, part in enumerate(parts):
            last = index == len(parts) - 1
            sent = await self.bot.send_message(
                chat_id, part, reply_markup=keyboard([REPLY_BUTTON]) if last else None
            )
        await asyncio.to_thread(
            self.channel.remember_keyboard, pseudonym, sent.message_id, [REPLY_BUTTON.payload]
        )
