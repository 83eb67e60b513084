"""The safety layer: tiers from the rules and the trained risk model, context, answers."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import cast

import numpy as np
import pytest

from paincoach.safety import ModelUnavailable, RiskModel, Tier, assess, from_nlu, load_model
from paincoach.safety.answers import read_answer
from paincoach.safety.context import RecentMessages
from paincoach.safety.data import TrainingSet
from paincoach.safety.language import normalise, scoped, sentences
from paincoach.safety.model import Design, Reading, Scores, Thresholds, out_of_fold_decisions
from paincoach.safety.rules import Kind
from paincoach.settings import get_settings


@pytest.fixture(scope="module")
def model() -> RiskModel:
    return load_model(get_settings().safety_model_path)


DIARY = (
    "Busy day today, took the kids to swimming and then had the physio at three. "
    "My back has been bad all week and the new tablets make me sleepy. "
    "Honestly I want to kill myself most nights now. "
    "Anyway the physio was nice and gave me some new stretches, and we had pasta for tea."
)


def test_rules_make_a_crisis_certain(model: RiskModel) -> None:
    found = assess("i want to kill myself", model)
    assert (found.kind, found.tier, found.reason) == ("crisis", Tier.CERTAIN, "kill_myself")


class FixedScores:
    """A risk model that gives every message the same scores, to test the tiers alone."""

    thresholds = Thresholds(
        0.3, 0.8, 0.3, 0.8, 0.5, crisis_confirm=0.4, red_flag_confirm=0.4, red_flag_nlu=0.1
    )

    def __init__(self, crisis: float, red_flag: float) -> None:
        self.fixed = Scores(crisis, red_flag)

    def scores(self, message: str, earlier: Sequence[str] = ()) -> Scores:
        return self.fixed


@pytest.mark.parametrize(
    ("text", "kind", "rule"),
    [
        ("i want to kill myself", "crisis", "kill_myself"),
        ("i can't feel my legs and i've wet myself", "red_flag", None),
    ],
)
def test_a_rule_is_certain_only_when_the_model_agrees(text: str, kind: str, rule: str) -> None:
    agreeing = assess(text, cast(RiskModel, FixedScores(0.5, 0.5)))
    assert (agreeing.kind, agreeing.tier) == (kind, Tier.CERTAIN)
    doubting = assess(text, cast(RiskModel, FixedScores(0.1, 0.1)))
    assert (doubting.kind, doubting.tier) == (kind, Tier.POSSIBLE)
    assert doubting.reason == agreeing.reason == (rule or agreeing.reason) != "risk_model"


@pytest.mark.parametrize(
    ("kind", "crisis", "red_flag", "tier"),
    [
        ("crisis", 0.0, 0.0, Tier.POSSIBLE),  # the NLU's crisis is always at least asked
        ("crisis", 0.9, 0.0, Tier.CERTAIN),
        ("red_flag", 0.0, 0.05, Tier.UNLIKELY),  # below red_flag_nlu: pain words, not a flag
        ("red_flag", 0.0, 0.15, Tier.POSSIBLE),
        ("red_flag", 0.0, 0.9, Tier.CERTAIN),
    ],
)
def test_what_the_nlu_finds_is_weighed_by_the_model(
    kind: Kind, crisis: float, red_flag: float, tier: Tier
) -> None:
    model = cast(RiskModel, FixedScores(crisis, red_flag))
    found = assess("my neck is stiff after the sofa", model)
    assert from_nlu(kind, found, model.thresholds) is tier


def test_a_rule_stands_alone_on_a_message_too_short_to_read() -> None:
    found = assess("kms", cast(RiskModel, FixedScores(0.0, 0.0)))
    assert (found.kind, found.tier) == ("crisis", Tier.CERTAIN)


def test_a_crisis_in_the_middle_of_a_long_message_is_caught(model: RiskModel) -> None:
    assert sentences(DIARY)[2] == "Honestly I want to kill myself most nights now."
    found = assess(DIARY, model)
    assert (found.kind, found.tier) == ("crisis", Tier.CERTAIN)


def test_a_middle_score_is_possible_and_asked_about(model: RiskModel) -> None:
    found = assess("i dont think i can do this much longer", model)
    assert (found.kind, found.tier, found.reason) == ("crisis", Tier.POSSIBLE, "risk_model")
    limits = model.thresholds
    assert limits.crisis_possible <= found.crisis_score < limits.crisis_certain


def test_a_crisis_that_only_shows_in_context_is_asked_about(model: RiskModel) -> None:
    earlier = ["i dont see things getting better", "everyone would cope fine without me"]
    assert assess("the weekend probably", model).tier is Tier.UNLIKELY
    found = assess("the weekend probably", model, earlier)
    assert (found.kind, found.tier, found.reason) == ("crisis", Tier.POSSIBLE, "context")


@pytest.mark.parametrize("reply", ["ok thanks", "7", "yes please", "can we do the breathing one"])
def test_everyday_replies_after_a_crisis_are_not_a_new_alarm(model: RiskModel, reply: str) -> None:
    earlier = ["i want to die", "i cant keep doing this anymore"]
    assert assess(reply, model, earlier).tier is Tier.UNLIKELY


@pytest.mark.parametrize(
    "text",
    [
        "i'm not suicidal, just exhausted",
        "my back is killing me today",
        "did a sponsored walk for a suicide prevention charity",
        "my uncle died by suicide years ago",
    ],
)
def test_negations_idioms_and_third_parties_get_no_full_crisis_response(
    model: RiskModel, text: str
) -> None:
    found = assess(text, model)
    assert not (found.kind == "crisis" and found.tier is Tier.CERTAIN)


def test_red_flag_rules_and_model(model: RiskModel) -> None:
    found = assess("i can't feel my legs and i've wet myself", model)
    assert (found.kind, found.tier) == ("red_flag", Tier.CERTAIN)
    found = assess("left arm aching a bit", model)  # certain or asked about, by the model
    assert (found.kind, found.reason) == ("red_flag", "risk_model") and found.alarming


def test_a_known_stable_symptom_is_not_a_certain_red_flag(model: RiskModel) -> None:
    found = assess(
        "pins and needles in both feet for years from the neuropathy, nothing new", model
    )
    assert found.tier is not Tier.CERTAIN


def test_a_certain_red_flag_outranks_a_possible_crisis(model: RiskModel) -> None:
    found = assess("i dont think i can do this much longer, and i have crushing chest pain", model)
    assert (found.kind, found.tier) == ("red_flag", Tier.CERTAIN)


@pytest.mark.parametrize("text", ["", "   ", "🙂🙂🙂", "x" * 10_000, "\x00\x01", "DROP TABLE"])
def test_bad_input_is_unlikely_and_never_raises(model: RiskModel, text: str) -> None:
    assert assess(text, model).tier is Tier.UNLIKELY


def test_scope_marks_what_a_negation_or_someone_else_reaches() -> None:
    marked = scoped(normalise("I'm not suicidal, just tired. my friend wants to die"))
    assert "not_suicidal" in marked and "not_tired" not in marked
    assert "other_die" in marked


def test_a_missing_or_foreign_model_file_says_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(ModelUnavailable, match="make train"):
        RiskModel.load(tmp_path / "nothing.joblib")
    (tmp_path / "junk.joblib").write_bytes(b"")
    with pytest.raises((ModelUnavailable, EOFError)):
        RiskModel.load(tmp_path / "junk.joblib")


def test_thresholds_come_from_cross_validation(model: RiskModel) -> None:
    limits = model.thresholds
    assert 0 < limits.crisis_possible <= limits.crisis_certain < 1
    assert 0 < limits.red_flag_possible <= limits.red_flag_certain < 1
    assert model.report["training_counts"]["crisis"] >= 1000
    assert set(model.report["out_of_fold_with_rules"]) >= {"crisis_recall", "red_flag_recall"}


@pytest.mark.parametrize(
    ("text", "intent", "answer"),
    [
        ("Yes", None, "yes"),
        ("yeah i am", None, "yes"),
        ("No", None, "no"),
        ("nope, just a rotten day", None, "no"),
        ("not really", None, "no"),
        ("no but sometimes i do think about it", None, "unsure"),
        ("no, well, it crosses my mind", None, "unclear"),
        ("Not sure", None, "unsure"),
        ("maybe", None, "unsure"),
        ("i dont know", None, "unsure"),
        ("what do you mean", None, "unclear"),
        ("", None, "unclear"),
        ("/deny", "deny", "no"),
        ("nah mate", "deny", "no"),
        ("Yes, I'm safe", None, "yes"),
        ("It's new", None, "yes"),
        ("same as always", None, "no"),
    ],
)
def test_answers_to_a_safety_question(text: str, intent: str | None, answer: str) -> None:
    assert read_answer(text, intent) == answer


def test_no_reply_to_are_you_safe_that_means_no_is_read_as_yes() -> None:
    replies = (Path(__file__).parent / "safety" / "not_safe_answers.txt").read_text()
    answers = [line for line in replies.splitlines() if line and not line.startswith("#")]
    assert len(answers) >= 20
    assert [a for a in answers if read_answer(a) == "yes"] == []


@pytest.mark.parametrize("reply", ["no", "nope", "fine", "7", "ok"])
def test_a_one_word_reply_is_left_to_the_rules(model: RiskModel, reply: str) -> None:
    assert assess(reply, model).tier is Tier.UNLIKELY


def test_recent_messages_are_few_and_only_recent() -> None:
    now = [0.0]
    recent = RecentMessages(size=2, max_age_seconds=60, now=lambda: now[0])
    for text in ("one", "two", "three"):
        recent.add("p-1", text)
    assert recent.earlier("p-1") == ["two", "three"] and recent.earlier("p-2") == []
    now[0] = 61
    assert recent.earlier("p-1") == []
    recent.add("p-1", "four")
    recent.forget("p-1")
    assert recent.earlier("p-1") == []


def test_one_message_is_scored_exactly_as_sklearn_scores_many(model: RiskModel) -> None:
    texts = [normalise(t) for t in (DIARY, "i'm not suicidal, just exhausted", "bye", "", "x y")]
    one_by_one = model.decisions(texts)
    # More texts than FEW_TEXTS take sklearn's route; the first rows are the same texts.
    together = model.decisions(texts * 10)[: len(texts)]
    assert one_by_one.shape == (len(texts), 2)
    assert abs(one_by_one - together).max() < 1e-9


def small_training_set() -> TrainingSet:
    """Three writers; only the third says "zorblax"."""
    data = TrainingSet()
    for writer, word in (("a", "really"), ("b", "truly"), ("c", "zorblax")):
        data.add([f"i {word} want to die", f"i {word} cant go on. i want to end it"], "crisis",
                 crisis=True, red_flag=False, writer=writer)  # fmt: skip
        data.add([f"my legs {word} gave way", f"{word} cant feel my legs"], "red_flag",
                 crisis=False, red_flag=True, writer=writer)  # fmt: skip
        data.add([f"had a {word} nice walk", f"the physio was {word} good. tired now"],
                 "not_crisis", crisis=False, red_flag=False, writer=writer)  # fmt: skip
    return data


@pytest.mark.parametrize("design", [Design(char_features=0), Design(sentence_negatives=True)])
def test_a_writer_left_out_teaches_its_fold_nothing(design: Design) -> None:
    data = small_training_set()
    reading = Reading.of(data, design)
    others = [i for i, writer in enumerate(data.writer) if writer != "c"]
    crisis, red_flag = reading.fit(others)
    words = dict(reading.features.transformer_list)["words"].vocabulary_
    # The features are read from every message, but a word only the left-out writer uses
    # gets no weight from the others' rows.
    assert crisis.coef_[0, words["zorblax"]] == red_flag.coef_[0, words["zorblax"]] == 0.0
    decisions = out_of_fold_decisions(reading)
    assert decisions.shape == (len(data.texts), 2) and np.isfinite(decisions).all()
    crises = np.array(data.crisis)
    assert decisions[crises, 0].min() > decisions[~crises, 0].max()
