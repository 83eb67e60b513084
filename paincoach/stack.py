"""Start the Rasa server, the action server, the gateway and the console as supervised child
processes (paincoach/supervisor.py restarts what exits), and stop them."""

from __future__ import annotations

import ipaddress
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import structlog
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from paincoach.db import migrate
from paincoach.settings import PROJECT_ROOT, VAR_DIR, Settings, secret_or_generated
from paincoach.standin.server import DEFAULT_TOKEN
from paincoach.supervisor import Child, Supervisor, exit_reason

log = structlog.get_logger("paincoach.stack")
RASA = PROJECT_ROOT / ".venv-rasa" / "bin" / "rasa"
MODEL = PROJECT_ROOT / "models" / "paincoach.tar.gz"
STANDIN_TOKEN = DEFAULT_TOKEN


class StackError(RuntimeError):
    """A service could not start; the message says which and where its log is."""


def rasa_token(settings: Settings) -> str:
    """The API token: from RASA_TOKEN, or generated once into var/rasa_token."""
    return secret_or_generated(settings.rasa_token, settings.rasa_token_file)


def is_loopback(host: str) -> bool:
    """True for an interface only this machine can reach (127.0.0.0/8, ::1, localhost)."""
    host = host.strip().strip("[]").lower()
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a host name other than localhost may be reachable from anywhere


def check_service_secret(settings: Settings) -> None:
    """Off loopback, Rasa's REST channel and the action server must check a shared secret."""
    if settings.service_secret or is_loopback(settings.bind_host):
        return
    raise StackError(
        f"BIND_HOST={settings.bind_host} is not a loopback address, so anyone who can reach "
        "Rasa could chat as any patient and call any action. Set SERVICE_SECRET to a long "
        "random string (the same on every machine), e.g. the output of "
        "`python3 -c 'import secrets; print(secrets.token_urlsafe(32))'`."
    )


def ensure_postgres_database(url: str) -> None:
    """Create the PostgreSQL database named in `url` if it does not exist yet."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "postgresql" or not parsed.database:
        return
    admin = parsed.set(drivername="postgresql+psycopg", database="postgres")
    engine = create_engine(admin, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            exists = connection.scalar(
                text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": parsed.database}
            )
            if not exists:
                connection.execute(text(f'CREATE DATABASE "{parsed.database}"'))
    finally:
        engine.dispose()


def lock_store_environment(url: str) -> dict[str, str]:
    """The LOCK_STORE_* variables endpoints.yml reads, from a redis:// URL or nothing."""
    if not url:
        return {"LOCK_STORE_TYPE": "in_memory", "LOCK_STORE_HOST": "", "LOCK_STORE_PORT": "0",
                "LOCK_STORE_DB": "0"}  # fmt: skip
    parsed = make_url(url)
    return {
        "LOCK_STORE_TYPE": "redis",
        "LOCK_STORE_HOST": parsed.host or "127.0.0.1",
        "LOCK_STORE_PORT": str(parsed.port or 6379),
        "LOCK_STORE_DB": (parsed.database or "1"),
    }


@dataclass
class Stack:
    """Rasa and the action server, on 127.0.0.1, logging to `log_dir`."""

    settings: Settings
    model: Path = MODEL
    log_dir: Path = VAR_DIR / "log"
    telegram: bool = False  # also the gateway, and the Bot API stand-in when there is no token
    standin_port: int = 8081
    run_dir: Path | None = None  # the state file and the scheduler's tick; log_dir/../run
    supervisor: Supervisor = field(init=False)

    def __post_init__(self) -> None:
        self.supervisor = Supervisor(
            max_restarts=self.settings.supervisor_max_restarts,
            window_seconds=self.settings.supervisor_window_seconds,
            state_file=self.state_dir / "status.json",
        )

    @property
    def processes(self) -> dict[str, subprocess.Popen[bytes]]:
        """The running child processes by service name (the latest of each, after restarts)."""
        return {
            name: child.process
            for name, child in self.supervisor.children.items()
            if child.process is not None
        }

    @property
    def state_dir(self) -> Path:
        return self.run_dir or self.log_dir.parent / "run"

    @property
    def tick_file(self) -> Path:
        """Touched by the gateway's scheduler after every tick (`paincoach status` reads it)."""
        return self.state_dir / "scheduler.tick"

    @property
    def uses_standin(self) -> bool:
        return self.telegram and not self.settings.telegram_bot_token

    @property
    def standin_url(self) -> str:
        return f"http://127.0.0.1:{self.standin_port}"

    @property
    def ready_file(self) -> Path:
        return self.log_dir / "gateway.ready"

    @property
    def rasa_urls(self) -> list[str]:
        host, port = self.settings.bind_host, self.settings.rasa_port
        return [f"http://{host}:{port + n}" for n in range(self.settings.rasa_replicas)]

    @property
    def rasa_url(self) -> str:
        """All replicas, comma-separated, as RasaClient and RASA_URL take them."""
        return ",".join(self.rasa_urls)

    @property
    def token(self) -> str:
        return rasa_token(self.settings)

    def environment(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            ACTION_ENDPOINT_URL=(f"http://127.0.0.1:{self.settings.action_server_port}/webhook"),
            TRACKER_STORE_URL=self.settings.tracker_store_url,
            **lock_store_environment(self.settings.lock_store_url),
            DATABASE_URL=self.settings.database_url,
            SANIC_HOST=self.settings.bind_host,
            SERVICE_SECRET=self.settings.service_secret,  # endpoints.yml, credentials.yml
            SQLALCHEMY_SILENCE_UBER_WARNING="1",
            TF_CPP_MIN_LOG_LEVEL="2",
            PYTHONWARNINGS="ignore",
            # Health data: Rasa's usage telemetry stays off wherever the stack runs.
            RASA_TELEMETRY_ENABLED="false",
        )
        return env

    def start(self, timeout: float = 180.0) -> None:
        check_service_secret(self.settings)
        if not self.model.exists():
            raise StackError(f"No trained model at {self.model}. Run `make train` first.")
        if self.telegram and not self.settings.safety_model_path.exists():
            raise StackError(
                f"No risk model at {self.settings.safety_model_path}. Run `make train` first."
            )
        if not RASA.exists():
            raise StackError("Rasa is not installed in .venv-rasa. Run `make setup` first.")
        if self.settings.rasa_replicas > 1 and (
            not self.settings.lock_store_url
            or make_url(self.settings.tracker_store_url).get_backend_name() != "postgresql"
        ):
            raise StackError(
                "RASA_REPLICAS > 1 needs LOCK_STORE_URL=redis://... and a postgresql:// "
                "TRACKER_STORE_URL, so the replicas share conversations safely."
            )
        ensure_postgres_database(self.settings.database_url)
        ensure_postgres_database(self.settings.tracker_store_url)
        migrate.upgrade(self.settings.database_url)  # migrations are applied on every start
        self.log_dir.mkdir(parents=True, exist_ok=True)
        port = str(self.settings.action_server_port)
        self._spawn(
            "actions",
            [sys.executable, "-m", "actions", "--actions", "actions", "--port", port],
            health_url=self.actions_health_url,
        )
        for replica, url in enumerate(self.rasa_urls):
            self._spawn(
                f"rasa{replica or ''}",
                [
                    str(RASA), "run", "--enable-api", "--auth-token", self.token,
                    "--interface", self.settings.bind_host,
                    "--port", url.rsplit(":", 1)[1], "--model", str(self.model),
                    "--endpoints", "endpoints.yml", "--credentials", "credentials.yml",
                    "--log-file", str(self.log_dir / f"rasa{replica or ''}.log"),
                ],
                health_url=f"{url}/version",  # answers once the model is loaded; no token
            )  # fmt: skip
        if self.telegram:
            self._spawn(
                "console",
                [sys.executable, "-m", "paincoach.cli", "console"],
                self._console_env(),
                health_url=f"{self.console_url}/healthz",
            )
        try:
            self._wait_until_ready(timeout)
            if self.telegram:
                self._start_gateway(timeout)
                self._wait_for("console", f"{self.console_url}/healthz", timeout)
                log.info("service ready", service="console")
        except BaseException:
            self.stop()
            raise
        self.supervisor.watch()  # from now on, a child that exits is started again

    @property
    def console_url(self) -> str:
        """Where the console listens (PUBLIC_CONSOLE_URL may name a proxy in front of it)."""
        host = self.settings.console_host
        if host in ("0.0.0.0", "::"):
            host = "127.0.0.1"
        return f"http://{host}:{self.settings.console_port}"

    def _console_env(self) -> dict[str, str]:
        """The console's own settings, and the Bot API it asks for the bot's username."""
        env = {
            "CONSOLE_HOST": self.settings.console_host,
            "CONSOLE_PORT": str(self.settings.console_port),
            "PUBLIC_CONSOLE_URL": self.settings.public_console_url,
        }
        if self.settings.console_secret_key:
            env["CONSOLE_SECRET_KEY"] = self.settings.console_secret_key
        if self.uses_standin:
            env.update(
                TELEGRAM_BOT_TOKEN=STANDIN_TOKEN,
                TELEGRAM_API_BASE_URL=f"{self.standin_url}/bot",
                TELEGRAM_API_BASE_FILE_URL=f"{self.standin_url}/file/bot",
            )
        return env

    def _start_gateway(self, timeout: float) -> None:
        env: dict[str, str] = {"RASA_URL": self.rasa_url, "RASA_TOKEN": self.token}
        if self.uses_standin:
            self._spawn(
                "standin",
                [sys.executable, "-m", "paincoach.standin", "--port", str(self.standin_port),
                 "--token", STANDIN_TOKEN],
                health_url=f"{self.standin_url}/control/state",
            )  # fmt: skip
            self._wait_for("standin", f"{self.standin_url}/control/state", timeout)
            env.update(
                TELEGRAM_BOT_TOKEN=STANDIN_TOKEN,
                TELEGRAM_API_BASE_URL=f"{self.standin_url}/bot",
                TELEGRAM_API_BASE_FILE_URL=f"{self.standin_url}/file/bot",
            )
        self.ready_file.unlink(missing_ok=True)
        env["PAINCOACH_READY_FILE"] = str(self.ready_file)
        env["PAINCOACH_TICK_FILE"] = str(self.tick_file)
        self._spawn("gateway", [sys.executable, "-m", "paincoach.cli", "gateway"], env)
        deadline = time.monotonic() + timeout
        while not self.ready_file.exists():
            self._check_alive("gateway")
            if time.monotonic() > deadline:
                raise StackError(f"gateway not ready after {timeout:.0f} s")
            time.sleep(0.2)
        log.info("service ready", service="gateway")

    def _wait_for(self, name: str, url: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            self._check_alive(name)
            try:
                if httpx.get(url, timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise StackError(f"{name} not ready after {timeout:.0f} s")
            time.sleep(0.2)

    def _check_alive(self, name: str) -> None:
        process = self.processes[name]
        if process.poll() is not None:
            raise StackError(
                f"{name} {exit_reason(process.returncode)}; see {self.log_dir / (name + '.out')}"
            )

    def _spawn(
        self,
        name: str,
        command: list[str],
        extra_env: dict[str, str] | None = None,
        health_url: str | None = None,
    ) -> None:
        self.supervisor.start(
            Child(
                name,
                command,
                env={**self.environment(), **(extra_env or {})},
                log_path=self.log_dir / f"{name}.out",
                cwd=PROJECT_ROOT,
                health_url=health_url,
            )
        )

    @property
    def actions_health_url(self) -> str:
        return f"http://127.0.0.1:{self.settings.action_server_port}/health"

    def _wait_until_ready(self, timeout: float) -> None:
        checks = {
            "actions": self.actions_health_url,
            **{
                f"rasa{replica or ''}": f"{url}/status?token={self.token}"
                for replica, url in enumerate(self.rasa_urls)
            },
        }
        deadline = time.monotonic() + timeout
        for name, url in checks.items():  # all are starting at once; wait for each in turn
            self._wait_for(name, url, max(deadline - time.monotonic(), 1.0))
            log.info("service ready", service=name)

    def stop(self) -> None:
        """Stop supervising; SIGTERM every child, newest first, SIGKILL what runs after 15 s."""
        self.supervisor.stop()

    def __enter__(self) -> Stack:
        self.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()
