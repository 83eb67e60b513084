"""Speed-ups for Rasa 3.6, loaded into `.venv-rasa` by `make setup` (see the README).

Each was found in a py-spy profile of the Rasa process (docs/perf/); none changes behaviour.

- Rasa validates every custom action's response with `jsonschema.validate(result, schema)`,
  which checks the schema against its metaschema and builds a new validator each time (half
  of Rasa's CPU under load). The validator for each schema is built and checked once; the
  same errors are raised for the same bad responses.
- The SQL tracker store on SQLite: WAL and synchronous=NORMAL (a commit no longer waits for
  the disk twice; a power cut can lose the last turns, never corrupt the file), and one
  pooled connection instead of a new one, with a cold page cache, for every query.
- `Event.resolve_by_type` walks every Event subclass, for every event of a tracker loaded
  from the store; the class found for each type name is kept.
- Every custom action call sends the conversation session as JSON; Python's encoder was the
  largest single cost left. ujson (already in Rasa's dependencies) writes the same JSON about
  three times faster; anything it cannot encode goes to the standard encoder as before.
- After the model is loaded, its millions of objects are moved out of the garbage collector's
  sight (`gc.freeze`), so a full collection no longer walks them in the middle of a turn.

Rasa modules are patched right after their first import, so a Python started in .venv-rasa
for anything else (pip, a one-line check) does not import Rasa.
"""

from __future__ import annotations

import functools
import gc
import importlib.abc
import importlib.util
import json
import sqlite3
import sys
from collections.abc import Callable
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


def sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    """WAL and synchronous=NORMAL on every SQLite connection of the Rasa process."""
    if isinstance(dbapi_connection, sqlite3.Connection):
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()


def patch_tracker_store(module: Any) -> None:
    """SQLite files get WAL, synchronous=NORMAL and a pool of kept connections."""
    from sqlalchemy import event, pool
    from sqlalchemy.engine import Engine, make_url

    original_kwargs = module.create_engine_kwargs

    @functools.wraps(original_kwargs)
    def create_engine_kwargs(url: Any) -> dict[str, Any]:
        kwargs: dict[str, Any] = original_kwargs(url)
        parsed = make_url(url) if isinstance(url, str) else url
        if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
            # SQLAlchemy 1.4 opens a new connection per session for SQLite files (NullPool).
            kwargs.setdefault("poolclass", pool.QueuePool)
            kwargs.setdefault("connect_args", {})["check_same_thread"] = False
        return kwargs

    module.create_engine_kwargs = create_engine_kwargs
    if not event.contains(Engine, "connect", sqlite_pragmas):
        event.listen(Engine, "connect", sqlite_pragmas)


def patch_events(module: Any) -> None:
    """`Event.resolve_by_type` finds each type name's class once."""
    event_class = module.Event
    original = event_class.resolve_by_type
    found: dict[str, Any] = {}

    def resolve_by_type(type_name: str, default: Any = None) -> Any:
        cls = found.get(type_name)
        if cls is None:
            cls = original(type_name, default)
            if cls is not None and cls is not default:
                found[type_name] = cls
        return cls

    event_class.resolve_by_type = staticmethod(resolve_by_type)


def patch_agent(module: Any) -> None:
    """Freeze what the model load created, so full collections skip it."""
    original = module.load_agent

    @functools.wraps(original)
    async def load_agent(*args: Any, **kwargs: Any) -> Any:
        agent = await original(*args, **kwargs)
        gc.collect()
        gc.freeze()
        return agent

    module.load_agent = load_agent


def fast_dumps(value: Any) -> str:
    """`json.dumps`, by ujson when it can."""
    try:
        import ujson

        return str(ujson.dumps(value, ensure_ascii=False, escape_forward_slashes=False))
    except Exception:  # anything ujson refuses (NaN, odd types): the standard encoder's answer
        return json.dumps(value)


def patch_endpoints(module: Any) -> None:
    """Rasa's HTTP client sessions (action server, NLG) encode request bodies with ujson."""
    import aiohttp

    config = module.EndpointConfig
    original = config.session

    @functools.wraps(original)
    def session(self: Any) -> Any:
        made = original(self)
        if isinstance(made, aiohttp.ClientSession):
            made._json_serialize = fast_dumps
        return made

    config.session = session


PATCHES: dict[str, Callable[[Any], None]] = {
    "rasa.utils.endpoints": patch_endpoints,
    "rasa.core.tracker_store": patch_tracker_store,
    "rasa.shared.core.events": patch_events,
    "rasa.core.agent": patch_agent,
}


class _PatchAfterImport(importlib.abc.MetaPathFinder):
    """Runs a module's patch right after the module's first import."""

    def __init__(self) -> None:
        self.pending = dict(PATCHES)
        self.finding: set[str] = set()

    def find_spec(self, name: str, path: Any, target: Any = None) -> Any:
        if name not in self.pending or name in self.finding:
            return None
        self.finding.add(name)
        try:
            spec = importlib.util.find_spec(name)
        finally:
            self.finding.discard(name)
        if spec is None or spec.loader is None:
            return spec
        patch = self.pending.pop(name)
        loader = spec.loader
        original_exec = loader.exec_module

        def exec_module(module: Any) -> None:
            original_exec(module)
            patch(module)

        loader.exec_module = exec_module  # type: ignore[method-assign]
        return spec


def install() -> None:
    finder = _PatchAfterImport()
    for name in list(finder.pending):
        if name in sys.modules:
            finder.pending.pop(name)(sys.modules[name])
    if finder.pending and not any(type(f).__name__ == "_PatchAfterImport" for f in sys.meta_path):
        sys.meta_path.insert(0, finder)


install()
