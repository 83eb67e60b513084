"""Consistent copies of the app database and Rasa's tracker store, taken while the stack runs,
and putting them back.

SQLite is copied with its online backup API (one step, so the copy is one moment of the
database even while the gateway writes); PostgreSQL with `pg_dump --format=custom`, run in
a snapshot exported from the transaction that also counts the rows, so the counts in the
manifest are exactly what the dump holds. The two databases are copied one after the other:
each is consistent in itself, not with the other at one instant.

A backup is a folder: one file per database and `manifest.json` (when, what kind, the
Alembic revision, rows per table, size and SHA-256 of each file). It appears complete or not
at all: it is written under a temporary name and renamed at the end.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from glob import glob
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from sqlalchemy import Connection, create_engine, inspect, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import SQLAlchemyError

from paincoach.db.engine import make_engine

MANIFEST = "manifest.json"
FORMAT = 1
# Which setting names each database, for messages.
VARIABLES = {"app": "DATABASE_URL", "tracker": "TRACKER_STORE_URL"}
# Where PostgreSQL's client tools live when they are not on PATH, newest version first.
PG_TOOL_DIRS = (
    "/usr/lib/postgresql/*/bin",  # Debian, Ubuntu
    "/usr/pgsql-*/bin",  # RHEL, Fedora (PGDG)
    "/opt/homebrew/opt/postgresql*/bin",  # macOS, Homebrew
    "/usr/local/opt/postgresql*/bin",
)


class BackupError(RuntimeError):
    """A backup or restore could not be done; the message says why, in one line."""


@dataclass
class DatabaseCopy:
    """One database in a backup."""

    role: str  # "app" or "tracker"
    kind: str  # "sqlite" or "postgresql"
    file: str
    taken_at: str
    seconds: float
    size_bytes: int
    sha256: str
    alembic_revision: str | None
    tables: dict[str, int]


@dataclass
class Manifest:
    created_at: str
    paincoach_version: str
    databases: list[DatabaseCopy] = field(default_factory=list)
    format: int = FORMAT

    def copy(self, role: str) -> DatabaseCopy | None:
        return next((c for c in self.databases if c.role == role), None)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2) + "\n"

    @classmethod
    def from_json(cls, raw: str) -> Manifest:
        data = json.loads(raw)
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise ValueError(f"not a format-{FORMAT} PainCoach backup manifest")
        databases = [DatabaseCopy(**entry) for entry in data["databases"]]
        if not databases or any(c.role not in VARIABLES for c in databases):
            raise ValueError("it lists no database, or one that is neither app nor tracker")
        return cls(data["created_at"], data["paincoach_version"], databases)


# Taking a backup ------------------------------------------------------------------------


def backup(out: Path, app_url: str, tracker_url: str, pg_bin_dir: str = "") -> Manifest:
    """Copy both databases into the new folder `out`; return what was written."""
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise BackupError(f"{out} already exists and is not an empty folder; choose a new one.")
    partial = out.with_name(f".{out.name}.partial")
    shutil.rmtree(partial, ignore_errors=True)
    try:
        partial.mkdir(parents=True, mode=0o700)  # health data: the owner only
    except OSError as error:
        raise BackupError(f"Cannot create {out}: {error.strerror or error}.") from None
    try:
        urls = {"app": app_url, "tracker": tracker_url}
        if _same_database(app_url, tracker_url):
            del urls["tracker"]  # one database holds both: one copy
        manifest = Manifest(_now(), _version())
        for role, url in urls.items():
            manifest.databases.append(_backup_one(role, url, partial, pg_bin_dir))
        (partial / MANIFEST).write_text(manifest.to_json())
        (partial / MANIFEST).chmod(0o600)
        if out.exists():
            out.rmdir()
        partial.rename(out)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    return manifest


def _backup_one(role: str, url: str, folder: Path, pg_bin_dir: str) -> DatabaseCopy:
    started, taken_at = time.monotonic(), _now()
    kind = _kind(role, url)
    if kind == "sqlite":
        path = folder / f"{role}.sqlite3"
        tables, revision = _backup_sqlite(role, url, path)
    else:
        path = folder / f"{role}.pgdump"
        tables, revision = _backup_postgres(role, url, path, pg_bin_dir)
    path.chmod(0o600)
    return DatabaseCopy(
        role=role,
        kind=kind,
        file=path.name,
        taken_at=taken_at,
        seconds=round(time.monotonic() - started, 3),
        size_bytes=path.stat().st_size,
        sha256=_sha256(path),
        alembic_revision=revision,
        tables=tables,
    )


def _backup_sqlite(role: str, url: str, path: Path) -> tuple[dict[str, int], str | None]:
    source_path = _sqlite_path(role, url)
    if not source_path.exists():
        raise BackupError(f"{VARIABLES[role]} names {source_path}, which does not exist.")
    with _sqlite(source_path) as source, _sqlite(path) as copy:
        try:
            source.backup(copy)  # all pages in one step: one moment of the database
        except sqlite3.Error as error:
            raise BackupError(f"Cannot copy {source_path}: {error}.") from None
        copy.execute("PRAGMA journal_mode=DELETE")  # the copy is one self-contained file
        return _sqlite_tables(copy), _sqlite_revision(copy)


def _backup_postgres(
    role: str, url: str, path: Path, pg_bin_dir: str
) -> tuple[dict[str, int], str | None]:
    pg_dump = find_pg_tool("pg_dump", pg_bin_dir)
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            connection = connection.execution_options(isolation_level="REPEATABLE READ")
            with connection.begin():
                # pg_dump reads the very snapshot the counts below are taken in.
                snapshot = connection.scalar(text("SELECT pg_export_snapshot()"))
                tables, revision = _sql_tables(connection), _sql_revision(connection)
                _run(
                    [str(pg_dump), "--format=custom", f"--snapshot={snapshot}",
                     "--file", str(path), "--dbname", _libpq_url(url)],
                    url, f"pg_dump of the {role} database",
                )  # fmt: skip
    except SQLAlchemyError as error:
        raise BackupError(f"Cannot read the database at {VARIABLES[role]}: {_why(error)}") from None
    finally:
        engine.dispose()
    return tables, revision


# Putting a backup back ------------------------------------------------------------------


def read_backup(folder: Path) -> Manifest:
    """The manifest of the backup in `folder`, after checking every file against it."""
    if not folder.is_dir():
        raise BackupError(f"There is no backup at {folder} (no such folder).")
    manifest_path = folder / MANIFEST
    if not manifest_path.is_file():
        raise BackupError(f"{folder} holds no {MANIFEST}: it is not a PainCoach backup.")
    try:
        manifest = Manifest.from_json(manifest_path.read_text())
    except (ValueError, KeyError, TypeError) as error:
        raise BackupError(f"{manifest_path} is damaged and cannot be read ({error}).") from None
    for copy in manifest.databases:
        path = folder / copy.file
        if Path(copy.file).name != copy.file or not path.is_file():
            raise BackupError(f"The backup in {folder} is incomplete: {copy.file} is missing.")
        if path.stat().st_size != copy.size_bytes or _sha256(path) != copy.sha256:
            raise BackupError(
                f"The backup in {folder} is damaged: {copy.file} does not match the checksum "
                "in its manifest."
            )
    return manifest


def restore(
    folder: Path, app_url: str, tracker_url: str, force: bool = False, pg_bin_dir: str = ""
) -> Manifest:
    """Put the backup in `folder` into the two databases; refuses non-empty targets unless
    `force`. Checks afterwards that every table has the rows the manifest counted."""
    manifest = read_backup(folder)
    targets = {"app": app_url, "tracker": tracker_url}
    if manifest.copy("tracker") is None and not _same_database(app_url, tracker_url):
        raise BackupError(
            "This backup holds the tracker store inside the app database; set "
            "TRACKER_STORE_URL to the same URL as DATABASE_URL to restore it."
        )
    for copy in manifest.databases:  # check every target before changing any
        role, url = copy.role, targets[copy.role]
        if _kind(role, url) != copy.kind:
            raise BackupError(
                f"The backup holds a {copy.kind} copy of the {role} database, but "
                f"{VARIABLES[role]} is a {_kind(role, url)} URL; restore into a {copy.kind} one."
            )
        if not force and not _is_empty(role, url):
            raise BackupError(
                f"The database at {VARIABLES[role]} is not empty. Stop the stack and add "
                "--force to replace it with the backup."
            )
    for copy in manifest.databases:
        url, path = targets[copy.role], folder / copy.file
        if copy.kind == "sqlite":
            _restore_sqlite(copy.role, path, url)
        else:
            _restore_postgres(copy.role, path, url, pg_bin_dir)
        found = table_counts(url)
        if found != copy.tables:
            differ = sorted(t for t in {*found, *copy.tables} if found.get(t) != copy.tables.get(t))
            raise BackupError(
                f"The {copy.role} database was restored but does not match the manifest "
                f"(tables {', '.join(differ[:5])}); do not use it."
            )
    return manifest


def _restore_sqlite(role: str, backup_file: Path, url: str) -> None:
    target = _sqlite_path(role, url)
    target.parent.mkdir(parents=True, exist_ok=True)
    with _sqlite(backup_file) as source, _sqlite(target) as destination:
        try:
            # Page by page into the target under its own locks: safe for its -wal file too.
            source.backup(destination)
        except sqlite3.Error as error:
            raise BackupError(f"Cannot write {target}: {error}.") from None


def _restore_postgres(role: str, dump: Path, url: str, pg_bin_dir: str) -> None:
    pg_restore = find_pg_tool("pg_restore", pg_bin_dir)
    try:
        empty = not table_counts(url)
    except BackupError:
        empty = False  # not there yet (or unreachable, which recreating will say)
    if not empty:  # an empty database is used as it is: no CREATEDB right needed
        _recreate_postgres_database(role, url)
    _run(
        [str(pg_restore), "--no-owner", "--no-privileges", "--exit-on-error",
         "--single-transaction", "--dbname", _libpq_url(url), str(dump)],
        url, f"pg_restore of the {role} database",
    )  # fmt: skip


def _recreate_postgres_database(role: str, url: str) -> None:
    """An empty database under the name in `url` (dropped first, with its connections)."""
    parsed = make_url(url)
    name = parsed.database
    if not name:
        raise BackupError(f"{VARIABLES[role]} names no database.")
    admin = create_engine(
        parsed.set(drivername="postgresql+psycopg", database="postgres"),
        isolation_level="AUTOCOMMIT",
    )
    quoted = '"' + name.replace('"', '""') + '"'
    try:
        with admin.connect() as connection:
            connection.execute(text(f"DROP DATABASE IF EXISTS {quoted} WITH (FORCE)"))
            connection.execute(text(f"CREATE DATABASE {quoted}"))
    except SQLAlchemyError as error:
        raise BackupError(
            f"Cannot recreate the database at {VARIABLES[role]}: {_why(error)}"
        ) from None
    finally:
        admin.dispose()


def _is_empty(role: str, url: str) -> bool:
    if _kind(role, url) == "sqlite":
        path = _sqlite_path(role, url)
        return not path.exists() or path.stat().st_size == 0 or not table_counts(url)
    try:
        return not table_counts(url)
    except BackupError:
        return True  # the database does not exist yet: restore creates it


# Reading databases ----------------------------------------------------------------------


def table_counts(url: str) -> dict[str, int]:
    """Rows per table (SQLite's own tables left out)."""
    if make_url(url).get_backend_name() == "sqlite":
        path = Path(make_url(url).database or "")
        with _sqlite(path) as connection:
            return _sqlite_tables(connection)
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            return _sql_tables(connection)
    except SQLAlchemyError as error:
        raise BackupError(f"Cannot read the database: {_why(error)}") from None
    finally:
        engine.dispose()


def _sqlite_tables(connection: sqlite3.Connection) -> dict[str, int]:
    names = [
        row[0]
        for row in connection.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' "
            "ORDER BY name"
        )
    ]
    return {name: _sqlite_count(connection, name) for name in names}


def _sqlite_count(connection: sqlite3.Connection, table: str) -> int:
    quoted = '"' + table.replace('"', '""') + '"'
    return int(connection.execute(f"SELECT count(*) FROM {quoted}").fetchone()[0])


def _sqlite_revision(connection: sqlite3.Connection) -> str | None:
    try:
        row = connection.execute("SELECT version_num FROM alembic_version").fetchone()
    except sqlite3.OperationalError:
        return None  # not an Alembic database (Rasa's tracker store)
    return str(row[0]) if row else None


def _sql_tables(connection: Connection) -> dict[str, int]:
    preparer = connection.dialect.identifier_preparer
    return {
        name: int(connection.scalar(text(f"SELECT count(*) FROM {preparer.quote(name)}")) or 0)
        for name in sorted(inspect(connection).get_table_names())
    }


def _sql_revision(connection: Connection) -> str | None:
    if "alembic_version" not in inspect(connection).get_table_names():
        return None
    return connection.scalar(text("SELECT version_num FROM alembic_version"))


@contextlib.contextmanager
def _sqlite(path: Path) -> Iterator[sqlite3.Connection]:
    try:
        connection = sqlite3.connect(path, timeout=30)
    except sqlite3.Error as error:
        raise BackupError(f"Cannot open {path}: {error}.") from None
    try:
        yield connection
    except sqlite3.DatabaseError as error:
        raise BackupError(f"{path} is not a usable SQLite database ({error}).") from None
    finally:
        connection.close()


# Helpers --------------------------------------------------------------------------------


def find_pg_tool(name: str, pg_bin_dir: str = "") -> Path:
    """PostgreSQL's `pg_dump` or `pg_restore`: from PG_BIN_DIR, PATH, or where packages put it."""
    if pg_bin_dir:
        candidate = Path(pg_bin_dir) / name
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
        raise BackupError(f"PG_BIN_DIR is {pg_bin_dir}, but there is no {name} in it.")
    on_path = shutil.which(name)
    if on_path:
        return Path(on_path)
    for pattern in PG_TOOL_DIRS:
        for folder in sorted(glob(pattern), key=_version_key, reverse=True):
            candidate = Path(folder) / name
            if candidate.is_file() and os.access(candidate, os.X_OK):
                return candidate
    raise BackupError(
        f"{name} is not installed (looked on PATH and in {', '.join(PG_TOOL_DIRS[:2])}). "
        "Install PostgreSQL's client tools (Debian, Ubuntu: `apt install postgresql-client`), "
        f"or set PG_BIN_DIR to the folder that holds {name}."
    )


def _version_key(folder: str) -> tuple[int, ...]:
    digits = "".join(c if c.isdigit() else " " for c in folder).split()
    return tuple(int(d) for d in digits)


def _run(command: list[str], url: str, what: str) -> None:
    """Run a PostgreSQL tool with the password in its environment, never on its command line."""
    env = dict(os.environ)
    password = make_url(url).password
    if password:
        env["PGPASSWORD"] = str(password)
    try:
        result = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    except OSError as error:
        raise BackupError(f"Cannot run {command[0]}: {error.strerror or error}.") from None
    if result.returncode != 0:
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        raise BackupError(f"{what} failed: {lines[0] if lines else f'exit {result.returncode}'}")


def _libpq_url(url: str) -> str:
    """The URL as libpq reads it: no SQLAlchemy driver name, no password (see _run)."""
    parsed: URL = make_url(url).set(drivername="postgresql", password=None)
    return parsed.render_as_string(hide_password=False)


def _kind(role: str, url: str) -> str:
    backend = make_url(url).get_backend_name()
    if backend not in ("sqlite", "postgresql"):
        raise BackupError(f"{VARIABLES[role]} is a {backend} URL; backups support SQLite and "
                          "PostgreSQL.")  # fmt: skip
    return backend


def _sqlite_path(role: str, url: str) -> Path:
    database = make_url(url).database
    if not database or database == ":memory:":
        raise BackupError(f"{VARIABLES[role]} names no SQLite file.")
    return Path(database)


def _same_database(first: str, second: str) -> bool:
    a, b = make_url(first), make_url(second)
    if a.get_backend_name() == "sqlite" and b.get_backend_name() == "sqlite":
        return Path(a.database or "").resolve() == Path(b.database or "").resolve()
    keys = ("host", "port", "database")
    return a.get_backend_name() == b.get_backend_name() and all(
        getattr(a, k) == getattr(b, k) for k in keys
    )


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for chunk in iter(lambda: stream.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _why(error: SQLAlchemyError) -> str:
    return str(getattr(error, "orig", None) or error).strip().splitlines()[0]


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _version() -> str:
    try:
        return version("paincoach")
    except PackageNotFoundError:
        return "unknown"


def describe(manifest: Manifest, folder: Path) -> list[str]:
    """One line per database, for the command line."""
    lines = []
    for copy in manifest.databases:
        rows = sum(copy.tables.values())
        revision = f", Alembic revision {copy.alembic_revision}" if copy.alembic_revision else ""
        lines.append(
            f"{copy.role:<8} {copy.kind:<10} {folder / copy.file}  {_size(copy.size_bytes)}, "
            f"{len(copy.tables)} tables, {rows} rows{revision}, taken {copy.taken_at} "
            f"in {copy.seconds:.1f} s"
        )
    return lines


def _size(count: int) -> str:
    amount = float(count)
    for unit in ("B", "kB", "MB", "GB"):
        if amount < 1000 or unit == "GB":
            return f"{amount:.0f} {unit}" if unit == "B" else f"{amount:.1f} {unit}"
        amount /= 1000
    return f"{count} B"


def prune(folder: Path, keep: int) -> list[Path]:
    """Delete all but the newest `keep` backups in `folder`; other folders are left alone."""
    backups = []
    for candidate in folder.iterdir() if folder.is_dir() else []:
        try:
            manifest = Manifest.from_json((candidate / MANIFEST).read_text())
        except (OSError, ValueError, KeyError, TypeError):
            continue  # not a backup of ours (or a damaged one): never deleted here
        backups.append((manifest.created_at, candidate))
    backups.sort(reverse=True)
    removed = [path for _, path in backups[keep:]]
    for path in removed:
        shutil.rmtree(path)
    return removed
