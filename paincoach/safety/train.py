"""Train the risk model: `python -m paincoach.safety.train [OUT]` (run by `make train`).

Thresholds come from cross-validation across writers on the training data; the figures
printed are out of fold. The held-out sets are for `make bench-safety` only.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from paincoach.safety.data import training_set
from paincoach.safety.model import Reading, RiskModel, calibrate
from paincoach.settings import get_settings


def main(argv: list[str]) -> int:
    out = Path(argv[0]) if argv else get_settings().safety_model_path
    started = time.monotonic()
    reading = Reading.of(training_set())  # once, for the model and every cross-validation fold
    model = calibrate(reading, RiskModel.fit(reading))
    report = model.report
    report["training_seconds"] = round(time.monotonic() - started, 1)
    model.save(out)
    print(json.dumps(report, indent=2))
    print(f"risk model saved to {out} in {report['training_seconds']} s")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
