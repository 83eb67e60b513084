"""Safety net: crisis and red-flag recall, false alarms on pain talk, tricky and bad input."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest

from paincoach.safety.language import normalise
from paincoach.safety.rules import RULE_NAMES, RuleHit, detect

PHRASES = Path(__file__).parent / "safety"


def phrases(file_name: str) -> list[str]:
    """The messages in one phrase file; '#' lines are comments, blank lines are ignored."""
    lines = (PHRASES / file_name).read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.strip().startswith("#")]


def kind_of(text: str) -> str | None:
    hit = detect(text)
    return hit.kind if hit else None


def report(capsys: pytest.CaptureFixture[str], figure: str, examples: list[str]) -> None:
    """Show a measured figure (and the phrases behind it) even when the test passes."""
    with capsys.disabled():
        print(f"\n[safety net] {figure}")
        for example in examples:
            print(f"    {example}")


CRISIS = phrases("crisis_phrases.txt")
PAIN_IDIOMS = phrases("pain_idioms.txt")
RED_FLAGS = phrases("red_flag_phrases.txt")
NOT_RED_FLAGS = phrases("not_red_flag_phrases.txt")


def test_phrase_files_are_not_empty() -> None:
    assert min(len(CRISIS), len(PAIN_IDIOMS), len(RED_FLAGS), len(NOT_RED_FLAGS)) >= 40


def test_every_crisis_phrase_is_a_crisis(capsys: pytest.CaptureFixture[str]) -> None:
    missed = [text for text in CRISIS if kind_of(text) != "crisis"]
    recall = 1 - len(missed) / len(CRISIS)
    caught = len(CRISIS) - len(missed)
    report(capsys, f"crisis recall {recall:.2f} ({caught}/{len(CRISIS)})", missed)
    assert not missed, f"crisis recall {recall:.2f}, missed: {missed}"


def test_pain_idioms_rarely_raise_a_crisis(capsys: pytest.CaptureFixture[str]) -> None:
    false_alarms = [text for text in PAIN_IDIOMS if kind_of(text) == "crisis"]
    any_alarm = [text for text in PAIN_IDIOMS if kind_of(text) is not None]
    rate = len(false_alarms) / len(PAIN_IDIOMS)
    report(
        capsys,
        f"crisis false alarms on pain idioms {rate:.1%} ({len(false_alarms)}/{len(PAIN_IDIOMS)});"
        f" any alarm {len(any_alarm)}/{len(PAIN_IDIOMS)}",
        any_alarm,
    )
    assert rate <= 0.02, f"crisis false alarms {rate:.1%}: {false_alarms}"


def test_red_flag_phrases_are_caught(capsys: pytest.CaptureFixture[str]) -> None:
    as_red_flag = [text for text in RED_FLAGS if kind_of(text) == "red_flag"]
    missed_entirely = [text for text in RED_FLAGS if kind_of(text) is None]
    as_crisis = [text for text in RED_FLAGS if kind_of(text) == "crisis"]
    recall = len(as_red_flag) / len(RED_FLAGS)
    report(
        capsys,
        f"red-flag recall {recall:.2f} ({len(as_red_flag)}/{len(RED_FLAGS)});"
        f" raised as crisis {len(as_crisis)}; missed entirely {len(missed_entirely)}",
        missed_entirely + as_crisis,
    )
    assert recall >= 0.95, f"red-flag recall {recall:.2f}"
    assert not missed_entirely, f"missed entirely: {missed_entirely}"


def test_ordinary_pain_reports_rarely_raise_a_red_flag(
    capsys: pytest.CaptureFixture[str],
) -> None:
    false_alarms = [text for text in NOT_RED_FLAGS if kind_of(text) is not None]
    rate = len(false_alarms) / len(NOT_RED_FLAGS)
    report(
        capsys,
        f"red-flag false alarms on ordinary pain {rate:.1%}"
        f" ({len(false_alarms)}/{len(NOT_RED_FLAGS)})",
        false_alarms,
    )
    assert rate <= 0.05, f"false alarms {rate:.1%}: {false_alarms}"


@pytest.mark.parametrize(
    "text",
    [
        "my back is killing me and i want to kill myself",
        "this pain is killing me, i want to die",
        "i'm dead on my feet and i wish i was dead",
        "i'm not ok, i want to die",
        "im not ok i want to die",
        "i'm not suicidal but i want to die",
        "no i want to die",
        "i want to die to be honest",
        "thinking about dying for a while now",
        "I’M GOING TO KILL MYSELF",
        "honestly just want to kms",
        "i want to unalive myself",
        "i feel suicidle",
        "sucidal thoughts again",
        "i wanna end it all",
        "i dont wanna be alive anymore",
        "im gonna end my lfie",
        "i want 2 die",
        "nobody would miss me if i was gone",
        "i've been saving up my tramadol",
        "i keep cutting my arms",
        "i'm not safe right now",
    ],
)
def test_crisis_is_caught_however_it_is_written(text: str) -> None:
    assert kind_of(text) == "crisis"


@pytest.mark.parametrize(
    "text",
    [
        "this pain is killing me",
        "my back is murdering me",
        "i could kill for a good night's sleep",
        "i'm dead on my feet",
        "i'd kill to be pain free",
        "i'm dying for a cuppa",
        "the cake was to die for",
        "this flare will be the death of me",
        "i'm killing myself trying to keep up with the housework",
        "i wish this pain would die down",
        "i'm not suicidal",
        "not suicidal, just fed up",
        "i don't want to die, i want the pain to stop",
        "no thoughts of harming myself",
        "i have never had thoughts of killing myself",
        "i'd never take my own life",
        "i cut myself shaving",
        "i hurt my back doing the gardening",
        "can i take all my tablets at once in the morning?",
        "what happens if you overdose on paracetamol",
        "i'm fed up and low today",
    ],
)
def test_idioms_negations_and_ordinary_low_mood_are_not_a_crisis(text: str) -> None:
    assert kind_of(text) != "crisis"


@pytest.mark.parametrize(
    "text",
    [
        "i suddenly can't lift my arm",
        "my legs went numb this morning and i can't walk",
        "can't feel my legs!!",
        "i've wet myself and didn't notice",
        "numbness between my legs",
        "CHEST PAIN",
        "I've got a temperature and my back's agony",
        "i slipped in the shower and hit my head",
        "i think i've broken my wrist",
    ],
)
def test_red_flags_are_caught_however_they_are_written(text: str) -> None:
    assert kind_of(text) == "red_flag"


@pytest.mark.parametrize(
    "text",
    [
        "no fever, my back is just stiff",
        "no numbness or weakness, just the usual ache",
        "i didn't fall, i'm just stiff",
        "i fell asleep on the sofa and my neck is stiff",
        "my slipped disc is playing up",
        "my pain score fell to 4 today",
        "i crashed after doing too much yesterday",
        "hay fever is awful and my back aches",
        "my fentanyl patch fell off",
        "i feel like i've been hit by a bus",
    ],
)
def test_negated_and_everyday_words_are_not_a_red_flag(text: str) -> None:
    assert detect(text) is None


@pytest.mark.timeout(10)
@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "🙂" * 200,
        "x" * 5000,
        "DROP TABLE",
        "DROP TABLE check_ins; --",
        "\x00\x01\x02",
        "é" * 5000,
        "want " * 2000,
        "no " * 2000,
        "i want to " * 600,
    ],
    ids=lambda text: f"{text[:12]!r}x{len(text)}",
)
def test_bad_input_never_raises_and_returns_quickly(text: str) -> None:
    assert detect(text) is None


def test_long_message_is_read_up_to_the_cap() -> None:
    assert kind_of("i want to die " + "x" * 5000) == "crisis"


def test_crisis_wins_over_a_red_flag() -> None:
    assert kind_of("i fell down the stairs and i want to die") == "crisis"


def test_rule_names_a_rule_and_never_holds_the_message() -> None:
    for text in CRISIS + PAIN_IDIOMS + RED_FLAGS + NOT_RED_FLAGS:
        hit = detect(text)
        if hit is None:
            continue
        assert hit.rule in RULE_NAMES
        assert re.fullmatch(r"[a-z_]+", hit.rule)
        assert hit.rule not in normalise(text) and text not in hit.rule


def test_a_hit_cannot_be_changed() -> None:
    hit = RuleHit("crisis", "suicide_word")
    with pytest.raises(dataclasses.FrozenInstanceError):
        hit.rule = "i want to die"  # type: ignore[misc]
