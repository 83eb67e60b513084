"""NLU benchmark: cross-validation on the training data and macro-F1 on two held-out sets.

Run with `make bench-nlu`. Rasa runs in its own environment, so this drives its CLI and
reads the reports it writes. Both held-out sets are scored with one trained model: the
project's own model when it is newer than the NLU data and the configuration, otherwise a
single NLU-only training. Only aggregate figures are printed; the held-out messages are
never shown (they are evaluation data, not something to tune on).

Independent writers with similar briefs sometimes write the same words ("yes please",
"stop"), so each held-out set is also scored on its messages that are not, word for word,
in the training data: what the model does with words it has never seen.

`BENCH_NLU_FOLDS=0` skips the cross-validation.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import yaml
from sklearn.metrics import f1_score

from paincoach.settings import PROJECT_ROOT

RASA = PROJECT_ROOT / ".venv-rasa" / "bin" / "rasa"
RESULTS = PROJECT_ROOT / "results" / "bench-nlu"
HELD_OUT = {
    "heldout": PROJECT_ROOT / "tests" / "nlu" / "heldout.yml",
    "independent": PROJECT_ROOT / "tests" / "nlu" / "heldout_independent.yml",
}
PROJECT_MODEL = PROJECT_ROOT / "models" / "paincoach.tar.gz"
BENCH_MODEL = RESULTS / "model" / "nlu.tar.gz"
# Rasa trainings share two cores with everything else: one at a time, across processes.
TRAIN_LOCK = Path("/tmp/paincoach-rasa-train.lock")
SAFETY_INTENTS = ("crisis", "red_flag")
MACRO_BAR, INTENT_BAR = 0.95, 0.85
AVERAGES = ("macro avg", "weighted avg", "micro avg", "accuracy")
ANNOTATION = re.compile(r"\[([^\]]*)\]\([^)]*\)|\[([^\]]*)\]\{[^}]*\}")


@dataclass(frozen=True)
class Unseen:
    """The held-out messages that are not word for word in the training data."""

    messages: int
    of: int
    macro_f1: float
    min_intent_f1: float


@dataclass(frozen=True)
class Scores:
    macro_f1: float
    per_intent: dict[str, float]
    false_safety: int  # crisis or red_flag predicted for a message of another intent
    unseen: Unseen | None = None

    def weakest(self, n: int = 6) -> list[tuple[str, float]]:
        return sorted(self.per_intent.items(), key=lambda item: item[1])[:n]

    def below(self, bar: float) -> list[tuple[str, float]]:
        return [(name, f1) for name, f1 in self.weakest(len(self.per_intent)) if f1 < bar]


@contextmanager
def training_lock() -> Iterator[None]:
    with TRAIN_LOCK.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def rasa(*args: str) -> None:
    env = {
        **os.environ,
        "PYTHONWARNINGS": "ignore",
        "SQLALCHEMY_SILENCE_UBER_WARNING": "1",
        "TF_CPP_MIN_LOG_LEVEL": "2",
    }
    subprocess.run([str(RASA), *args], cwd=PROJECT_ROOT, env=env, check=True)


def normalised(text: str) -> str:
    """A message as plain text to compare: entity annotations removed, lower case."""
    plain = ANNOTATION.sub(lambda match: match.group(1) or match.group(2) or "", text)
    return " ".join(plain.lower().split())


def training_messages() -> set[str]:
    found: set[str] = set()
    for path in sorted((PROJECT_ROOT / "data" / "nlu").glob("*.yml")):
        for block in (yaml.safe_load(path.read_text()) or {}).get("nlu") or []:
            for line in str(block.get("examples") or "").splitlines():
                if line.strip().startswith("- "):
                    found.add(normalised(line.strip()[2:]))
    return found


def unseen_scores(report_dir: Path, seen: set[str]) -> Unseen:
    """Macro-F1 over the messages of the report not in `seen` (Rasa writes every
    prediction with --successes, and the wrong ones in intent_errors.json)."""
    predictions = [
        prediction
        for name in ("intent_successes.json", "intent_errors.json")
        if (report_dir / name).exists()
        for prediction in json.loads((report_dir / name).read_text())
    ]
    unseen = [p for p in predictions if normalised(p["text"]) not in seen]
    truth = [p["intent"] for p in unseen]
    predicted = [(p.get("intent_prediction") or {}).get("name") or "" for p in unseen]
    labels = sorted(set(truth) | set(predicted))
    per_intent = f1_score(truth, predicted, labels=labels, average=None, zero_division=0)
    in_truth = [f1 for label, f1 in zip(labels, per_intent, strict=True) if label in truth]
    return Unseen(
        len(unseen),
        len(predictions),
        float(f1_score(truth, predicted, labels=labels, average="macro", zero_division=0)),
        float(min(in_truth)),
    )


def scores(report_dir: Path, seen: set[str] | None = None) -> Scores:
    """Macro-F1, F1 per intent, and false safety predictions, from Rasa's reports; with
    `seen`, the same on the messages not in it."""
    data = json.loads((report_dir / "intent_report.json").read_text())
    per_intent = {
        name: float(values["f1-score"])
        for name, values in data.items()
        if isinstance(values, dict) and name not in AVERAGES and values.get("support", 0) > 0
    }
    errors_file = report_dir / "intent_errors.json"
    errors = json.loads(errors_file.read_text()) if errors_file.exists() else []
    false_safety = sum(
        1
        for error in errors
        if (error.get("intent_prediction") or {}).get("name") in SAFETY_INTENTS
        and error.get("intent") not in SAFETY_INTENTS
    )
    unseen = unseen_scores(report_dir, seen) if seen is not None else None
    return Scores(float(data["macro avg"]["f1-score"]), per_intent, false_safety, unseen)


def newest_input() -> float:
    inputs = [PROJECT_ROOT / "config.yml", *sorted((PROJECT_ROOT / "data" / "nlu").glob("*.yml"))]
    return max(path.stat().st_mtime for path in inputs)


def model_for_held_out() -> Path:
    """One model for both held-out sets: reuse a trained one when it is up to date."""
    for model in (PROJECT_MODEL, BENCH_MODEL):
        if model.exists() and model.stat().st_mtime > newest_input():
            return model
    with training_lock():
        rasa(
            "train", "nlu", "--nlu", "data/nlu", "--config", "config.yml",
            "--out", str(BENCH_MODEL.parent), "--fixed-model-name", "nlu",
        )  # fmt: skip
    return BENCH_MODEL


def describe(label: str, result: Scores, bar: str = "") -> None:
    print(f"{label:<44} macro-F1 {result.macro_f1:.3f}{bar}")
    print("  weakest: " + ", ".join(f"{n} {f:.2f}" for n, f in result.weakest()))
    below = result.below(INTENT_BAR)
    print(
        f"  intents below {INTENT_BAR}: {len(below)}; "
        f"crisis/red_flag predicted for another intent: {result.false_safety}"
    )
    if result.unseen is not None:
        unseen = result.unseen
        print(
            f"  not word for word in the training data: {unseen.messages} of {unseen.of} "
            f"messages, macro-F1 {unseen.macro_f1:.3f}, weakest intent {unseen.min_intent_f1:.2f}"
        )


def main() -> int:
    folds = int(os.environ.get("BENCH_NLU_FOLDS", "3"))
    started = time.monotonic()
    cv: Scores | None = None
    if folds > 1:
        with training_lock():
            rasa(
                "test", "nlu", "--nlu", "data/nlu", "--config", "config.yml",
                "--cross-validation", "--folds", str(folds),
                "--out", str(RESULTS / "cross-validation"),
            )  # fmt: skip
        cv = scores(RESULTS / "cross-validation")
    model = model_for_held_out()
    held_out: dict[str, Scores] = {}
    seen = training_messages()
    for name, path in HELD_OUT.items():
        out = RESULTS / name
        rasa(
            "test",
            "nlu",
            "--nlu",
            str(path),
            "--model",
            str(model),
            "--out",
            str(out),
            "--successes",
        )
        held_out[name] = scores(out, seen)

    print()
    if cv is not None:
        describe(f"{folds}-fold cross-validation (training data)", cv)
    describe("held-out patient messages (heldout.yml)", held_out["heldout"])
    independent = held_out["independent"]
    describe(
        "independent held-out (heldout_independent.yml)",
        independent,
        f" (bar {MACRO_BAR}, every intent {INTENT_BAR}, no false crisis/red_flag)",
    )
    print(
        f"model {model.relative_to(PROJECT_ROOT)}; "
        f"took {time.monotonic() - started:.0f} s; reports in {RESULTS}"
    )
    figures = [f"nlu_cv_macro_f1={cv.macro_f1:.3f}" if cv else "nlu_cv_macro_f1=nan"]
    figures += [
        f"nlu_heldout_macro_f1={held_out['heldout'].macro_f1:.3f}",
        f"nlu_independent_macro_f1={independent.macro_f1:.3f}",
        f"nlu_independent_min_intent_f1={independent.weakest(1)[0][1]:.3f}",
        f"nlu_false_safety={independent.false_safety + held_out['heldout'].false_safety}",
    ]
    if independent.unseen is not None:
        figures.append(f"nlu_independent_unseen_macro_f1={independent.unseen.macro_f1:.3f}")
    print(" ".join(figures))
    passed = (
        independent.macro_f1 >= MACRO_BAR
        and not independent.below(INTENT_BAR)
        and independent.false_safety == 0
    )
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
