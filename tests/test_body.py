"""A body part counts only where the patient is talking about the body."""

from __future__ import annotations

import pytest

from actions.flare_up import ActionFlareUpSupport
from paincoach.body import body_part_meant
from tests.helpers import make_tracker, run, texts


@pytest.mark.parametrize(
    "text",
    [
        "my back is killing me",
        "lower back is in bits today",
        "back pain through the roof",
        "Back's agony this morning",
        "my neck and back are so stiff",
        "sore knee again",
    ],
)
def test_a_body_part_about_the_body_counts(text: str) -> None:
    part = next(p for p in ("back", "neck", "knee") if p in text.lower())
    assert body_part_meant(text, part) == part


@pytest.mark.parametrize(
    "text",
    [
        "i'm dying to get back to the gym",
        "just got back home from the hospital",
        "the pain came back last night",
        "can we go back to the breathing one",
        "back then it was easier",
    ],
)
def test_back_in_other_senses_does_not(text: str) -> None:
    assert body_part_meant(text, "back") is None


async def test_flare_up_reply_names_the_body_part_only_when_meant() -> None:
    meant = make_tracker(
        text="my back is killing me",
        intent="flare_up",
        entities=[{"entity": "body_part", "value": "back"}],
    )
    messages, _ = await run(ActionFlareUpSupport(), meant)
    assert "with your back" in texts(messages)
    not_meant = make_tracker(
        text="i'm dying to get back to the gym",
        intent="flare_up",
        entities=[{"entity": "body_part", "value": "back"}],
    )
    messages, _ = await run(ActionFlareUpSupport(), not_meant)
    assert "with your back" not in texts(messages) and "rough time" in texts(messages)


def said(text: str, intent: str, part: str | None = None) -> dict[str, object]:
    """An earlier user message in the conversation, as the tracker stores it."""
    entities = [{"entity": "body_part", "value": part}] if part else []
    return {
        "event": "user",
        "text": text,
        "parse_data": {"text": text, "intent": {"name": intent}, "entities": entities},
    }


async def test_body_part_is_kept_while_the_patient_is_still_on_the_same_subject() -> None:
    still_talking = make_tracker(
        text="its been like this since friday",
        intent="flare_up",
        events=[said("my back is killing me", "flare_up", "back")],
    )
    messages, _ = await run(ActionFlareUpSupport(), still_talking)
    assert "with your back" in texts(messages)


@pytest.mark.parametrize(
    "earlier",
    [
        # The subject changed in between: the body part belongs to an older turn.
        [said("my back is killing me", "flare_up", "back"), said("thanks", "thank")],
        # Two turns back, even on the same subject, is no longer this conversation's point.
        [said("my back is killing me", "flare_up", "back"), said("hi", "greet")],
        # Not about the body at all.
        [said("i'm dying to get back to the gym", "flare_up", "back")],
    ],
)
async def test_body_part_does_not_carry_over_into_later_replies(
    earlier: list[dict[str, object]],
) -> None:
    later = make_tracker(text="another bad flare today", intent="flare_up", events=earlier)
    messages, _ = await run(ActionFlareUpSupport(), later)
    assert "rough time." in texts(messages) and "with your back" not in texts(messages)


def test_no_slot_is_filled_from_a_body_part() -> None:
    """The body part is read from the turn itself, never kept in a slot for later turns."""
    from tests.helpers import DOMAIN

    for name, slot in DOMAIN["slots"].items():
        for mapping in slot.get("mappings", []):
            assert mapping.get("entity") != "body_part", name
