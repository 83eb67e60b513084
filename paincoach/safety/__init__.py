"""Safety: crisis and medical red-flag detection on every patient message, before the NLU.

`rules` (small, named patterns: certain when they fire), `model` (a calibrated n-gram risk
model, read sentence by sentence and with the last few messages), `tiers` (certain,
possible, unlikely), `answers` (reading the answer to a check question).
"""

from paincoach.safety.model import ModelUnavailable, RiskModel, load_model
from paincoach.safety.rules import RuleHit, detect
from paincoach.safety.tiers import Assessment, Tier, assess, from_nlu

__all__ = [
    "Assessment",
    "ModelUnavailable",
    "RiskModel",
    "RuleHit",
    "Tier",
    "assess",
    "detect",
    "from_nlu",
    "load_model",
]
