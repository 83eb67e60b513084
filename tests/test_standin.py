"""The Bot API stand-in, exercised by a real python-telegram-bot client over HTTP."""

import asyncio
import datetime as dtm
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from aiohttp import web
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.error import BadRequest, Conflict, Forbidden, InvalidToken, RetryAfter
from telegram.ext import AIORateLimiter, Application, ContextTypes, MessageHandler, filters

from paincoach.standin import BotApiStandIn
from paincoach.standin.formatting import EntityParseError, render
from paincoach.standin.server import _tiny_png
from tests.standin_chat import find_fragment

PATIENT = 4242


@pytest.fixture
async def standin() -> AsyncIterator[BotApiStandIn]:
    async with BotApiStandIn() as server:
        yield server


@pytest.fixture
async def bot(standin: BotApiStandIn) -> AsyncIterator[Bot]:
    async with Bot(
        standin.token, base_url=standin.base_url, base_file_url=standin.base_file_url
    ) as client:
        yield client


def seconds(value: int | dtm.timedelta) -> float:
    return value.total_seconds() if isinstance(value, dtm.timedelta) else float(value)


def yes_no_keyboard() -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        [
            [InlineKeyboardButton("Yes", callback_data="mood:yes")],
            [InlineKeyboardButton("No", callback_data="mood:no")],
        ]
    )


async def test_get_me_describes_the_bot(bot: Bot, standin: BotApiStandIn) -> None:
    me = await bot.get_me()
    assert me.is_bot
    assert me.username == "paincoach_standin_bot"
    assert me.id == int(standin.token.split(":")[0])
    assert me.can_join_groups is True


async def test_long_polling_returns_a_user_message_and_offset_confirms_it(
    bot: Bot, standin: BotApiStandIn
) -> None:
    poll = asyncio.create_task(bot.get_updates(timeout=5))
    await asyncio.sleep(0.1)
    assert not poll.done(), "getUpdates must wait while there is nothing to deliver"
    standin.user_says(
        PATIENT, "my back hurts", first_name="Sam", username="sam", language_code="en"
    )
    updates = await asyncio.wait_for(poll, timeout=2)

    assert len(updates) == 1
    message = updates[0].message
    assert message is not None and message.text == "my back hurts"
    assert message.chat.id == PATIENT and message.chat.type == "private"
    assert message.from_user is not None and message.from_user.username == "sam"
    assert message.from_user.language_code == "en"

    # unconfirmed updates come again; offset confirms them
    again = await bot.get_updates(timeout=0)
    assert [u.update_id for u in again] == [updates[0].update_id]
    assert await bot.get_updates(offset=updates[0].update_id + 1, timeout=0) == ()


async def test_start_command_carries_a_bot_command_entity(bot: Bot, standin: BotApiStandIn) -> None:
    standin.send_command(PATIENT, "start", "CLINIC42")
    (update,) = await bot.get_updates(timeout=1)
    assert update.message is not None
    assert update.message.text == "/start CLINIC42"
    assert update.message.parse_entities(["bot_command"]).popitem()[1] == "/start"


async def test_send_message_with_inline_keyboard_round_trips(
    bot: Bot, standin: BotApiStandIn
) -> None:
    standin.user_says(PATIENT, "hi")
    sent = await bot.send_message(PATIENT, "How are you today?", reply_markup=yes_no_keyboard())

    assert sent.reply_markup == yes_no_keyboard()
    (recorded,) = standin.sent_messages(PATIENT)
    assert recorded.message_id == sent.message_id == 2  # the user's "hi" was message 1
    assert recorded.text == "How are you today?"
    assert [b["callback_data"] for b in recorded.buttons] == ["mood:yes", "mood:no"]


async def test_unknown_chat_and_blocked_user_are_refused(bot: Bot, standin: BotApiStandIn) -> None:
    with pytest.raises(BadRequest, match=r"(?i)chat not found"):
        await bot.send_message(999, "hello?")
    standin.user_says(PATIENT, "hi")
    standin.block_bot(PATIENT)
    with pytest.raises(Forbidden, match="blocked"):
        await bot.send_message(PATIENT, "still there?")


async def test_button_press_makes_a_callback_query_and_the_answer_is_recorded(
    bot: Bot, standin: BotApiStandIn
) -> None:
    standin.user_says(PATIENT, "hi")
    sent = await bot.send_message(PATIENT, "Better today?", reply_markup=yes_no_keyboard())
    first = await bot.get_updates(timeout=0)
    standin.press_button(PATIENT, sent.message_id, button_text="No")

    (update,) = await bot.get_updates(offset=first[-1].update_id + 1, timeout=1)
    query = update.callback_query
    assert query is not None and query.data == "mood:no"
    assert query.message is not None and query.message.message_id == sent.message_id
    assert await query.answer("Thanks for telling me")

    (answer,) = standin.callback_answers()
    assert (answer.callback_query_id, answer.text, answer.data) == (
        query.id,
        "Thanks for telling me",
        "mood:no",
    )
    with pytest.raises(BadRequest, match=r"(?i)query is too old"):
        await query.answer()
    with pytest.raises(LookupError):
        standin.press_button(PATIENT, sent.message_id, "mood:maybe")
    forged = standin.press_button(PATIENT, sent.message_id, "mood:maybe", forge=True)
    assert forged["callback_query"]["data"] == "mood:maybe"


async def test_edit_reply_markup_removes_the_keyboard(bot: Bot, standin: BotApiStandIn) -> None:
    standin.user_says(PATIENT, "hi")
    sent = await bot.send_message(PATIENT, "Better today?", reply_markup=yes_no_keyboard())
    edited = await bot.edit_message_reply_markup(PATIENT, sent.message_id)

    assert not isinstance(edited, bool) and edited.reply_markup is None
    assert edited.edit_date is not None
    (recorded,) = standin.sent_messages(PATIENT)
    assert recorded.reply_markup is None and recorded.buttons == []
    with pytest.raises(BadRequest, match="not modified"):
        await bot.edit_message_reply_markup(PATIENT, sent.message_id)


async def test_edit_text_and_delete(bot: Bot, standin: BotApiStandIn) -> None:
    standin.user_says(PATIENT, "hi")
    sent = await bot.send_message(PATIENT, "Draft")
    edited = await bot.edit_message_text("Final", chat_id=PATIENT, message_id=sent.message_id)
    assert not isinstance(edited, bool) and edited.text == "Final"
    with pytest.raises(BadRequest, match="can't be edited"):
        await bot.edit_message_text("mine now", chat_id=PATIENT, message_id=1)
    assert await bot.delete_message(PATIENT, sent.message_id)
    assert standin.sent_messages(PATIENT)[0].deleted
    with pytest.raises(BadRequest, match="not found"):
        await bot.delete_message(PATIENT, sent.message_id)


async def test_send_photo_stores_the_png_bytes_intact(bot: Bot, standin: BotApiStandIn) -> None:
    png = _tiny_png()
    standin.user_says(PATIENT, "show me my week")
    sent = await bot.send_photo(PATIENT, png, caption="Your pain this week", filename="week.png")

    assert sent.photo[-1].width == 1 and sent.photo[-1].height == 1
    (recorded,) = standin.sent_messages(PATIENT)
    assert recorded.photo == png
    assert recorded.filename == "week.png"
    assert recorded.caption == "Your pain this week"

    # the file_id can be re-sent and downloaded, as on Telegram
    again = await bot.send_photo(PATIENT, sent.photo[-1].file_id)
    assert standin.sent_messages(PATIENT)[-1].photo == png
    file = await bot.get_file(again.photo[-1].file_id)
    assert bytes(await file.download_as_bytearray()) == png
    with pytest.raises(BadRequest, match=r"(?i)image_process_failed"):
        await bot.send_photo(PATIENT, b"not an image")


async def test_send_document_keeps_bytes_and_filename(bot: Bot, standin: BotApiStandIn) -> None:
    standin.user_says(PATIENT, "export please")
    sent = await bot.send_document(PATIENT, b"date,peg\n2024-01-01,4\n", filename="peg.csv")
    assert sent.document is not None and sent.document.file_name == "peg.csv"
    (recorded,) = standin.sent_messages(PATIENT)
    assert recorded.document == b"date,peg\n2024-01-01,4\n"
    assert recorded.filename == "peg.csv"


async def test_parse_mode_errors_match_telegram(bot: Bot, standin: BotApiStandIn) -> None:
    standin.user_says(PATIENT, "hi")
    sent = await bot.send_message(PATIENT, "<b>PEG</b> score: 4 &lt; 5", parse_mode="HTML")
    assert sent.text == "PEG score: 4 < 5"
    assert sent.parse_entities() == {sent.entities[0]: "PEG"}
    with pytest.raises(BadRequest, match="unsupported start tag"):
        await bot.send_message(PATIENT, "pain < 5", parse_mode="HTML")
    with pytest.raises(BadRequest, match="reserved"):
        await bot.send_message(PATIENT, "Well done.", parse_mode="MarkdownV2")


def test_markdown_v2_rendering() -> None:
    text, entities = render("*Well* done\\! [Read more](https://example.org/a\\)b)", "MarkdownV2")
    assert text == "Well done! Read more"
    assert entities == [
        {"type": "bold", "offset": 0, "length": 4},
        {"type": "text_link", "offset": 11, "length": 9, "url": "https://example.org/a)b"},
    ]
    _, emoji_entities = render("💪 <i>steady</i>", "HTML")
    assert emoji_entities == [{"type": "italic", "offset": 3, "length": 6}]  # UTF-16 offsets
    with pytest.raises(EntityParseError, match="Can't find end of Bold entity"):
        render("*open", "MarkdownV2")


async def test_non_text_and_edited_messages_parse_in_ptb(bot: Bot, standin: BotApiStandIn) -> None:
    said = standin.user_says(PATIENT, "pain 7")
    for kind in ("sticker", "voice", "photo", "document", "location", "contact"):
        standin.user_sends(PATIENT, kind, caption="scan" if kind == "document" else None)
    standin.edit_user_message(PATIENT, said["message"]["message_id"], "pain 6")
    updates = await bot.get_updates(timeout=0)

    messages = [u.message for u in updates[1:7]]
    assert all(m is not None for m in messages)
    assert [m.effective_attachment.__class__.__name__ for m in messages if m] == [
        "Sticker",
        "Voice",
        "tuple",
        "Document",
        "Location",
        "Contact",
    ]
    edited = updates[7].edited_message
    assert edited is not None and edited.text == "pain 6" and edited.edit_date is not None


async def test_webhook_posts_updates_with_the_secret_header(
    bot: Bot, standin: BotApiStandIn
) -> None:
    received: asyncio.Queue[tuple[str | None, dict[str, Any]]] = asyncio.Queue()

    async def receive(request: web.Request) -> web.Response:
        await received.put(
            (request.headers.get("X-Telegram-Bot-Api-Secret-Token"), await request.json())
        )
        return web.Response()

    app = web.Application()
    app.router.add_post("/hook", receive)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        await bot.set_webhook(f"http://127.0.0.1:{port}/hook", secret_token="s3cret-Token_1")
        standin.user_says(PATIENT, "hello over webhook")
        secret, update = await asyncio.wait_for(received.get(), timeout=3)
        assert secret == "s3cret-Token_1"
        assert update["message"]["text"] == "hello over webhook"

        info = await bot.get_webhook_info()
        assert info.url.endswith("/hook")
        with pytest.raises(Conflict, match="webhook is active"):
            await bot.get_updates(timeout=0)
        assert await bot.delete_webhook()
        assert (await bot.get_webhook_info()).url == ""
    finally:
        await runner.cleanup()


async def test_wrong_token_is_rejected(standin: BotApiStandIn) -> None:
    wrong = "987654321:AAWrongTokenWrongTokenWrongToken_000"
    with pytest.raises(InvalidToken):
        async with Bot(wrong, base_url=standin.base_url):
            pass


# PTB 22 warns whenever RetryAfter.retry_after is read as an int, even inside AIORateLimiter
ptb_timedelta_warning = pytest.mark.filterwarnings(
    "ignore::telegram.warnings.PTBDeprecationWarning"
)


@ptb_timedelta_warning
async def test_injected_429_raises_retry_after(bot: Bot, standin: BotApiStandIn) -> None:
    standin.user_says(PATIENT, "hi")
    standin.inject_fault("sendMessage", error_code=429, retry_after=7)
    with pytest.raises(RetryAfter) as caught:
        await bot.send_message(PATIENT, "hello")
    assert seconds(caught.value.retry_after) == 7
    # the fault is used up: the next call goes through
    assert (await bot.send_message(PATIENT, "hello")).text == "hello"


async def test_rate_limit_answers_429_when_exceeded(standin: BotApiStandIn) -> None:
    standin.user_says(PATIENT, "hi")
    standin.set_rate_limit(messages_per_second=3)
    url = f"{standin.base_url}{standin.token}/sendMessage"
    async with httpx.AsyncClient() as client:
        codes = [
            (await client.post(url, data={"chat_id": str(PATIENT), "text": f"n{i}"})).status_code
            for i in range(5)
        ]
        refused = (await client.post(url, data={"chat_id": str(PATIENT), "text": "x"})).json()
    assert codes == [200, 200, 200, 429, 429]
    assert refused["error_code"] == 429 and refused["parameters"]["retry_after"] >= 1
    assert standin.stats()["messages_sent"] == 3


async def test_raw_error_shapes_and_json_bodies(standin: BotApiStandIn) -> None:
    async with httpx.AsyncClient(base_url=standin.url) as client:
        unknown = await client.post(f"/bot{standin.token}/sendTelepathy")
        assert unknown.status_code == 404
        assert unknown.json() == {
            "ok": False,
            "error_code": 404,
            "description": "Not Found: method not found",
        }
        unauthorized = await client.get("/bot111:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA/getMe")
        assert unauthorized.json() == {
            "ok": False,
            "error_code": 401,
            "description": "Unauthorized",
        }
        standin.user_says(PATIENT, "hi")
        # method names are case-insensitive and JSON bodies work too, as on Telegram
        ok = await client.post(
            f"/bot{standin.token}/sendmessage",
            json={
                "chat_id": PATIENT,
                "text": "json",
                "reply_markup": {"inline_keyboard": [[{"text": "A"}]]},
            },
        )
        assert ok.json()["description"].endswith(
            "Text buttons are unallowed in the inline keyboard"
        )


async def test_a_newer_get_updates_ends_the_older_one(bot: Bot, standin: BotApiStandIn) -> None:
    older = asyncio.create_task(bot.get_updates(timeout=5))
    await asyncio.sleep(0.1)
    # a second gateway instance with the same token, as in a botched deployment
    async with Bot(standin.token, base_url=standin.base_url) as second_instance:
        assert await second_instance.get_updates(timeout=0) == ()
    with pytest.raises(Conflict, match="terminated by other getUpdates"):
        await asyncio.wait_for(older, timeout=2)


async def test_control_api_plays_the_user_and_long_polls_bot_replies(
    bot: Bot, standin: BotApiStandIn
) -> None:
    async with httpx.AsyncClient(base_url=f"{standin.url}/control") as control:
        said = (
            await control.post(
                "/messages", json={"chat_id": PATIENT, "text": "hello", "first_name": "Kim"}
            )
        ).json()
        assert said["ok"] and said["result"]["message"]["from"]["first_name"] == "Kim"
        waiting = asyncio.create_task(
            control.get(f"/chats/{PATIENT}/messages", params={"after": 1, "wait": 3})
        )
        await asyncio.sleep(0.1)
        await bot.send_message(PATIENT, "Hi Kim", reply_markup=yes_no_keyboard())
        replies = (await waiting).json()["result"]
        assert [r["text"] for r in replies] == ["Hi Kim"]

        pressed = await control.post(
            "/callbacks",
            json={"chat_id": PATIENT, "message_id": replies[0]["message_id"], "data": "mood:yes"},
        )
        assert pressed.json()["result"]["callback_query"]["data"] == "mood:yes"
        missing = await control.post(
            "/callbacks", json={"chat_id": PATIENT, "message_id": 99, "data": "x"}
        )
        assert missing.status_code == 404
        fault = await control.post("/faults", json={"method": "getMe", "error_code": 502})
        assert fault.json()["ok"]
        assert (await control.post("/reset")).json()["ok"]
    assert standin.sent_messages() == []


@ptb_timedelta_warning
async def test_application_polls_and_echoes_through_a_handler(standin: BotApiStandIn) -> None:
    async def echo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.effective_message is not None
        await update.effective_message.reply_text(
            f"echo: {update.effective_message.text}", do_quote=True
        )

    application = (
        Application.builder()
        .token(standin.token)
        .base_url(standin.base_url)
        .base_file_url(standin.base_file_url)
        .rate_limiter(AIORateLimiter(max_retries=2))
        .build()
    )
    application.add_handler(MessageHandler(filters.TEXT & ~filters.COMMAND, echo))
    async with application:
        await application.start()
        assert application.updater is not None
        await application.updater.start_polling(timeout=dtm.timedelta(seconds=2))
        try:
            said = standin.user_says(PATIENT, "I walked for ten minutes")
            # one 429 on the reply: AIORateLimiter waits retry_after and tries again
            standin.inject_fault("sendMessage", error_code=429, retry_after=1)
            after = said["message"]["message_id"]
            (reply,) = await standin.wait_for_bot_messages(PATIENT, after=after, timeout=5)
            assert reply.text == "echo: I walked for ten minutes"
            assert reply.message.get("reply_to_message", {}).get("message_id") == after
        finally:
            await application.updater.stop()
            await application.stop()
    assert standin.stats()["errors"] == {"429": 1}
    assert standin.pending_updates() == []  # the updater confirmed what it fetched


def test_find_fragment_reads_on_from_where_the_last_wait_ended() -> None:
    """A turn's texts arrive as one message: the next fragment may be later in the same
    message, never before the cursor."""
    texts = ["Thanks. How is your MOOD today?", "And your sleep?"]
    assert find_fragment(texts, (0, 0), "mood") == (0, 24)
    assert find_fragment(texts, (0, 24), "mood") is None
    assert find_fragment(texts, (0, 24), "today") == (0, 30)
    assert find_fragment(texts, (0, 30), "your") == (1, 8)  # not the one already passed
    assert find_fragment(texts, (1, 8), "sleep") == (1, 14)
    assert find_fragment(texts, (2, 0), "sleep") is None
