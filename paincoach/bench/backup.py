"""Backup and restore of a study-sized database: 1,000 participants, 100,000 check-ins and
1,000,000 tracker events (the export benchmark's data), on SQLite and, when it is running, on
PostgreSQL. Run: `.venv/bin/python -m paincoach.bench.backup`."""

from __future__ import annotations

import random
import secrets
import statistics
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError

from paincoach.bench.exports import build_app_database, build_tracker
from paincoach.db.backup import BackupError, backup, restore

RUNS = 3
POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432"


@contextmanager
def postgres_databases(count: int) -> Iterator[list[str]]:
    """New PostgreSQL databases, dropped afterwards."""
    admin = create_engine(f"{POSTGRES}/postgres", isolation_level="AUTOCOMMIT")
    names = [f"paincoach_bench_{secrets.token_hex(4)}" for _ in range(count)]
    with admin.connect() as connection:
        for name in names:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield [f"{POSTGRES}/{name}" for name in names]
    finally:
        from paincoach.db.engine import get_engine

        get_engine.cache_clear()
        with admin.connect() as connection:
            for name in names:
                connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def measure(kind: str, app: str, tracker: str, fresh: tuple[str, str], folder: Path) -> None:
    started = time.perf_counter()
    build_app_database(app, random.Random(8))
    events = build_tracker(tracker, random.Random(8))
    print(f"{kind}: built {events} tracker events in {time.perf_counter() - started:.0f} s")
    seconds = []
    for run in range(RUNS):
        out = folder / f"{kind}-{run}"
        started = time.perf_counter()
        manifest = backup(out, app, tracker)
        seconds.append(time.perf_counter() - started)
    sizes = {c.role: c.size_bytes / 1e6 for c in manifest.databases}
    started = time.perf_counter()
    restore(out, *fresh, force=True)
    restored = time.perf_counter() - started
    print(
        f"{kind}: backup {statistics.median(seconds):.1f} s (range {min(seconds):.1f}-"
        f"{max(seconds):.1f}), app {sizes['app']:.0f} MB, tracker {sizes['tracker']:.0f} MB; "
        f"restore and check {restored:.1f} s"
    )


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="paincoach-bench-") as name:
        folder = Path(name)
        measure(
            "sqlite",
            f"sqlite:///{folder}/paincoach.db",
            f"sqlite:///{folder}/tracker.db",
            (f"sqlite:///{folder}/fresh/paincoach.db", f"sqlite:///{folder}/fresh/tracker.db"),
            folder,
        )
        try:
            create_engine(f"{POSTGRES}/postgres").connect().close()
        except OperationalError:
            print("postgresql: not running at 127.0.0.1:5432, skipped")
            return 0
        try:
            with postgres_databases(4) as (app, tracker, fresh_app, fresh_tracker):
                measure("postgresql", app, tracker, (fresh_app, fresh_tracker), folder)
        except BackupError as error:
            print(f"postgresql: {error}")
            return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
