"""Three tiers from the rules and the risk model: certain, possible, unlikely.

certain   a rule fires and the risk model agrees with it, or the model's score is high:
          the full crisis or red-flag response, a safety event and the care-team alert.
possible  a middle score, a rule the model does not agree with, a worrying message only in
          the context of the last few, or (in the action server) a crisis intent from the
          NLU that the model does not confirm: a direct, kind check question, as clinicians
          and the C-SSRS screener ask. A red-flag intent from the NLU is asked about unless
          the model's red-flag score is below where nearly any red flag lies (`from_nlu`).

Rules and model are two readings of the message, and each catches what the other misreads:
the model agrees with a rule when its score reaches the level that 95 % of the crises (red
flags) the rules catch reach out of fold. On the near-misses of a writer neither was made
from, that cut the crisis rules' false alarms from 4.1 % to 1.4 % and the red-flag rules'
from 7.8 % to 0.9 %; the rest of what the rules catch is asked about, not missed.
unlikely  the normal conversation (for a red flag only the NLU saw: a line on when to get
          help, then the conversation carries on).

A certain red flag outranks a possible crisis: the urgent-care advice must not wait behind
a question. Otherwise crisis comes before red flag.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from paincoach.safety.model import RiskModel, Scores, Thresholds
from paincoach.safety.rules import Kind, detect

_WORDS = re.compile(r"[^\W\d_]{2,}")


class Tier(StrEnum):
    CERTAIN = "certain"
    POSSIBLE = "possible"
    UNLIKELY = "unlikely"


@dataclass(frozen=True)
class Assessment:
    """What the safety layer made of one message; `reason` names a rule or a model, never
    the patient's words, so it can go into logs and the safety event."""

    kind: Kind | None
    tier: Tier
    reason: str
    crisis_score: float
    red_flag_score: float

    @property
    def alarming(self) -> bool:
        return self.tier is not Tier.UNLIKELY


def carries_meaning(message: str) -> bool:
    """Whether a message says enough to count as context: "7", "no" or "ok" do not."""
    return len(_WORDS.findall(message)) >= 2


def assess(message: str, model: RiskModel, earlier: Sequence[str] = ()) -> Assessment:
    """Read a patient's message, with their last few messages (`earlier`, oldest first)."""
    if not isinstance(message, str) or not message.strip():
        return Assessment(None, Tier.UNLIKELY, "", 0.0, 0.0)
    # "no", "7" or "kms" says too little for the model to read; the rules still do, alone.
    read = carries_meaning(message)
    scores = model.scores(message, earlier) if read else Scores(0.0, 0.0)
    limits = model.thresholds

    def found(kind: Kind, tier: Tier, reason: str) -> Assessment:
        return Assessment(kind, tier, reason, scores.crisis, scores.red_flag)

    hit = detect(message)
    crisis_rule = hit.rule if hit is not None and hit.kind == "crisis" else None
    red_flag_rule = hit.rule if hit is not None and hit.kind == "red_flag" else None
    if crisis_rule and (not read or scores.crisis >= limits.crisis_confirm):
        return found("crisis", Tier.CERTAIN, crisis_rule)
    if scores.crisis >= limits.crisis_certain:
        return found("crisis", Tier.CERTAIN, "risk_model")
    if red_flag_rule and (not read or scores.red_flag >= limits.red_flag_confirm):
        return found("red_flag", Tier.CERTAIN, red_flag_rule)
    if scores.red_flag >= limits.red_flag_certain:
        return found("red_flag", Tier.CERTAIN, "risk_model")
    if crisis_rule:
        return found("crisis", Tier.POSSIBLE, crisis_rule)
    if scores.crisis >= limits.crisis_possible:
        return found("crisis", Tier.POSSIBLE, "risk_model")
    if scores.context >= limits.context_possible:
        return found("crisis", Tier.POSSIBLE, "context")
    if red_flag_rule:
        return found("red_flag", Tier.POSSIBLE, red_flag_rule)
    if scores.red_flag >= limits.red_flag_possible:
        return found("red_flag", Tier.POSSIBLE, "risk_model")
    return Assessment(None, Tier.UNLIKELY, "", scores.crisis, scores.red_flag)


def from_nlu(kind: Kind, found: Assessment, limits: Thresholds) -> Tier:
    """The tier of a crisis or red flag the NLU found, given what the rules and the model
    made of the same message (`found`).

    A crisis intent is always at least asked about. A red-flag intent is not when the
    model's red-flag score is below `red_flag_nlu`, under which out of fold almost no red
    flag the rules miss lies: there the NLU is reading pain words, not warning signs."""
    if found.kind == kind and found.tier is not Tier.UNLIKELY:
        return found.tier
    if kind == "red_flag" and found.red_flag_score < limits.red_flag_nlu:
        return Tier.UNLIKELY
    return Tier.POSSIBLE
