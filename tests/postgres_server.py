"""A PostgreSQL server of the tests' own (initdb in a temporary folder, a free port), so that a
chaos test can restart it without disturbing anything else on the machine that uses the
shared server at 127.0.0.1:5432."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

SERVER_OWNER = "postgres"  # initdb refuses to run as root; as root we run it as this user


def bin_dir() -> Path | None:
    """Where initdb and pg_ctl are: on PATH, or the newest /usr/lib/postgresql/*/bin."""
    found = shutil.which("initdb")
    if found and shutil.which("pg_ctl"):
        return Path(os.path.realpath(found)).parent
    candidates = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"),
        key=lambda path: int(Path(path).parent.parent.name.split(".")[0] or 0),
    )
    return Path(candidates[-1]).parent if candidates else None


def unavailable() -> str | None:
    """Why a server of our own cannot be started here, or None when it can."""
    if bin_dir() is None:
        return "PostgreSQL's server programs (initdb, pg_ctl) are not installed"
    if os.geteuid() == 0:
        if shutil.which("runuser") is None:
            return "running as root without runuser, and initdb refuses to run as root"
        try:
            import pwd

            pwd.getpwnam(SERVER_OWNER)
        except KeyError:
            return f"running as root and there is no {SERVER_OWNER!r} user to run initdb as"
    return None


class PostgresServer:
    """initdb, start, restart (the chaos test) and stop, with trust authentication on
    127.0.0.1 only; fsync is off, as nothing here must survive the machine crashing."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.folder = Path(tempfile.mkdtemp(prefix="paincoach-pg-"))
        self.data = self.folder / "data"
        self.log = self.folder / "server.log"
        found = bin_dir()
        assert found is not None, unavailable()
        self.bin = found

    @property
    def url(self) -> str:
        """The admin URL of the server's `postgres` database."""
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, program: str, *args: str) -> None:
        command = [str(self.bin / program), *args]
        if os.geteuid() == 0:
            command = ["runuser", "-u", SERVER_OWNER, "--", *command]
        subprocess.run(command, check=True, capture_output=True, timeout=120)

    def start(self) -> None:
        if os.geteuid() == 0:
            shutil.chown(self.folder, SERVER_OWNER, SERVER_OWNER)
        self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres", "--no-sync")
        self._pg_ctl("start")

    def _pg_ctl(self, action: str, *extra: str) -> None:
        options = (
            f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
        )
        self._run(
            "pg_ctl", "-D", str(self.data), "-l", str(self.log), "-o", options, "-w", *extra, action
        )

    def restart(self, down_seconds: float = 0.0) -> None:
        """Stop (every connection is cut, as by `service postgresql restart`), stay down for
        `down_seconds`, start again."""
        self._pg_ctl("stop", "-m", "fast")
        time.sleep(down_seconds)
        self._pg_ctl("start")

    def stop(self) -> None:
        try:
            self._pg_ctl("stop", "-m", "immediate")
        finally:
            shutil.rmtree(self.folder, ignore_errors=True)
