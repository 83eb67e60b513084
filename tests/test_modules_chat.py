"""A module in the real chat: the real Rasa server and action server, the patient over REST."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy import select

from paincoach.db.engine import session_scope
from paincoach.db.models import CheckIn, Participant
from paincoach.db.store import CoachStore
from paincoach.modules.catalogue import load
from paincoach.modules.progress import ModuleStore
from paincoach.modules.runner import CARRY_ON, NEXT, prompt
from paincoach.rasa_client import BotMessage, RasaClient
from paincoach.stack import Stack
from tests.helpers import enrol

pytestmark = pytest.mark.e2e
MODULE = "understanding-pain"


@pytest.fixture
async def client(full_stack: Stack) -> AsyncIterator[RasaClient]:
    store = CoachStore(full_stack.settings.database_url)
    async with RasaClient(
        full_stack.rasa_url, full_stack.token, store, full_stack.settings.tracker_store_url
    ) as rasa:
        yield rasa


def joined(replies: list[BotMessage]) -> str:
    return "\n".join(m.text or "" for m in replies)


async def test_a_pushed_module_paused_resumed_and_finished(
    client: RasaClient, full_stack: Stack
) -> None:
    sender = "p-e2e-module-1"
    enrol(CoachStore(full_stack.settings.database_url), sender)
    module = load().modules[MODULE]
    steps = module.steps

    replies = await client.trigger_intent(sender, "continue_module", {"module_id": MODULE})
    assert "shared a module with you" in joined(replies)
    assert steps[0].text in joined(replies)  # type: ignore[union-attr]
    assert [b.title for b in replies[-1].buttons] == [NEXT]

    # A question in the middle is answered, then the same step comes back.
    replies = await client.send(sender, "why does pain persist?")
    assert steps[0].text in joined(replies)  # type: ignore[union-attr]
    assert len(replies) >= 2

    replies = await client.send(sender, NEXT)
    assert prompt(steps[1]).text in joined(replies)
    # Free text that sounds like a red flag is the answer, not an alarm.
    replies = await client.send(sender, "the stairs were tough and my legs ache")
    assert prompt(steps[2]).text in joined(replies)

    assert "kept your place" in joined(await client.send(sender, "later"))
    (place,) = ModuleStore(full_stack.settings.database_url).places(sender)
    assert (place.status, place.step_index) == ("paused", 2)

    replies = await client.send(sender, "continue my module")
    assert "Welcome back" in joined(replies) and prompt(steps[2]).text in joined(replies)

    answers = {"message": NEXT, "checkpoint": CARRY_ON, "choice": "2", "scale": "7",
               "question": "I think it is a sensitive alarm"}  # fmt: skip
    for step in steps[2:]:
        replies = await client.send(sender, answers[step.kind])
    assert "end of “Understanding chronic pain”" in joined(replies)

    store = ModuleStore(full_stack.settings.database_url)
    (place,) = store.places(sender)
    assert place.status == "completed"
    saved = dict(store.answers(sender, MODULE))
    assert saved["your-understanding"] == "the stairs were tough and my legs ache"
    assert saved["understanding"] == "7"


async def test_the_safety_net_during_a_module_gets_the_crisis_response(
    client: RasaClient, full_stack: Stack
) -> None:
    sender = "p-e2e-module-2"
    enrol(CoachStore(full_stack.settings.database_url), sender)
    await client.trigger_intent(sender, "continue_module", {"module_id": MODULE})
    await client.send(sender, NEXT)  # now at the free-text question
    await client.add_message(sender, "I want to end it all")
    replies = await client.trigger_intent(
        sender, "crisis", {"safety_net": "ending_life", "safety_tier": "certain"}
    )
    assert "safe right now" in joined(replies)
    assert ModuleStore(full_stack.settings.database_url).answers(sender, MODULE) == []
    (place,) = ModuleStore(full_stack.settings.database_url).places(sender)
    assert (place.status, place.step_index) == ("paused", 1)


async def test_a_checkin_note_that_sounds_like_a_red_flag_is_saved(
    client: RasaClient, full_stack: Stack
) -> None:
    sender = "p-e2e-module-3"
    enrol(CoachStore(full_stack.settings.database_url), sender)
    await client.send(sender, "/start_checkin")
    for rating in ("5", "4", "4", "6", "5"):
        await client.send(sender, rating)
    replies = await client.send(sender, "stairs were tough")
    assert "saved" in joined(replies)
    with session_scope(full_stack.settings.database_url) as session:
        note = session.scalar(
            select(CheckIn.note)
            .join(Participant)
            .where(Participant.pseudonym == sender, CheckIn.completed_at.is_not(None))
        )
    assert note == "stairs were tough"
