"""NLU benchmark: cross-validation on the training data and macro-F1 on two held-out sets.

Run with `make bench-nlu`. Rasa runs in its own environment, so this drives its CLI and
reads the reports it writes. Both held-out sets are scored with one trained model: the
project's own model when it is newer than the NLU data and the configuration, otherwise a
single NLU-only training. Only aggregate figures are printed; the held-out messages are
never shown (they are evaluation data, not something to tune on).

`BENCH_NLU_FOLDS=0` skips the cross-validation.
"""

from __future__ import annotations

import fcntl
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

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


@dataclass(frozen=True)
class Scores:
    macro_f1: float
    per_intent: dict[str, float]
    false_safety: int  # crisis or red_flag predicted for a message of another intent

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


def scores(report_dir: Path) -> Scores:
    """Macro-F1, F1 per intent, and false safety predictions, from Rasa's reports."""
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
    return Scores(float(data["macro avg"]["f1-score"]), per_intent, false_safety)


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
    for name, path in HELD_OUT.items():
        rasa("test", "nlu", "--nlu", str(path), "--model", str(model), "--out", str(RESULTS / name))
        held_out[name] = scores(RESULTS / name)

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
    print(" ".join(figures))
    passed = (
        independent.macro_f1 >= MACRO_BAR
        and not independent.below(INTENT_BAR)
        and independent.false_safety == 0
    )
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
