"""The risk model: how likely a message is a crisis or a medical red flag, from 0 to 1.

Word and character n-grams of the normalised text feed two calibrated logistic regressions
(crisis, red flag); a third reads a message together with the patient's last few messages.
A long message is read sentence by sentence and the highest score counts, so one crisis
sentence in a chatty diary entry is not diluted by the rest.

Its thresholds are chosen by cross-validation on the training data only (`calibrate`):
  possible: the score above which (nearly) every crisis or red flag lies, out of fold;
  certain:  the score above which almost no hard non-crisis message lies, out of fold.
The held-out sets in `tests/safety/heldout/` are never used for either.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import sklearn
from scipy import sparse
from sklearn.calibration import CalibratedClassifierCV
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import FeatureUnion

from paincoach.safety.data import TrainingSet
from paincoach.safety.language import normalise, scoped, sentences
from paincoach.safety.rules import detect

FORMAT_VERSION = 1
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


@dataclass(frozen=True)
class Scores:
    crisis: float
    red_flag: float
    context: float = 0.0  # crisis, read with the earlier messages (see `RiskModel.scores`)


def segments(message: str) -> list[str]:
    """The normalised sentences of a message, each read on its own."""
    parts = [normalise(sentence) for sentence in sentences(message)[:MAX_SEGMENTS]]
    return [part for part in parts if part]


def _features() -> FeatureUnion:
    return FeatureUnion(
        [
            (
                "words",
                TfidfVectorizer(
                    preprocessor=scoped,
                    token_pattern=r"(?u)\b\w+\b",
                    ngram_range=(1, 2),
                    min_df=2,
                    sublinear_tf=True,
                ),
            ),
            (
                "characters",
                TfidfVectorizer(
                    analyzer="char_wb",
                    ngram_range=(2, 5),
                    min_df=2,
                    sublinear_tf=True,
                    max_features=60_000,
                ),
            ),
        ]
    )


def _classifier() -> CalibratedClassifierCV:
    linear = LogisticRegression(C=8.0, class_weight="balanced", max_iter=3000)
    return CalibratedClassifierCV(linear, method="sigmoid", cv=3, ensemble=False)


@dataclass
class RiskModel:
    """Scores for crisis and red flag; `thresholds` turn them into tiers."""

    features: FeatureUnion
    crisis: CalibratedClassifierCV
    red_flag: CalibratedClassifierCV
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
        probabilities = self.probabilities([*parts, *joined])  # one pass over both
        crisis, red_flag = probabilities[: len(parts)].max(axis=0)
        context = probabilities[-1, 0] * np.sqrt(crisis) if joined else 0.0
        return Scores(float(crisis), float(red_flag), float(context))

    def probabilities(self, texts: list[str]) -> np.ndarray:
        """Crisis and red-flag probabilities of normalised texts, shape (texts, 2).

        The same numbers as the two calibrated classifiers' `predict_proba`, computed as one
        sparse product and a sigmoid: sklearn's wrappers cost more than the arithmetic.
        """
        weights, intercepts, slopes, offsets = self._linear
        matrix = sparse.hstack(
            [vectorizer.transform(texts) for _, vectorizer in self.features.transformer_list]
        ).tocsr()
        decision = matrix @ weights + intercepts
        return np.asarray(1.0 / (1.0 + np.exp(slopes * decision + offsets)))

    @cached_property
    def _linear(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Each classifier's logistic-regression weights and its sigmoid calibration."""
        parts = []
        for classifier in (self.crisis, self.red_flag):
            (calibrated,) = classifier.calibrated_classifiers_
            (sigmoid,) = calibrated.calibrators
            linear = calibrated.estimator
            parts.append((linear.coef_[0], linear.intercept_[0], sigmoid.a_, sigmoid.b_))
        weights = np.column_stack([part[0] for part in parts])
        intercepts, slopes, offsets = (np.array([part[i] for part in parts]) for i in (1, 2, 3))
        return weights, intercepts, slopes, offsets

    # Training ---------------------------------------------------------------------------

    @classmethod
    def fit(cls, data: TrainingSet) -> RiskModel:
        """Fit on every training message; `calibrate` sets the thresholds afterwards."""
        features = _features()
        matrix = features.fit_transform([normalise(text) for text in data.texts])
        crisis = _classifier().fit(matrix, data.crisis)
        red_flag = _classifier().fit(matrix, data.red_flag)
        return cls(features, crisis, red_flag, Thresholds(0.5, 0.9, 0.5, 0.9, 0.5))

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


def _threshold_for_recall(scores: np.ndarray, target: float) -> float:
    """The highest threshold that keeps at least `target` of these positive scores."""
    ordered = np.sort(scores)
    missed = int(np.floor((1 - target) * len(ordered)))
    return float(ordered[missed]) if len(ordered) else 0.5


def _threshold_for_false_alarms(scores: np.ndarray, target: float) -> float:
    """The lowest threshold above which at most `target` of these negative scores lie."""
    ordered = np.sort(scores)[::-1]
    allowed = int(np.floor(target * len(ordered)))
    return float(ordered[allowed]) + 1e-6 if len(ordered) > allowed else 0.5


def out_of_fold_scores(data: TrainingSet, folds: int = 3, seed: int = 7) -> np.ndarray:
    """Crisis and red-flag scores of every training message from a model that never saw it,
    read sentence by sentence as in use. Shape (messages, 2)."""
    scores = np.zeros((len(data.texts), 2))
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    for train, test in splitter.split(data.texts, data.source):
        subset = TrainingSet(
            texts=[data.texts[i] for i in train],
            crisis=[data.crisis[i] for i in train],
            red_flag=[data.red_flag[i] for i in train],
            source=[data.source[i] for i in train],
        )
        model = RiskModel.fit(subset)
        for i in test:
            found = model.scores(data.texts[i])
            scores[i] = (found.crisis, found.red_flag)
    return scores


def calibrate(data: TrainingSet, model: RiskModel) -> tuple[Thresholds, dict[str, Any]]:
    """Thresholds from out-of-fold scores on the training data, and what they achieve.

    The context threshold is set with `model` itself (fitted on all messages): the training
    conversations are not among its messages, so they are out of fold for it too."""
    started = time.monotonic()
    scores = out_of_fold_scores(data)
    # What the rules already make certain does not need the model to reach it.
    rule_kinds = [hit.kind if (hit := detect(text)) else None for text in data.texts]
    rule_crisis = np.array([kind == "crisis" for kind in rule_kinds])
    rule_red_flag = np.array([kind == "red_flag" for kind in rule_kinds])
    crisis = np.array(data.crisis)
    red_flag = np.array(data.red_flag)
    source = np.array(data.source)
    hard_not_crisis = source == "not_crisis"
    ordinary = source == "not_red_flag"

    crisis_possible = _threshold_for_recall(scores[crisis & ~rule_crisis, 0], CRISIS_RECALL_TARGET)
    crisis_certain = max(
        crisis_possible,
        _threshold_for_false_alarms(scores[hard_not_crisis, 0], CRISIS_FULL_ALARM_TARGET),
        _threshold_for_false_alarms(scores[~crisis, 0], CRISIS_FULL_ALARM_TARGET / 2),
    )
    red_flag_possible = _threshold_for_recall(
        scores[red_flag & ~rule_red_flag, 1], RED_FLAG_RECALL_TARGET
    )
    red_flag_certain = max(
        red_flag_possible,
        _threshold_for_false_alarms(scores[ordinary, 1], RED_FLAG_FULL_ALARM_TARGET),
    )
    context_scores = np.array([model.scores(c.last, c.context).context for c in data.conversations])
    context_labels = np.array([c.crisis for c in data.conversations])
    context_possible = _threshold_for_recall(context_scores[context_labels], CONTEXT_RECALL_TARGET)
    thresholds = Thresholds(
        crisis_possible, crisis_certain, red_flag_possible, red_flag_certain, context_possible
    )

    def rate(mask: np.ndarray) -> float:
        return round(float(mask.mean()), 4) if len(mask) else 0.0

    crisis_certain_hit = rule_crisis | (scores[:, 0] >= crisis_certain)
    crisis_possible_hit = ~crisis_certain_hit & (scores[:, 0] >= crisis_possible)
    red_flag_certain_hit = rule_red_flag | (scores[:, 1] >= red_flag_certain)
    red_flag_possible_hit = ~red_flag_certain_hit & (scores[:, 1] >= red_flag_possible)
    report = {
        "out_of_fold_with_rules": {
            "crisis_recall": rate((crisis_certain_hit | crisis_possible_hit)[crisis]),
            "crisis_certain_recall": rate(crisis_certain_hit[crisis]),
            "crisis_check_rate_hard": rate(crisis_possible_hit[hard_not_crisis]),
            "crisis_full_false_alarm_hard": rate(crisis_certain_hit[hard_not_crisis]),
            "red_flag_recall": rate((red_flag_certain_hit | red_flag_possible_hit)[red_flag]),
            "red_flag_check_rate_ordinary": rate(red_flag_possible_hit[ordinary]),
            "red_flag_full_false_alarm_ordinary": rate(red_flag_certain_hit[ordinary]),
            "context_recall": rate(context_scores[context_labels] >= context_possible),
            "context_false_alarm": rate(context_scores[~context_labels] >= context_possible),
        },
        "thresholds": asdict(thresholds),
        "training_counts": data.counts(),
        "calibration_seconds": round(time.monotonic() - started, 1),
    }
    return thresholds, report
