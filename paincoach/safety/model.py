"""The risk model: how likely a message is a crisis or a medical red flag, from 0 to 1.

Word n-grams (with the scope of a negation, someone else or a past marked on each word) and
character n-grams of the normalised text feed two logistic regressions, crisis and red
flag, each calibrated by Platt scaling on its out-of-fold decisions. A long message is read
sentence by sentence and the highest score counts, so one crisis sentence in a chatty
diary entry is not diluted by the rest; the message is also read after the patient's last
few messages (`Scores.context`).

Calibration and thresholds come from cross-validation across writers on the training data
only (`calibrate`; each writer's messages scored by a model trained on the others'):
  possible: the score above which nearly every crisis or red flag lies, out of fold;
  certain:  the score above which almost no hard non-crisis message lies, out of fold.
The held-out sets in `tests/safety/heldout/` are never used for either.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import sklearn
from scipy import sparse
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import LeaveOneGroupOut
from sklearn.pipeline import FeatureUnion

from paincoach.safety.data import TrainingSet
from paincoach.safety.language import normalise, scoped, sentences
from paincoach.safety.rules import detect

FORMAT_VERSION = 4
FEW_TEXTS = 32  # up to this many texts are scored one by one (see `RiskModel.decisions`)
CONTEXT_CHARS = 300  # of each message, when the conversation is read as one text
MAX_SEGMENTS = 24  # sentences read in one message; Telegram's 4,096 characters rarely hold more


class ModelUnavailable(RuntimeError):
    """The risk model file is missing or was trained by another version; `make train` fixes it."""


@dataclass(frozen=True)
class Thresholds:
    crisis_possible: float
    crisis_certain: float
    red_flag_possible: float
    red_flag_certain: float
    context_possible: float
    crisis_confirm: float  # a crisis rule is certain when the crisis score reaches this
    red_flag_confirm: float  # a red-flag rule is certain when the red-flag score reaches this
    red_flag_nlu: float  # the NLU's red flag is asked about when the red-flag score reaches this


@dataclass(frozen=True)
class Scores:
    crisis: float
    red_flag: float
    context: float = 0.0  # crisis, read with the earlier messages (see `RiskModel.scores`)


def segments(message: str) -> list[str]:
    """The normalised sentences of a message, each read on its own."""
    parts = [normalise(sentence) for sentence in sentences(message)[:MAX_SEGMENTS]]
    return [part for part in parts if part]


@dataclass(frozen=True)
class Design:
    """The model's shape: which n-grams it reads and how strongly it is regularised.
    `python -m paincoach.safety.selection` compares designs by cross-writer validation."""

    word_ngrams: tuple[int, int] = (1, 2)
    char_ngrams: tuple[int, int] = (2, 5)
    char_features: int = 60_000
    regularisation: float = 8.0  # LogisticRegression's C: higher fits the data more closely
    # Every sentence of a long message that is not a crisis is not a crisis either: learning
    # from them too teaches the sentence-by-sentence reading what a harmless sentence is.
    sentence_negatives: bool = False

    def features(self) -> FeatureUnion:
        words = TfidfVectorizer(
            preprocessor=scoped,
            token_pattern=r"(?u)\b\w+\b",
            ngram_range=self.word_ngrams,
            min_df=2,
            sublinear_tf=True,
        )
        characters = TfidfVectorizer(
            analyzer="char_wb",
            ngram_range=self.char_ngrams,
            min_df=2,
            sublinear_tf=True,
            max_features=self.char_features,
        )
        if not self.char_features:
            return FeatureUnion([("words", words)])
        return FeatureUnion([("words", words), ("characters", characters)])

    def linear_model(self) -> LogisticRegression:
        return LogisticRegression(C=self.regularisation, class_weight="balanced", max_iter=3000)


DESIGN = Design()


@dataclass(frozen=True)
class Calibration:
    """Platt scaling: a linear model's decision value as a probability,
    1 / (1 + exp(slope * decision + offset))."""

    slope: float = -1.0
    offset: float = 0.0

    @classmethod
    def fit(cls, decisions: np.ndarray, labels: Sequence[bool]) -> Calibration:
        """The sigmoid that best turns out-of-fold decisions into probabilities."""
        platt = LogisticRegression(C=1e4).fit(decisions.reshape(-1, 1), labels)
        return cls(-float(platt.coef_[0, 0]), -float(platt.intercept_[0]))


@dataclass
class RiskModel:
    """Scores for crisis and red flag; `thresholds` turn them into tiers."""

    features: FeatureUnion
    crisis: LogisticRegression
    red_flag: LogisticRegression
    calibration: tuple[Calibration, Calibration]  # crisis, red flag
    thresholds: Thresholds
    report: dict[str, Any] = field(default_factory=dict)
    sklearn_version: str = sklearn.__version__
    format_version: int = FORMAT_VERSION

    # Scoring ----------------------------------------------------------------------------

    def scores(self, message: str, earlier: Sequence[str] = ()) -> Scores:
        """The highest crisis and red-flag score over the message and its sentences, and
        the crisis score of the message read after the patient's `earlier` messages.

        The context score reads the whole conversation as one text, weighed by the
        message's own score: "i've made my mind up" after "i can't keep doing this" scores
        high, while "ok thanks" after the same scores low, as it adds nothing new.
        """
        parts = segments(message)
        if not parts:
            return Scores(0.0, 0.0)
        conversation = [text[:CONTEXT_CHARS] for text in (*earlier, message)]
        joined = [normalise(" . ".join(conversation))] if earlier else []
        decisions = self.decisions([*parts, *joined])  # one pass over both
        crisis, red_flag = self.probability(decisions[: len(parts)].max(axis=0))
        context = self.probability(decisions[-1])[0] * np.sqrt(crisis) if joined else 0.0
        return Scores(float(crisis), float(red_flag), float(context))

    def decisions(self, texts: list[str]) -> np.ndarray:
        """The two linear models' decision values for normalised texts, shape (texts, 2).

        A few short texts (one message in use) are scored by `_decide`, which reads the
        n-grams and their weights directly: sklearn's transform checks its parameters and
        builds sparse matrices, which cost more than the arithmetic. Many texts (training)
        go through sklearn as one sparse product."""
        if len(texts) <= FEW_TEXTS:
            return np.array([self._decide(text) for text in texts]).reshape(len(texts), 2)
        weights, intercepts = self._linear
        matrix = sparse.hstack(
            [vectorizer.transform(texts) for _, vectorizer in self.features.transformer_list]
        ).tocsr()
        return np.asarray(matrix @ weights + intercepts)

    def _decide(self, text: str) -> np.ndarray:
        """One text's decision values: sublinear tf-idf, l2-normalised per n-gram kind, as
        sklearn's TfidfVectorizer computes them, times the weights."""
        weights, intercepts = self._linear
        total = intercepts.copy()
        for analyse, vocabulary, idf, offset in self._readers:
            counts = Counter(
                index for gram in analyse(text) if (index := vocabulary.get(gram)) is not None
            )
            if not counts:
                continue
            indices = np.fromiter(counts.keys(), dtype=np.int64, count=len(counts))
            values = (1.0 + np.log(np.fromiter(counts.values(), dtype=float))) * idf[indices]
            total += values @ weights[indices + offset] / np.sqrt(values @ values)
        return total

    @cached_property
    def _readers(self) -> list[tuple[Callable[[str], list[str]], dict[str, int], np.ndarray, int]]:
        """Per n-gram kind: its analyser, vocabulary, idf and first column in the weights."""
        readers, offset = [], 0
        for _, vectorizer in self.features.transformer_list:
            vocabulary = vectorizer.vocabulary_
            readers.append((vectorizer.build_analyzer(), vocabulary, vectorizer.idf_, offset))
            offset += len(vocabulary)
        return readers

    def probability(self, decisions: np.ndarray) -> np.ndarray:
        """Crisis and red-flag probabilities from decision values (last axis of 2)."""
        slopes = np.array([c.slope for c in self.calibration])
        offsets = np.array([c.offset for c in self.calibration])
        return np.asarray(1.0 / (1.0 + np.exp(slopes * decisions + offsets)))

    @cached_property
    def _linear(self) -> tuple[np.ndarray, np.ndarray]:
        weights = np.column_stack([self.crisis.coef_[0], self.red_flag.coef_[0]])
        intercepts = np.array([self.crisis.intercept_[0], self.red_flag.intercept_[0]])
        return weights, intercepts

    # Training ---------------------------------------------------------------------------

    @classmethod
    def fit(cls, reading: Reading) -> RiskModel:
        """Fit on every training message; `calibrate` sets the calibration and the
        thresholds afterwards."""
        crisis, red_flag = reading.fit(range(len(reading.data.texts)))
        uncalibrated = (Calibration(), Calibration())
        placeholder = Thresholds(0.5, 0.9, 0.5, 0.9, 0.5, 0.5, 0.5, 0.1)  # `calibrate` sets them
        return cls(reading.features, crisis, red_flag, uncalibrated, placeholder)

    # Files ------------------------------------------------------------------------------

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        joblib.dump(self, path, compress=3)

    @classmethod
    def load(cls, path: Path) -> RiskModel:
        if not path.exists():
            raise ModelUnavailable(f"No risk model at {path}. Run `make train` first.")
        model = joblib.load(path)
        if (
            not isinstance(model, cls)
            or model.format_version != FORMAT_VERSION
            or model.sklearn_version != sklearn.__version__
        ):
            raise ModelUnavailable(
                f"The risk model at {path} was made by another version. Run `make train`."
            )
        return model


@dataclass
class Reading:
    """The training messages read once, for the final model and every cross-validation
    fold: the n-gram features fitted on all the messages, each message's row, and each
    sentence's row with the message it belongs to.

    The features are fitted without labels, so sharing them between folds tells a fold
    nothing about the writer it leaves out: a word only that writer uses gets no weight,
    as the linear models learn weights from the other writers' rows alone. Reading once
    instead of once per fold took the risk model's training from about 4 min to 2½."""

    data: TrainingSet
    design: Design
    features: FeatureUnion
    messages: sparse.csr_matrix
    sentences: sparse.csr_matrix
    owners: np.ndarray  # the message each row of `sentences` belongs to

    @classmethod
    def of(cls, data: TrainingSet, design: Design = DESIGN) -> Reading:
        features = design.features()
        messages = features.fit_transform([normalise(text) for text in data.texts]).tocsr()
        owners, parts = [], []
        for i, text in enumerate(data.texts):
            for part in segments(text) or [""]:
                owners.append(i)
                parts.append(part)
        sentences = features.transform(parts).tocsr()
        return cls(data, design, features, messages, sentences, np.array(owners))

    def fit(self, indices: Sequence[int]) -> tuple[LogisticRegression, LogisticRegression]:
        """The crisis and red-flag linear models, learnt from these messages."""
        rows = [self.messages[list(indices)]]
        crisis_labels = [self.data.crisis[i] for i in indices]
        red_flag_labels = [self.data.red_flag[i] for i in indices]
        crisis_weights, red_flag_weights = [1.0] * len(crisis_labels), [1.0] * len(crisis_labels)
        if self.design.sentence_negatives:
            # Every sentence of a long message that is not a crisis is not one either; a
            # sentence of a crisis message may be harmless, so it teaches nothing.
            chosen = np.isin(self.owners, np.asarray(indices))
            counts = np.bincount(self.owners, minlength=len(self.data.texts))
            for row in np.flatnonzero(chosen & (counts[self.owners] >= 2)):
                message = self.owners[row]
                crisis, red_flag = self.data.crisis[message], self.data.red_flag[message]
                crisis_labels.append(crisis)
                red_flag_labels.append(red_flag)
                crisis_weights.append(0.0 if crisis else 1.0)
                red_flag_weights.append(0.0 if red_flag else 1.0)
                rows.append(self.sentences[row])
        matrix = sparse.vstack(rows).tocsr()
        linear = self.design.linear_model
        return (
            linear().fit(matrix, crisis_labels, sample_weight=crisis_weights),
            linear().fit(matrix, red_flag_labels, sample_weight=red_flag_weights),
        )

    def decisions(
        self, models: tuple[LogisticRegression, LogisticRegression], indices: Sequence[int]
    ) -> tuple[np.ndarray, np.ndarray]:
        """Decision values of every sentence of these messages, and the message of each."""
        rows = np.flatnonzero(np.isin(self.owners, np.asarray(indices)))
        found = np.column_stack([model.decision_function(self.sentences[rows]) for model in models])
        return found, self.owners[rows]


@lru_cache(maxsize=4)
def load_model(path: Path) -> RiskModel:
    """The risk model, loaded once per process."""
    return RiskModel.load(path)


# --------------------------------------------------------------------------- calibration

CRISIS_RECALL_TARGET = 0.95  # out of fold, beyond what the rules catch; the NLU adds a check too
RED_FLAG_RECALL_TARGET = 0.97
CRISIS_FULL_ALARM_TARGET = 0.01  # hard non-crisis messages given the full crisis response
RED_FLAG_FULL_ALARM_TARGET = 0.03  # ordinary pain reports given the full red-flag response
CONTEXT_RECALL_TARGET = 0.90
# Of the crises and red flags a rule catches, the share the model agrees with (the rest are
# asked about): on a new writer's near-misses this cut the rules' false alarms by a half to
# two thirds.
RULE_CONFIRM_TARGET = 0.95
# A red flag the NLU finds on its own is asked about unless the model's score is below this
# share of the red flags the rules miss: the NLU reads "stiff neck after the sofa" as a red
# flag as readily as "my legs gave way", and the model tells the two apart.
NLU_RED_FLAG_RECALL_TARGET = 0.995
# Everyday messages (the NLU examples of every other intent) given a check question: what
# the model cannot tell from a crisis must not make the coach ask every few days.
EVERYDAY_CHECK_TARGET = 0.05


def threshold_for_recall(scores: np.ndarray, target: float) -> float:
    """The highest threshold that keeps at least `target` of these positive scores."""
    ordered = np.sort(scores)
    missed = int(np.floor((1 - target) * len(ordered)))
    return float(ordered[missed]) if len(ordered) else 0.5


def threshold_for_false_alarms(scores: np.ndarray, target: float) -> float:
    """The lowest threshold above which at most `target` of these negative scores lie."""
    ordered = np.sort(scores)[::-1]
    allowed = int(np.floor(target * len(ordered)))
    return float(ordered[allowed]) + 1e-6 if len(ordered) > allowed else 0.5


def out_of_fold_decisions(reading: Reading) -> np.ndarray:
    """Crisis and red-flag decision values of every training message from a model that never
    saw it, read sentence by sentence as in use (the highest counts). Shape (messages, 2).

    The folds are the writers: each writer's messages are scored by a model trained on the
    other writers' only, as a new patient's words will be. Folds within one writer's style
    flatter the model: with random folds, 46 % of the hard near-misses scored above the
    threshold that keeps 97 % of the crises the rules miss; across writers, 65 %."""
    data = reading.data
    decisions = np.full((len(data.texts), 2), -np.inf)
    for train, test in LeaveOneGroupOut().split(data.texts, groups=data.writer):
        found, owners = reading.decisions(reading.fit(train), test)
        np.maximum.at(decisions, owners, found)
    return decisions


def rule_hits(texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Which texts a crisis rule fires on, and which a red-flag rule fires on."""
    kinds = [hit.kind if (hit := detect(text)) else None for text in texts]
    return np.array([k == "crisis" for k in kinds]), np.array([k == "red_flag" for k in kinds])


def calibrate(reading: Reading, model: RiskModel) -> RiskModel:
    """`model` with its calibration and thresholds from out-of-fold decisions on the
    training data, and a report of what they achieve there.

    The context threshold is set with the model itself (fitted on all messages): the
    training conversations are not among its messages, so they are out of fold for it."""
    started = time.monotonic()
    data = reading.data
    decisions = out_of_fold_decisions(reading)
    calibration = (
        Calibration.fit(decisions[:, 0], data.crisis),
        Calibration.fit(decisions[:, 1], data.red_flag),
    )
    model = replace(model, calibration=calibration)
    scores = model.probability(decisions)
    # What the rules already make certain does not need the model to reach it.
    rule_crisis, rule_red_flag = rule_hits(data.texts)
    crisis = np.array(data.crisis)
    red_flag = np.array(data.red_flag)
    source = np.array(data.source)
    hard_not_crisis = source == "not_crisis"
    ordinary = source == "not_red_flag"

    everyday = np.array([s.startswith("nlu:") and s not in ("nlu:crisis", "nlu:red_flag")
                         for s in data.source])  # fmt: skip

    def possible(column: int, caught: np.ndarray, target: float) -> float:
        """The score that keeps `target` of what the rules miss, unless everyday talk
        would be asked about too often below it."""
        return max(
            threshold_for_recall(scores[caught, column], target),
            threshold_for_false_alarms(scores[everyday, column], EVERYDAY_CHECK_TARGET),
        )

    crisis_possible = possible(0, crisis & ~rule_crisis, CRISIS_RECALL_TARGET)
    crisis_certain = max(
        crisis_possible,
        threshold_for_false_alarms(scores[hard_not_crisis, 0], CRISIS_FULL_ALARM_TARGET),
        threshold_for_false_alarms(scores[~crisis, 0], CRISIS_FULL_ALARM_TARGET / 2),
    )
    red_flag_possible = possible(1, red_flag & ~rule_red_flag, RED_FLAG_RECALL_TARGET)
    red_flag_certain = max(
        red_flag_possible,
        threshold_for_false_alarms(scores[ordinary, 1], RED_FLAG_FULL_ALARM_TARGET),
    )
    red_flag_nlu = threshold_for_recall(
        scores[red_flag & ~rule_red_flag, 1], NLU_RED_FLAG_RECALL_TARGET
    )
    crisis_confirm = threshold_for_recall(scores[crisis & rule_crisis, 0], RULE_CONFIRM_TARGET)
    red_flag_confirm = threshold_for_recall(
        scores[red_flag & rule_red_flag, 1], RULE_CONFIRM_TARGET
    )
    context_scores = np.array([model.scores(c.last, c.context).context for c in data.conversations])
    context_labels = np.array([c.crisis for c in data.conversations])
    context_possible = threshold_for_recall(context_scores[context_labels], CONTEXT_RECALL_TARGET)
    thresholds = Thresholds(
        crisis_possible,
        crisis_certain,
        red_flag_possible,
        red_flag_certain,
        context_possible,
        crisis_confirm,
        red_flag_confirm,
        min(red_flag_nlu, red_flag_possible),
    )

    def rate(mask: np.ndarray) -> float:
        return round(float(mask.mean()), 4) if len(mask) else 0.0

    # As `tiers.assess` reads them: a rule is certain when the model agrees with it.
    crisis_certain_hit = (rule_crisis & (scores[:, 0] >= crisis_confirm)) | (
        scores[:, 0] >= crisis_certain
    )
    crisis_possible_hit = ~crisis_certain_hit & (rule_crisis | (scores[:, 0] >= crisis_possible))
    red_flag_certain_hit = (rule_red_flag & (scores[:, 1] >= red_flag_confirm)) | (
        scores[:, 1] >= red_flag_certain
    )
    red_flag_possible_hit = ~red_flag_certain_hit & (
        rule_red_flag | (scores[:, 1] >= red_flag_possible)
    )
    report = {
        "out_of_fold_with_rules": {
            "crisis_recall": rate((crisis_certain_hit | crisis_possible_hit)[crisis]),
            "crisis_certain_recall": rate(crisis_certain_hit[crisis]),
            "crisis_check_rate_hard": rate(crisis_possible_hit[hard_not_crisis]),
            "crisis_full_false_alarm_hard": rate(crisis_certain_hit[hard_not_crisis]),
            "red_flag_recall": rate((red_flag_certain_hit | red_flag_possible_hit)[red_flag]),
            "red_flag_check_rate_ordinary": rate(red_flag_possible_hit[ordinary]),
            "red_flag_full_false_alarm_ordinary": rate(red_flag_certain_hit[ordinary]),
            "everyday_check_rate": rate((crisis_possible_hit | red_flag_possible_hit)[everyday]),
            "context_recall": rate(context_scores[context_labels] >= context_possible),
            "context_false_alarm": rate(context_scores[~context_labels] >= context_possible),
        },
        "thresholds": asdict(thresholds),
        "training_counts": data.counts(),
        "calibration": [asdict(c) for c in calibration],
        "calibration_seconds": round(time.monotonic() - started, 1),
    }
    return replace(model, thresholds=thresholds, report=report)
