"""Three tiers from the rules and the risk model: certain, possible, unlikely.

certain   a rule fires, or the risk model's score is high: the full crisis or red-flag
          response, a safety event and the care-team alert.
possible  a middle score, a worrying message only in the context of the last few, or (in
          the action server) a crisis intent from the NLU that the model does not confirm:
          a direct, kind check question, as clinicians and the C-SSRS screener ask.
unlikely  the normal conversation.

A certain red flag outranks a possible crisis: the urgent-care advice must not wait behind
a question. Otherwise crisis comes before red flag.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from paincoach.safety.model import RiskModel, Scores
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
    # "no", "7" or "fine" says too little for the model to read; the rules still do.
    scores = model.scores(message, earlier) if carries_meaning(message) else Scores(0.0, 0.0)
    limits = model.thresholds

    def found(kind: Kind, tier: Tier, reason: str) -> Assessment:
        return Assessment(kind, tier, reason, scores.crisis, scores.red_flag)

    hit = detect(message)
    if hit is not None and hit.kind == "crisis":
        return found("crisis", Tier.CERTAIN, hit.rule)
    if scores.crisis >= limits.crisis_certain:
        return found("crisis", Tier.CERTAIN, "risk_model")
    if hit is not None:
        return found("red_flag", Tier.CERTAIN, hit.rule)
    if scores.red_flag >= limits.red_flag_certain:
        return found("red_flag", Tier.CERTAIN, "risk_model")
    if scores.crisis >= limits.crisis_possible:
        return found("crisis", Tier.POSSIBLE, "risk_model")
    if scores.context >= limits.context_possible:
        return found("crisis", Tier.POSSIBLE, "context")
    if scores.red_flag >= limits.red_flag_possible:
        return found("red_flag", Tier.POSSIBLE, "risk_model")
    return Assessment(None, Tier.UNLIKELY, "", scores.crisis, scores.red_flag)
