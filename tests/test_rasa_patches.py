"""The speed-up patch for Rasa is loaded in .venv-rasa and validates exactly as before."""

from __future__ import annotations

import os
import subprocess

import pytest

from paincoach.settings import PROJECT_ROOT

RASA_PYTHON = PROJECT_ROOT / ".venv-rasa" / "bin" / "python"
CHECK = """
import jsonschema
# Loaded at start-up by the .pth file, before anything imports it by name.
assert jsonschema.validate.__module__ == "paincoach_rasa_speedups", "the patch is not loaded"
import paincoach_rasa_speedups as patch
schema = {"type": "object", "properties": {"events": {"type": "array"},
          "responses": {"type": "array", "items": {"type": "object"}}}}
jsonschema.validate({"events": [], "responses": [{"text": "hi"}]}, schema)
messages = []
for check in (jsonschema.validate, patch._original_validate):
    try:
        check({"events": [], "responses": "nope"}, schema)
    except jsonschema.ValidationError as error:
        messages.append(error.message)
assert len(messages) == 2 and messages[0] == messages[1], messages
print("ok")
"""


def test_the_jsonschema_patch_is_loaded_and_validates_as_before() -> None:
    if not RASA_PYTHON.exists():
        if os.environ.get("CI") == "true":
            pytest.fail(".venv-rasa is missing: `make test` sets it up before pytest")
        pytest.skip(".venv-rasa is not set up; run `make setup`")
    result = subprocess.run(
        [str(RASA_PYTHON), "-c", CHECK], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr[-2000:]
