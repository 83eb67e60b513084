"""Each Telegram update is handled once: written down before Telegram hears it arrived,
dropped when delivered again, handled at start when a crash interrupted it, and never a second
turn in Rasa (a turn's key is looked up in the conversation first). Kept messages keep their
turn's key; a turn Rasa could not finish is kept, not half-answered."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from telegram import Update

from paincoach.db.channel import ChannelStore, Press
from paincoach.db.engine import session_scope
from paincoach.db.models import TelegramUpdate, utcnow
from paincoach.db.store import CoachStore
from paincoach.gateway.app import HandledOnce, ReceivedUpdates
from paincoach.rasa_client import TURN_KEY, RasaClient, RasaUnavailable

UPDATE = {
    "update_id": 501,
    "message": {
        "message_id": 9,
        "date": 1_764_000_000,
        "chat": {"id": 4242, "type": "private"},
        "from": {"id": 4242, "is_bot": False, "first_name": "Kim"},
        "text": "my pain is 6",
    },
}


def test_an_update_is_written_down_once_and_forgotten_once_handled(database_url: str) -> None:
    channel = ChannelStore(database_url)
    assert channel.receive_update(501, 4242, UPDATE)
    assert not channel.receive_update(501, 4242, UPDATE)  # delivered again
    assert channel.unhandled_updates() == [(501, UPDATE)]
    channel.update_handled(501)
    assert channel.unhandled_updates() == []
    assert not channel.receive_update(501, 4242, UPDATE)  # still known once handled
    with session_scope(database_url) as session:
        row = session.scalars(select(TelegramUpdate)).one()
        assert (row.chat_id, row.body) == (None, None) and row.handled_at is not None
    assert channel.forget_updates(utcnow() - timedelta(hours=1)) == 0
    assert channel.forget_updates(utcnow() + timedelta(seconds=1)) == 1


def test_a_kept_turn_is_kept_once(database_url: str) -> None:
    channel = ChannelStore(database_url)
    assert channel.queue("p-kept", "6", "u501")
    assert not channel.queue("p-kept", "6", "u501")  # the same update, handled again
    assert channel.queue("p-kept", "5", None) and channel.queue("p-kept", "5", None)
    assert [(m.text, m.turn) for m in channel.pending()] == [
        ("6", "u501"), ("5", None), ("5", None),
    ]  # fmt: skip


def test_the_update_that_pressed_a_button_may_press_it_again(database_url: str) -> None:
    channel = ChannelStore(database_url)
    channel.remember_keyboard("p-press", 77, ["/affirm", "/deny"])
    assert channel.press("p-press", 77, "0", update_id=600).outcome is Press.OK
    again = channel.press("p-press", 77, "0", update_id=600)  # after a crash: the same press
    assert (again.outcome, again.payload) == (Press.OK, "/affirm")
    assert channel.press("p-press", 77, "1", update_id=601).outcome is Press.USED
    assert channel.press("p-press", 77, "1").outcome is Press.USED


async def test_a_delivered_again_update_is_dropped_by_the_queue(sqlite_url: str) -> None:
    received = ReceivedUpdates(ChannelStore(sqlite_url))
    update = Update.de_json(UPDATE, None)
    await received.put(update)
    await received.put(Update.de_json(UPDATE, None))
    assert received.qsize() == 1 and await received.get() is update


async def test_an_update_is_marked_handled_after_its_handlers_or_kept_for_later(
    sqlite_url: str,
) -> None:
    channel = ChannelStore(sqlite_url)
    received = ReceivedUpdates(channel)
    taken_maybe: set[int] = set()
    processor = HandledOnce(channel, received, taken_maybe, 4, again_after=0.05)
    update = Update.de_json(UPDATE, None)
    await received.put(update)
    await received.get()

    async def handlers_failing_for_want_of_the_database() -> None:
        processor.again.add(update.update_id)  # what on_error does for a database error

    await processor.do_process_update(update, handlers_failing_for_want_of_the_database())
    [(update_id, body)] = channel.unhandled_updates()
    assert update_id == 501 and taken_maybe == {501}
    assert Update.de_json(body, None) == update  # what a restart would handle
    assert await asyncio.wait_for(received.get(), 2) is update  # handled again, later

    async def handlers() -> None:
        pass

    await processor.do_process_update(update, handlers())
    assert channel.unhandled_updates() == [] and taken_maybe == set()


def tracker(*events: dict[str, Any]) -> httpx.MockTransport:
    def answer(request: httpx.Request) -> httpx.Response:
        assert request.url.path == "/conversations/p-t/tracker"
        return httpx.Response(200, json={"events": list(events)})

    return httpx.MockTransport(answer)


def user(text: str, turn: str | None = None, entity: str | None = None) -> dict[str, Any]:
    entities = [{"entity": TURN_KEY, "value": entity}] if entity else []
    return {
        "event": "user",
        "text": text,
        "metadata": {TURN_KEY: turn} if turn else {},
        "parse_data": {"entities": entities},
    }


def bot(said: str, **data: Any) -> dict[str, Any]:
    return {"event": "bot", "text": said, "data": {"buttons": [], **data}}


@pytest.fixture
def rasa(sqlite_url: str) -> RasaClient:
    return RasaClient("http://rasa.test", "token", CoachStore(sqlite_url), sqlite_url)


async def test_replies_to_a_turn_are_read_from_the_conversation(rasa: RasaClient) -> None:
    rasa.http = httpx.AsyncClient(
        transport=tracker(
            user("7", "u1"), bot("How much did pain interfere with enjoying life?"),
            user("6", "u2"), {"event": "action", "name": "checkin_form"},
            bot("And general activity?", buttons=[{"title": "0", "payload": "0"}]),
            user("sorry", "u3"),
        )
    )  # fmt: skip
    replies = await rasa.replies_to("p-t", "u2")
    assert replies is not None and [r.text for r in replies] == ["And general activity?"]
    assert replies[0].buttons[0].payload == "0"
    assert await rasa.replies_to("p-t", "u9") is None  # never taken: send it


async def test_a_turn_the_safety_net_triggered_is_found_by_its_entity(rasa: RasaClient) -> None:
    rasa.http = httpx.AsyncClient(
        transport=tracker(
            user("i can't go on"), user("EXTERNAL: crisis", entity="u5"), bot("Safe?")
        )
    )
    replies = await rasa.replies_to("p-t", "u5")
    assert replies is not None and [r.text for r in replies] == ["Safe?"]


async def test_a_turn_rasa_could_not_finish_is_not_half_answered(rasa: RasaClient) -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            200,
            json=[{"text": "Thanks."}, {"custom": {"paincoach": "turn_failed"}}],
        )

    rasa.http = httpx.AsyncClient(transport=httpx.MockTransport(answer))
    with pytest.raises(RasaUnavailable):
        await rasa.send("p-t", "6", turn="u2")


async def test_a_message_carries_its_turn_key(rasa: RasaClient) -> None:
    sent: list[dict[str, Any]] = []

    def answer(request: httpx.Request) -> httpx.Response:
        import json

        sent.append(json.loads(request.content))
        return httpx.Response(200, json=[{"text": "ok"}])

    rasa.http = httpx.AsyncClient(transport=httpx.MockTransport(answer))
    await rasa.send("p-t", "6", turn="u2")
    await rasa.send("p-t", "7", metadata={"a": 1})
    assert sent[0]["metadata"] == {TURN_KEY: "u2"} and sent[1]["metadata"] == {"a": 1}
