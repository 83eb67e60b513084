"""Speed-ups for Rasa 3.6, loaded into `.venv-rasa` by `make setup` (see the README).

Rasa validates every custom action's response with `jsonschema.validate(result, schema)`.
That call checks the schema itself against its metaschema and builds a new validator each
time; under load it was half of Rasa's CPU (py-spy, issue 10). Here the validator for each
schema is built and checked once, then reused. Validation itself is unchanged: the same
errors are raised for the same bad responses.
"""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any

import jsonschema
from jsonschema import exceptions, validators

_original_validate = jsonschema.validate


@lru_cache(maxsize=64)
def _validator_for(schema_json: str) -> Any:
    schema = json.loads(schema_json)
    cls = validators.validator_for(schema)
    cls.check_schema(schema)  # once per schema, as jsonschema.validate does on every call
    return cls(schema)


def validate(instance: Any, schema: Any, cls: Any = None, *args: Any, **kwargs: Any) -> None:
    """`jsonschema.validate`, with the checked validator of each schema kept."""
    if cls is not None or args or kwargs:
        _original_validate(instance, schema, cls, *args, **kwargs)
        return
    try:
        key = json.dumps(schema, sort_keys=True)
    except (TypeError, ValueError):
        _original_validate(instance, schema)
        return
    error = exceptions.best_match(_validator_for(key).iter_errors(instance))
    if error is not None:
        raise error


jsonschema.validate = validate
