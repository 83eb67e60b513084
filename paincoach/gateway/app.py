"""The python-telegram-bot application: handlers, wiring, background loops, polling or webhook."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import Awaitable
from datetime import timedelta
from pathlib import Path
from typing import Any

import structlog
from sqlalchemy.exc import SQLAlchemyError
from telegram import BotCommand, Message, Update
from telegram.error import TelegramError
from telegram.ext import (
    Application,
    ApplicationBuilder,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    SimpleUpdateProcessor,
    filters,
)

from paincoach.alerts import AlertStore
from paincoach.db.channel import ChannelStore
from paincoach.db.engine import through_outage
from paincoach.db.models import utcnow
from paincoach.db.store import CoachStore
from paincoach.gateway.core import COMMAND_PAYLOADS, Gateway
from paincoach.gateway.limits import MessageRateLimiter
from paincoach.gateway.providers import ProviderRelay
from paincoach.privacy.upkeep import DataUpkeep
from paincoach.rasa_client import RasaClient
from paincoach.scheduler.clock import Clock, SystemClock
from paincoach.scheduler.jobs import JobStore
from paincoach.scheduler.runner import Scheduler
from paincoach.settings import Settings

log = structlog.get_logger("paincoach.gateway")

COMMANDS = [
    BotCommand("start", "Start, or start again"),
    BotCommand("checkin", "Do today's check-in"),
    BotCommand("progress", "See how you have been doing"),
    BotCommand("help", "What I can do"),
    BotCommand("pause", "Pause daily reminders"),
    BotCommand("resume", "Resume daily reminders"),
    BotCommand("mydata", "Download your data"),
    BotCommand("delete", "Delete all your data"),
    BotCommand("language", "Change language"),
]
NOT_TEXT = {
    "voice": "I can't listen to voice messages yet, I'm afraid — could you type it for me?",
    "location": "Thanks, but I don't need your location, and I haven't stored it.",
    "contact": "Thanks, but I don't need contact details, and I haven't stored them.",
}
NOT_TEXT_DEFAULT = "I can only read text for now — could you tell me in words?"
EDITED = (
    "I see you edited a message. I keep the answer you first sent — if you meant something "
    "else, just send it again."
)


def gateway_of(context: ContextTypes.DEFAULT_TYPE) -> Gateway:
    return context.application.bot_data["gateway"]  # type: ignore[no-any-return]


async def on_text(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Pass a patient's text to the coach."""
    if update.effective_chat and update.message and update.message.text:
        await gateway_of(context).patient_says(
            update.effective_chat.id, update.message.text, update_id=update.update_id
        )


async def on_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Turn /start, /checkin, /help, /pause, /resume, /progress and /delete into coach turns."""
    if update.effective_chat and update.message and update.message.text:
        name = update.message.text.split()[0][1:].split("@")[0].lower()
        await gateway_of(context).command(
            update.effective_chat.id, name, context.args or [], update_id=update.update_id
        )


async def on_mydata(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Send the patient their own data as a file."""
    if update.effective_chat:
        await gateway_of(context).send_my_data(update.effective_chat.id)


async def on_language(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Say which languages there are."""
    if update.message:
        await update.message.reply_text("I only speak English for now. More languages are planned.")


async def on_link(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Link a provider's own chat to their console account for crisis alerts; never to Rasa."""
    if update.effective_chat and update.message:
        relay: ProviderRelay = context.application.bot_data["care_team"]
        answer = await relay.link(update.effective_chat.id, context.args or [])
        await update.message.reply_text(answer)


async def on_unknown_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Answer a command the coach does not know, without passing it on."""
    if update.message:
        await update.message.reply_text(
            "I don't know that command. Type /help to see what I can do."
        )


async def on_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A pressed button: acknowledged, checked and passed on as the answer, all at once."""
    query = update.callback_query
    if query is None or update.effective_chat is None:
        return

    async def acknowledge() -> None:
        """Stop the button's spinner; too old to answer after a restart is no matter."""
        try:
            await query.answer()
        except TelegramError as error:
            log.info("button press not acknowledged", error=type(error).__name__)

    chat_id = update.effective_chat.id
    message = query.message if isinstance(query.message, Message) else None
    gateway = gateway_of(context)
    notice, _ = await asyncio.gather(
        gateway.button_pressed(chat_id, message, query.data or "", update.update_id),
        acknowledge(),
    )
    if notice is not None:
        await gateway.send_text(chat_id, notice)


async def on_edited(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Edits are not re-sent to the coach; the patient is told what happened."""
    if update.edited_message:
        await update.edited_message.reply_text(EDITED)


async def on_not_text(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Stickers, voice, photos, files, locations and contacts get a friendly reply."""
    message = update.message
    if message is None:
        return
    kind = next((k for k in NOT_TEXT if getattr(message, k, None)), None)
    await message.reply_text(NOT_TEXT.get(kind or "", NOT_TEXT_DEFAULT))


async def on_error(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Log failures by type only: an exception's text can carry a patient's message. An update
    that failed because the database was away is handled again later."""
    log.error("update failed", error=type(context.error).__name__)
    processor = context.application.update_processor
    transient = isinstance(context.error, SQLAlchemyError)
    if transient and isinstance(update, Update) and isinstance(processor, HandledOnce):
        processor.again.add(update.update_id)


class ReceivedUpdates(asyncio.Queue[object]):
    """The application's update queue. The updater (and the webhook) put each update here
    before telling Telegram it arrived, so it is written down first: an update delivered again
    is dropped, and one a crash interrupted is handled at the next start."""

    def __init__(self, channel: ChannelStore) -> None:
        super().__init__()
        self.channel = channel

    async def put(self, item: object) -> None:
        if isinstance(item, Update):
            chat = item.effective_chat
            body = item.to_dict()

            def receive() -> Awaitable[bool]:
                return asyncio.to_thread(
                    self.channel.receive_update, item.update_id, chat.id if chat else None, body
                )

            if not await through_outage(receive, "receive update"):
                log.info("update delivered again; dropped", update_id=item.update_id)
                return
        await super().put(item)

    async def put_received(self, item: object) -> None:
        """Put an update already written down (recovered at start)."""
        await super().put(item)


class HandledOnce(SimpleUpdateProcessor):
    """Runs an update's handlers, then marks it handled; a crash in between leaves it to the
    next start. An update whose handler failed because the database was away is handled
    again a little later; any other error counts as handled (it was logged; again would not
    help)."""

    def __init__(
        self,
        channel: ChannelStore,
        received: ReceivedUpdates,
        taken_maybe: set[int],
        max_concurrent_updates: int,
        again_after: float = 2.0,
    ) -> None:
        super().__init__(max_concurrent_updates)
        self.channel = channel
        self.received = received
        self.taken_maybe = taken_maybe  # the gateway asks Rasa before a second turn
        self.again: set[int] = set()  # failed for want of the database
        self.again_after = again_after
        self._later: set[asyncio.Task[None]] = set()

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        await coroutine
        if not isinstance(update, Update):
            return
        update_id = update.update_id
        if update_id in self.again:
            self.again.discard(update_id)
            self.taken_maybe.add(update_id)
            task = asyncio.create_task(self._again(update))
            self._later.add(task)
            task.add_done_callback(self._later.discard)
            return
        self.taken_maybe.discard(update_id)
        await through_outage(
            lambda: asyncio.to_thread(self.channel.update_handled, update_id), "mark handled"
        )

    async def _again(self, update: Update) -> None:
        await asyncio.sleep(self.again_after)
        await self.received.put_received(update)


def build_application(
    settings: Settings,
    rasa: RasaClient,
    clock: Clock | None = None,
    run_scheduler: bool = True,
    ready_file: Path | None = None,
    tick_file: Path | None = None,
) -> Application:  # type: ignore[type-arg]
    """Wire the handlers in one place; the scheduler and retry loops start with the bot."""
    # Request logs would carry the bot token in their URLs.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    stop = asyncio.Event()
    tasks: list[asyncio.Task[None]] = []
    channel = ChannelStore(settings.database_url)
    received = ReceivedUpdates(channel)
    taken_maybe: set[int] = set()  # updates Rasa may have taken before a crash or an outage

    async def post_init(application: Application) -> None:  # type: ignore[type-arg]
        gateway = Gateway(application.bot, rasa, settings)
        gateway.charts.warm_up()
        gateway.recovered = taken_maybe
        application.bot_data["gateway"] = gateway
        application.bot_data["care_team"] = gateway.care_team
        await application.bot.set_my_commands(COMMANDS)
        unhandled = await through_outage(
            lambda: asyncio.to_thread(channel.unhandled_updates), "read unhandled updates"
        )
        for update_id, body in unhandled:
            taken_maybe.add(update_id)
            await received.put_received(Update.de_json(body, application.bot))
        if unhandled:
            log.info("handling updates a restart interrupted", count=len(unhandled))
        tasks.append(asyncio.create_task(retry_pending(gateway, settings, stop)))
        if run_scheduler:
            scheduler = Scheduler(
                JobStore(settings.database_url),
                gateway,
                settings,
                clock or SystemClock(),
                alerts=AlertStore(settings.database_url),
                care_team=gateway.care_team,
                upkeep=DataUpkeep(settings),
                tick_file=tick_file,
            )
            application.bot_data["scheduler"] = scheduler
            tasks.append(asyncio.create_task(scheduler.run(stop)))
        if ready_file is not None:
            ready_file.parent.mkdir(parents=True, exist_ok=True)
            ready_file.write_text("ready")

    async def post_shutdown(application: Application) -> None:  # type: ignore[type-arg]
        stop.set()
        if "gateway" in application.bot_data:
            application.bot_data["gateway"].charts.close()
        for task in tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await rasa.close()

    application = (
        ApplicationBuilder()
        .token(settings.telegram_bot_token)
        .base_url(settings.telegram_api_base_url)
        .base_file_url(settings.telegram_api_base_file_url)
        .rate_limiter(MessageRateLimiter(settings.telegram_rate_limit))
        .update_queue(received)
        .concurrent_updates(HandledOnce(channel, received, taken_maybe, 64))
        .post_init(post_init)
        .post_shutdown(post_shutdown)
        .build()
    )
    new = filters.UpdateType.MESSAGE  # edits are answered by on_edited, never re-sent
    application.add_handler(MessageHandler(filters.UpdateType.EDITED, on_edited))
    application.add_handler(CommandHandler("mydata", on_mydata, filters=new))
    application.add_handler(CommandHandler("language", on_language, filters=new))
    application.add_handler(CommandHandler(list(COMMAND_PAYLOADS), on_command, filters=new))
    application.add_handler(CommandHandler("link", on_link, filters=new))
    application.add_handler(MessageHandler(new & filters.COMMAND, on_unknown_command))
    application.add_handler(MessageHandler(new & filters.TEXT & ~filters.COMMAND, on_text))
    application.add_handler(CallbackQueryHandler(on_button))
    application.add_handler(MessageHandler(new & ~filters.TEXT, on_not_text))
    application.add_error_handler(on_error)
    return application


async def retry_pending(gateway: Gateway, settings: Settings, stop: asyncio.Event) -> None:
    """Answer messages kept while Rasa was down, as soon as it is back; and, hourly, forget
    the ids of updates handled more than a day ago."""
    forgotten_at = 0.0
    loop = asyncio.get_running_loop()
    while not stop.is_set():
        try:
            await gateway.retry_pending()
            if loop.time() - forgotten_at > 3600:
                day_ago = utcnow() - timedelta(days=1)
                await asyncio.to_thread(gateway.channel.forget_updates, day_ago)
                forgotten_at = loop.time()
        except Exception:
            log.exception("retrying kept messages failed")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=settings.rasa_retry_seconds)


def make_rasa_client(settings: Settings, rasa_url: str, token: str) -> RasaClient:
    return RasaClient(
        rasa_url,
        token,
        CoachStore(settings.database_url),
        settings.tracker_store_url,
        secret=settings.service_secret,
    )


async def start_polling(application: Application) -> None:  # type: ignore[type-arg]
    """Start the bot inside a running event loop (tests, and `paincoach` tools)."""
    await application.initialize()
    if application.post_init:
        await application.post_init(application)
    await application.start()
    assert application.updater is not None
    await application.updater.start_polling(poll_interval=0.0, timeout=2)


async def stop_polling(application: Application) -> None:  # type: ignore[type-arg]
    if application.updater and application.updater.running:
        await application.updater.stop()
    if application.running:
        await application.stop()
    await application.shutdown()
    if application.post_shutdown:
        await application.post_shutdown(application)


WEBHOOK_PATH = "telegram"


def webhook_secret(settings: Settings) -> str:
    """The secret Telegram must send with every update: configured, or new at each start."""
    return settings.webhook_secret or secrets.token_urlsafe(32)


async def start_webhook(application: Application, settings: Settings) -> None:  # type: ignore[type-arg]
    """Serve updates on a webhook that refuses requests without the secret token (403)."""
    await application.initialize()
    if application.post_init:
        await application.post_init(application)
    await application.start()
    assert application.updater is not None
    await application.updater.start_webhook(
        listen=settings.webhook_listen,
        port=settings.webhook_port,
        url_path=WEBHOOK_PATH,
        secret_token=webhook_secret(settings),
        webhook_url=f"{settings.public_url.rstrip('/')}/{WEBHOOK_PATH}",
    )


stop_webhook = stop_polling
