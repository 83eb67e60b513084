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
