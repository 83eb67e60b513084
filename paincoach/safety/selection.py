"""Choose the risk model's design by measurement: `python -m paincoach.safety.selection`.

Every design is scored out of fold across writers (each writer's messages by a model
trained on the others'), on the training data only, and judged the way the tiers use it:

  check rate   the share of hard near-misses scored above the threshold that keeps 97 % of
               the crises (or red flags) the rules miss: the price of the recall;
  full rate    the share of them above the threshold that keeps 80 % of those crises: how
               often a confident score is wrong.

Lower is better for both. The held-out sets are never read here.
"""

from __future__ import annotations

import sys
import time

import numpy as np

from paincoach.safety.data import TrainingSet, training_set
from paincoach.safety.model import (
    DESIGN,
    Design,
    Reading,
    out_of_fold_decisions,
    rule_hits,
    threshold_for_recall,
)

CANDIDATES = {
    "current": DESIGN,
    "looser (C=2)": Design(regularisation=2.0),
    "much looser (C=0.5)": Design(regularisation=0.5),
    "words only": Design(char_features=0),
    "sentence negatives": Design(sentence_negatives=True),
    "sentence negatives, words only": Design(sentence_negatives=True, char_features=0),
    "tighter (C=32)": Design(regularisation=32.0),
    "word trigrams": Design(word_ngrams=(1, 3)),
    "longer characters (3-6)": Design(char_ngrams=(3, 6), char_features=120_000),
}


def judge(
    data: TrainingSet, decisions: np.ndarray, rules: tuple[np.ndarray, np.ndarray]
) -> dict[str, float]:
    """Check and full rates for crisis and red flag, from out-of-fold decision values and
    what the rules catch (`rule_hits`)."""
    source = np.array(data.source)
    figures = {}
    for column, kind, negatives in ((0, "crisis", "not_crisis"), (1, "red_flag", "not_red_flag")):
        positive = np.array(getattr(data, kind)) & ~rules[column]
        near_misses = decisions[source == negatives, column]
        for name, recall in (("check", 0.97), ("full", 0.80)):
            threshold = threshold_for_recall(decisions[positive, column], recall)
            figures[f"{kind}_{name}"] = float((near_misses >= threshold).mean())
    return figures


def main(argv: list[str]) -> int:
    data = training_set()
    print(f"{len(data.texts)} training messages by writers {sorted(set(data.writer))}")
    print(f"{'design':<26}{'crisis check':>13}{'full':>7}{'red flag check':>16}{'full':>7}{'s':>6}")
    chosen = set(argv) or set(CANDIDATES)
    rules = rule_hits(data.texts)  # the same for every design
    for name, design in CANDIDATES.items():
        if name not in chosen:
            continue
        started = time.monotonic()
        figures = judge(data, out_of_fold_decisions(Reading.of(data, design)), rules)
        print(
            f"{name:<26}{figures['crisis_check']:>13.3f}{figures['crisis_full']:>7.3f}"
            f"{figures['red_flag_check']:>16.3f}{figures['red_flag_full']:>7.3f}"
            f"{time.monotonic() - started:>6.0f}",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
