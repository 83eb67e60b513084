"""NLU benchmark: cross-validation on the training data and macro-F1 on held-out messages.

Run with `make bench-nlu`. Rasa runs in its own environment, so this drives its CLI and
reads the reports it writes.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from paincoach.settings import PROJECT_ROOT

RASA = PROJECT_ROOT / ".venv-rasa" / "bin" / "rasa"
RESULTS = PROJECT_ROOT / "results" / "bench-nlu"
HELD_OUT = PROJECT_ROOT / "tests" / "nlu" / "heldout.yml"
BAR = 0.92


def rasa(*args: str) -> None:
    env = {**os.environ, "PYTHONWARNINGS": "ignore", "SQLALCHEMY_SILENCE_UBER_WARNING": "1"}
    subprocess.run([str(RASA), *args], cwd=PROJECT_ROOT, env=env, check=True)


def macro_f1(report: Path) -> tuple[float, list[tuple[str, float]]]:
    data = json.loads(report.read_text())
    weakest = sorted(
        ((name, scores["f1-score"]) for name, scores in data.items()
         if isinstance(scores, dict) and name not in ("macro avg", "weighted avg", "micro avg")),
        key=lambda item: item[1],
    )[:5]  # fmt: skip
    return float(data["macro avg"]["f1-score"]), weakest


def main() -> int:
    folds = int(os.environ.get("BENCH_NLU_FOLDS", "3"))
    started = time.monotonic()
    rasa(
        "test", "nlu", "--nlu", "data/nlu", "--config", "config.yml", "--cross-validation",
        "--folds", str(folds), "--out", str(RESULTS / "cross-validation"),
    )  # fmt: skip
    cv, cv_weakest = macro_f1(RESULTS / "cross-validation" / "intent_report.json")
    rasa(
        "train", "nlu", "--nlu", "data/nlu", "--config", "config.yml",
        "--out", str(RESULTS / "model"), "--fixed-model-name", "nlu",
    )  # fmt: skip
    rasa(
        "test", "nlu", "--nlu", str(HELD_OUT), "--model", str(RESULTS / "model" / "nlu.tar.gz"),
        "--out", str(RESULTS / "held-out"),
    )  # fmt: skip
    held_out, weakest = macro_f1(RESULTS / "held-out" / "intent_report.json")
    print(f"\n{folds}-fold cross-validation intent macro-F1: {cv:.3f}")
    print("  weakest: " + ", ".join(f"{n} {f:.2f}" for n, f in cv_weakest))
    print(f"held-out patient messages intent macro-F1:  {held_out:.3f} (bar {BAR})")
    print("  weakest: " + ", ".join(f"{n} {f:.2f}" for n, f in weakest))
    print(f"took {time.monotonic() - started:.0f} s; reports in {RESULTS}")
    print(f"nlu_cv_macro_f1={cv:.3f} nlu_heldout_macro_f1={held_out:.3f}")
    return 0 if held_out >= BAR else 1


if __name__ == "__main__":
    sys.exit(main())
