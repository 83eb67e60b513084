"""The python-telegram-bot application: handlers, wiring, background loops, polling or webhook."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from pathlib import Path

import structlog
from telegram import BotCommand, Message, Update
from telegram.ext import (
    AIORateLimiter,
    Application,
    ApplicationBuilder,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    filters,
)

from paincoach.alerts import AlertStore
from paincoach.db.store import CoachStore
from paincoach.gateway.core import COMMAND_PAYLOADS, Gateway
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
        await gateway_of(context).patient_says(update.effective_chat.id, update.message.text)


async def on_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Turn /start, /checkin, /help, /pause, /resume, /progress and /delete into coach turns."""
    if update.effective_chat and update.message and update.message.text:
        name = update.message.text.split()[0][1:].split("@")[0].lower()
        await gateway_of(context).command(update.effective_chat.id, name, context.args or [])


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
    """A pressed button: acknowledged at once, checked, then passed on as the answer."""
    query = update.callback_query
    if query is None or update.effective_chat is None:
        return
    await query.answer()  # stops the button's spinner straight away
    message = query.message if isinstance(query.message, Message) else None
    gateway = gateway_of(context)
    notice = await gateway.button_pressed(update.effective_chat.id, message, query.data or "")
    if notice is not None:
        await gateway.send_text(update.effective_chat.id, notice)


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
    """Log failures by type only: an exception's text can carry a patient's message."""
    log.error("update failed", error=type(context.error).__name__)


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

    async def post_init(application: Application) -> None:  # type: ignore[type-arg]
        gateway = Gateway(application.bot, rasa, settings)
        application.bot_data["gateway"] = gateway
        application.bot_data["care_team"] = gateway.care_team
        await application.bot.set_my_commands(COMMANDS)
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
        .rate_limiter(
            # One message at a time, evenly spaced: a bucket of 30 would let bursts of up to 60
            # through in one second, and Telegram answers those with 429s.
            AIORateLimiter(
                overall_max_rate=1,
                overall_time_period=1.02 / settings.telegram_rate_limit,
                max_retries=3,
            )
        )
        .concurrent_updates(64)
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
    """Answer messages kept while Rasa was down, as soon as it is back."""
    while not stop.is_set():
        try:
            await gateway.retry_pending()
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
