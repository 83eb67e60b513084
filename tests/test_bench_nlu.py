"""The NLU benchmark's own arithmetic: held-out messages the training data already holds word
for word are scored apart."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from paincoach.bench.nlu import normalised, unseen_scores


def test_messages_compare_without_annotations_case_or_spacing() -> None:
    assert normalised("My [lower back](body_part)  hurts") == "my lower back hurts"
    assert normalised('it is a [7]{"entity": "pain_level"} today') == "it is a 7 today"


def test_only_messages_not_in_the_training_data_are_scored(tmp_path: Path) -> None:
    def prediction(text: str, intent: str, predicted: str) -> dict[str, object]:
        return {"text": text, "intent": intent, "intent_prediction": {"name": predicted}}

    (tmp_path / "intent_successes.json").write_text(
        json.dumps(
            [
                prediction("Yes please", "affirm", "affirm"),
                prediction("stop it now", "stop", "stop"),
                prediction("see ya", "goodbye", "goodbye"),
            ]
        )
    )
    (tmp_path / "intent_errors.json").write_text(
        json.dumps([prediction("bye then", "goodbye", "stop")])
    )

    unseen = unseen_scores(tmp_path, seen={"yes please"})

    assert (unseen.messages, unseen.of) == (3, 4)
    # goodbye: precision 1/1, recall 1/2; stop: precision 1/2, recall 1/1
    assert unseen.macro_f1 == pytest.approx(2 / 3)
    assert unseen.min_intent_f1 == pytest.approx(2 / 3)
